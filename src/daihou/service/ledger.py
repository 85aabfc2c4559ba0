"""Ledger use cases: book a loan, post payments and prepayments, waive, charge, reverse.

Every use case returns an `Outcome` whose `code` is "accepted", "duplicate" or a rejection code
(`daihou.domain.servicing.Code`, plus the few below). Money moves only on "accepted". The CLI, API
and web map codes to exit codes, HTTP statuses and messages in one place each.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from daihou.domain.booking import book
from daihou.domain.journal import EntryKind
from daihou.domain.loan import Installment, Loan, LoanStatus, Part
from daihou.domain.money import yuan_text
from daihou.domain.restructuring import Restructure
from daihou.domain.servicing import (
    Applied,
    Charge,
    Code,
    Event,
    Payment,
    Prepayment,
    Rejected,
    Waiver,
    apply,
    restate,
)
from daihou.domain.writeoff import WriteOff
from daihou.service.commands import BookLoan
from daihou.service.ports import LoanInfo, NewTransaction, UnitOfWork

ACCEPTED = "accepted"
DUPLICATE = "duplicate"
REFERENCE_CONFLICT = "reference_conflict"
DUPLICATE_LOAN = "duplicate_loan"
UNKNOWN_PRODUCT = "unknown_product"
UNKNOWN_BORROWER = "unknown_borrower"
INVALID_TERMS = "invalid_terms"


@dataclass(frozen=True, slots=True)
class Outcome:
    code: str
    message: str
    loan_no: str = ""
    reference: str = ""
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.code in (ACCEPTED, DUPLICATE)


def _rejected(r: Rejected, loan_no: str, reference: str = "") -> Outcome:
    return Outcome(r.code.value, r.message, loan_no, reference)


# ---------------------------------------------------------------- booking


def book_loan(uow: UnitOfWork, cmd: BookLoan) -> Outcome:
    with uow:
        outcome = book_loan_in(uow, cmd)
        if outcome.code == ACCEPTED:
            uow.commit()
        return outcome


def book_loan_in(uow: UnitOfWork, cmd: BookLoan) -> Outcome:
    """Book inside an open unit of work (imports book many loans in one transaction)."""
    if uow.loans.existing([cmd.loan_no]):
        return Outcome(DUPLICATE_LOAN, f"loan {cmd.loan_no} already exists", cmd.loan_no)
    product = uow.products.get(cmd.product_code)
    if product is None:
        return Outcome(UNKNOWN_PRODUCT, f"product {cmd.product_code} does not exist", cmd.loan_no)
    if uow.borrowers.get(cmd.borrower_no) is None:
        return Outcome(UNKNOWN_BORROWER, f"borrower {cmd.borrower_no} does not exist", cmd.loan_no)
    if cmd.method is not None and cmd.method is not product.method:
        product = replace(product, method=cmd.method)
    try:
        booked = book(
            product,
            cmd.loan_no,
            cmd.principal_fen,
            cmd.rate_annual,
            cmd.periods,
            cmd.disbursed_on,
            cmd.first_due_on,
            cmd.penalty_rate_annual,
        )
    except ValueError as exc:
        return Outcome(INVALID_TERMS, str(exc), cmd.loan_no)
    info = LoanInfo(cmd.loan_no, cmd.borrower_no, product.code, cmd.officer, cmd.purpose, cmd.contract_no)
    uow.loans.add(booked.loan, info)
    txn = uow.transactions.add(
        cmd.loan_no,
        NewTransaction("disbursement", f"DISB:{cmd.loan_no}", cmd.disbursed_on, cmd.principal_fen),
    )
    uow.journal.add(cmd.loan_no, [booked.entry], txn)
    findings = [{"code": f.code, "message": f.message} for f in booked.findings]
    return Outcome(ACCEPTED, f"loan {cmd.loan_no} booked", cmd.loan_no, detail={"cap_findings": findings})


# ---------------------------------------------------------------- money-moving events


def post_payment(uow: UnitOfWork, loan_no: str, amount_fen: int, on: date, reference: str) -> Outcome:
    """Post a repayment. Idempotent on `reference`: a replay returns the first result, moves nothing."""
    return _post(uow, loan_no, Payment(on, amount_fen, reference))


def prepay(uow: UnitOfWork, loan_no: str, event: Prepayment) -> Outcome:
    return _post(uow, loan_no, event)


def waive(uow: UnitOfWork, loan_no: str, event: Waiver) -> Outcome:
    return _post(uow, loan_no, event)


def charge(uow: UnitOfWork, loan_no: str, event: Charge) -> Outcome:
    return _post(uow, loan_no, event)


_KIND = {
    Payment: "payment",
    Prepayment: "prepayment",
    Waiver: "waiver",
    Charge: "charge",
    Restructure: "restructure",
    WriteOff: "write_off",
}
# Undone only by a new approved request (service.restructuring), never by a plain reversal.
NOT_REVERSIBLE_KINDS = frozenset({"restructure", "write_off"})


def _post(uow: UnitOfWork, loan_no: str, event: Event) -> Outcome:
    with uow:
        outcome = post_in(uow, loan_no, event)
        if outcome.code == ACCEPTED:
            uow.commit()
        return outcome


def post_in(uow: UnitOfWork, loan_no: str, event: Event) -> Outcome:
    """Post one event inside an open unit of work (imports post many)."""
    seen = uow.transactions.by_reference(event.reference)
    if seen is not None:
        if seen.loan_no != loan_no or seen.kind != _KIND[type(event)]:
            return Outcome(
                REFERENCE_CONFLICT,
                f"reference {event.reference} was used for {seen.kind} on loan {seen.loan_no}",
                loan_no,
                event.reference,
            )
        return Outcome(
            DUPLICATE,
            f"reference {event.reference} was already posted; nothing moved",
            loan_no,
            event.reference,
            json.loads(seen.result),
        )
    loan = uow.loans.get(loan_no)
    if loan is None:
        return Outcome("loan_not_found", f"loan {loan_no} does not exist", loan_no, event.reference)
    assert loan.accrued_through is not None
    if event.on > loan.accrued_through:
        result = apply(loan, event)
        if isinstance(result, Rejected):
            return _rejected(result, loan_no, event.reference)
        applied, entries = result, result.entries
    else:  # back-valued: replay the history with the event in its place
        history = [e for _, e in uow.loans.events(loan_no)]
        position = sum(1 for e in history if e.on <= event.on)
        events = [*history[:position], event, *history[position:]]
        replayed, entry = restate(
            loan,
            uow.loans.opening(loan_no),
            events,
            _ENTRY[type(event)],
            event.on,
            f"{event.reference} (back-valued)",
        )
        mine = replayed.results[position]
        if isinstance(mine, Rejected):
            return _rejected(mine, loan_no, event.reference)
        if problem := _broken_history(replayed.results, events):
            return Outcome(problem.code.value, problem.message, loan_no, event.reference)
        applied = Applied(replayed.loan, (), mine.parts, replayed.loan.credit_fen, mine.paid_off)
        entries = (entry,) if entry else ()
    detail = _detail(applied)
    txn = uow.transactions.add(loan_no, _new_transaction(event, json.dumps(detail)))
    uow.journal.add(loan_no, entries, txn)
    _save(uow, loan, applied.loan, _KIND[type(event)], event.on)
    return Outcome(ACCEPTED, _message(event, applied), loan_no, event.reference, detail)


_ENTRY = {
    Payment: EntryKind.PAYMENT,
    Prepayment: EntryKind.PREPAYMENT,
    Waiver: EntryKind.WAIVER,
    Charge: EntryKind.CHARGE,
    Restructure: EntryKind.RESTRUCTURE,
    WriteOff: EntryKind.WRITE_OFF,
}


def reverse(uow: UnitOfWork, reference: str, on: date, reason: str = "") -> Outcome:
    """Reverse a posted payment, prepayment, waiver or charge as a new entry; history is replayed."""
    with uow:
        txn = uow.transactions.by_reference(reference)
        if txn is None:
            return Outcome("transaction_not_found", f"no transaction with reference {reference}", reference=reference)
        if txn.reversed:
            return Outcome("already_reversed", f"{reference} is already reversed", txn.loan_no, reference)
        if txn.kind not in _KIND.values() or txn.kind in NOT_REVERSIBLE_KINDS:
            return Outcome("not_reversible", f"a {txn.kind} cannot be reversed", txn.loan_no, reference)
        loan = uow.loans.get(txn.loan_no)
        assert loan is not None
        events = [e for txn_id, e in uow.loans.events(txn.loan_no) if txn_id != txn.id]
        replayed, entry = restate(
            loan, uow.loans.opening(txn.loan_no), events, EntryKind.REVERSAL, on, f"reverses {reference}"
        )
        if problem := _broken_history(replayed.results, events):
            return Outcome(problem.code.value, problem.message, txn.loan_no, reference)
        rev = uow.transactions.add(
            txn.loan_no,
            NewTransaction("reversal", f"REV:{reference}", on, txn.amount_fen, reason=reason, reverses_id=txn.id),
        )
        uow.transactions.mark_reversed(txn.id)
        uow.journal.add(txn.loan_no, [entry] if entry else [], rev)
        _save(uow, loan, replayed.loan, "reversal", on)
        uow.commit()
        return Outcome(
            ACCEPTED,
            f"{reference} reversed",
            txn.loan_no,
            reference,
            {"status": replayed.loan.status.value, "credit": yuan_text(replayed.loan.credit_fen)},
        )


def _broken_history(results: tuple[Applied | Rejected, ...], events: list[Event]) -> Rejected | None:
    for event, result in zip(events, results, strict=True):
        if isinstance(result, Rejected):
            return Rejected(
                Code.LATER_EVENT_DEPENDS,
                f"{event.reference} on {event.on} would no longer apply: {result.message}",
            )
    return None


def _shape(installments: tuple[Installment, ...]) -> list[tuple[int, date, int, int]]:
    return [(i.no, i.due_date, i.principal.due, i.interest.due) for i in installments]


def _save(uow: UnitOfWork, before: Loan, after: Loan, reason: str, on: date) -> None:
    """Store the new state; a changed schedule becomes a new version (versions only ever grow)."""
    changed = after.schedule_version != before.schedule_version or _shape(after.installments) != _shape(
        before.installments
    )
    after = replace(after, schedule_version=before.schedule_version + 1 if changed else before.schedule_version)
    uow.loans.save(after, reason, on)


def _new_transaction(event: Event, result: str) -> NewTransaction:
    component = getattr(event, "component", None)
    mode = getattr(event, "mode", None)
    return NewTransaction(
        _KIND[type(event)],
        event.reference,
        event.on,
        event.amount_fen,
        component=component.value if component else None,
        mode=mode.value if mode else None,
        reason=getattr(event, "reason", None) or None,
        result=result,
    )


def _detail(applied: Applied) -> dict[str, Any]:
    return {
        "allocation": [_part(p) for p in applied.parts],
        "credit": yuan_text(applied.credit_fen),
        "paid_off": applied.paid_off,
        "status": applied.loan.status.value,
    }


def _part(p: Part) -> dict[str, Any]:
    return {
        "installment": p.installment_no,
        "component": p.component.value,
        "amount": yuan_text(p.amount_fen),
    }


def _message(event: Event, applied: Applied) -> str:
    text = f"{_KIND[type(event)]} {event.reference} of {yuan_text(event.amount_fen)} accepted"
    if applied.paid_off:
        text += "; the loan is paid off"
    if applied.credit_fen and applied.loan.status is LoanStatus.WRITTEN_OFF:
        text += "; the loan is written off: booked as recovery income"
    elif applied.credit_fen:
        text += f"; {yuan_text(applied.credit_fen)} held as borrower credit"
    return text

"""The demo book as table columns: what the repositories would have written, one array per column.

Columns follow `daihou.storage.repository` (`loan_terms_values`, `loan_state_values`,
`installment_values`, the service's transactions and journal entries), so loading a demo loan
through the unit of work gives the loan the domain computes from its opening and its payments.
IDs are assigned here, consecutive from each table's next free ID.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Table

from daihou.demo.behaviour import Status
from daihou.demo.generate import ACCOUNTS, ENTRY_ACCRUAL, ENTRY_DISBURSEMENT, DemoBook
from daihou.domain.journal import EntryKind
from daihou.storage import tables as t

Obj = npt.NDArray[np.object_]
ACCRUAL_MEMO = "opening accruals of the demo book"
PAYMENT_RESULT = '{"demo": true}'
DISBURSEMENT_RESULT = "{}"  # as the service records a booking

TABLES: tuple[Table, ...] = (  # foreign-key order
    t.borrowers,
    t.borrower_contacts,
    t.loans,
    t.schedule_versions,
    t.installments,
    t.transactions,
    t.journal_entries,
    t.journal_lines,
)


@dataclass(frozen=True, slots=True)
class Const:
    """The same value in every row (a literal in the SQLite statement)."""

    value: Any


Column = npt.NDArray[Any] | Const  # one element per row
Columns = dict[str, Column]


class Rows:
    """Each table's columns, built when asked for, so that only one table's columns live at a time."""

    def __init__(self, book: DemoBook, next_ids: dict[str, int], now: Any) -> None:
        self.book, self.next_ids, self.now = book, next_ids, now

    def of(self, table: Table) -> Iterator[Columns]:
        """The columns of `table`, in one or more parts (installments: version 1, then version 2)."""
        build: dict[str, Callable[[], Iterator[Columns]]] = {
            "borrowers": self._borrowers,
            "borrower_contacts": self._contacts,
            "loans": self._loans,
            "schedule_versions": self._schedule_versions,
            "installments": self._installments,
            "transactions": self._transactions,
            "journal_entries": self._entries,
            "journal_lines": self._lines,
        }
        return build[table.name]()

    def count(self, table: Table) -> int:
        """How many rows `of(table)` gives."""
        book, ledger = self.book, self.book.ledger
        return {
            "borrowers": len(book.parties),
            "borrower_contacts": int(book.parties.contact_borrower.shape[0]),
            "loans": len(book.loans),
            "schedule_versions": len(book.loans) + int((book.outcome.payoff_day >= 0).sum()),
            "installments": sum(len(part) for part in book.outcome.schedules),
            "transactions": int(ledger.tx_loan.shape[0]),
            "journal_entries": int(ledger.entry_loan.shape[0]),
            "journal_lines": int(ledger.line_entry.shape[0]),
        }[table.name]

    def _ids(self, table: str, n: int) -> npt.NDArray[np.int64]:
        return self.next_ids[table] + np.arange(n, dtype=np.int64)

    @cached_property
    def borrower_id(self) -> npt.NDArray[np.int64]:
        return self._ids("borrowers", len(self.book.parties))

    @cached_property
    def loan_id(self) -> npt.NDArray[np.int64]:
        return self._ids("loans", len(self.book.loans))

    @cached_property
    def tx_id(self) -> npt.NDArray[np.int64]:
        return self._ids("transactions", self.book.ledger.tx_loan.shape[0])

    @cached_property
    def entry_id(self) -> npt.NDArray[np.int64]:
        return self._ids("journal_entries", self.book.ledger.entry_loan.shape[0])

    @cached_property
    def tx_reference(self) -> Obj:
        """DISB:<loan_no> for a disbursement (as the service books it), DEMO-<loan_no>-<k> for payments."""
        book, ledger = self.book, self.book.ledger
        loan_nos = book.loans.loan_no
        pays = zip(loan_nos[book.outcome.payments.loan].tolist(), book.payment_seq.tolist(), strict=True)
        is_payment = ledger.tx_payment >= 0
        reference = np.empty(ledger.tx_loan.shape[0], dtype=object)
        reference[is_payment] = [f"DEMO-{no}-{k:03d}" for no, k in pays]
        reference[~is_payment] = ["DISB:" + no for no in loan_nos.tolist()]
        return reference

    def _borrowers(self) -> Iterator[Columns]:
        parties, now = self.book.parties, self.now
        yield {
            "id": self.borrower_id,
            "borrower_no": self.book.borrower_no,
            "kind": np.where(parties.enterprise, "enterprise", "individual").astype(object),
            "name": parties.name,
            "id_number": parties.id_number,
            "mobile": parties.mobile,
            "address": parties.address,
            "employer": parties.employer,
            "legal_representative": parties.legal_representative,
            "version": Const(1),
            "created_at": Const(now),
        }

    def _contacts(self) -> Iterator[Columns]:
        parties = self.book.parties
        yield {
            "id": self._ids("borrower_contacts", parties.contact_borrower.shape[0]),
            "borrower_id": self.borrower_id[parties.contact_borrower],
            "name": parties.contact_name,
            "relation": parties.contact_relation,
            "mobile": parties.contact_mobile,
        }

    def _loans(self) -> Iterator[Columns]:
        book, now = self.book, self.now
        loans, o = book.loans, book.outcome
        refs = [r.product for r in book.products]
        per_product = {  # what a loan copies from its product when booked
            "product_id": [r.id for r in book.products],
            "method": [p.method.value for p in refs],
            "frequency": [p.frequency.value for p in refs],
            "day_count": [p.day_count.value for p in refs],
            "grace_days": [p.grace_days for p in refs],
            "dpd_tolerance_fen": [p.dpd_tolerance_fen for p in refs],
            "compound_interest": [p.compound_interest for p in refs],
            "allocation_order": [",".join(c.value for c in p.allocation.order) for p in refs],
            "allocation_mode": [p.allocation.mode.value for p in refs],
        }
        statuses = np.array([Status(k).label for k in range(len(Status))], dtype=object)
        first_due = np.full(len(loans), None, dtype=object)
        broken = loans.first_due >= 0
        first_due[broken] = day_texts(loans.first_due[broken])
        yield {
            "id": self.loan_id,
            "loan_no": loans.loan_no,
            "contract_no": np.array(["HT" + no[2:] for no in loans.loan_no.tolist()], dtype=object),
            "borrower_id": self.borrower_id[loans.borrower],
            **{name: np.array(values, dtype=object)[loans.product] for name, values in per_product.items()},
            "officer": loans.officer,
            "purpose": loans.purpose,
            "principal_fen": loans.principal_fen,
            "rate_annual_ppm": loans.rate_ppm,
            "penalty_rate_annual_ppm": loans.penalty_ppm,
            "periods": loans.periods,
            "disbursed_on": day_texts(loans.disbursed),
            "first_due_on": first_due,
            "status": statuses[o.status],
            **{f"{part}_{state}_fen": Const(0) for part in ("cost", "fee") for state in ("due", "paid", "waived")},
            "credit_fen": Const(0),
            "received_fen": o.received_fen,
            "accrued_through": Const(book.as_of.isoformat()),
            "schedule_version": o.schedule_version,
            "version": Const(1),
            "created_at": Const(now),
            "updated_at": Const(now),
        }

    def _schedule_versions(self) -> Iterator[Columns]:
        loans, o = self.book.loans, self.book.outcome
        n = len(loans)
        paid_off = np.flatnonzero(o.payoff_day >= 0)
        loan = np.concatenate([np.arange(n), paid_off])
        version = np.concatenate([np.ones(n, dtype=np.int64), np.full(paid_off.shape[0], 2)])
        yield {
            "id": self._ids("schedule_versions", loan.shape[0]),
            "loan_id": self.loan_id[loan],
            "version": version,
            "reason": np.array(["disbursement", "payment"], dtype=object)[version - 1],  # as the service names them
            "effective_on": day_texts(np.concatenate([loans.disbursed, o.payoff_day[paid_off]])),
            "created_at": Const(self.now),
        }

    def _installments(self) -> Iterator[Columns]:
        first_id = self.next_ids["installments"]
        for inst in self.book.outcome.schedules:  # version 1 of every loan, then version 2 of the payoffs
            yield {
                "id": first_id + np.arange(len(inst), dtype=np.int64),
                "loan_id": self.loan_id[inst.loan],
                "schedule_version": inst.version,
                "no": inst.no,
                "start_date": day_texts(inst.start),
                "due_date": day_texts(inst.due),
                "principal_due_fen": inst.principal_due,
                "principal_paid_fen": inst.principal_paid,
                "principal_waived_fen": Const(0),
                "interest_due_fen": inst.interest_due,
                "interest_paid_fen": inst.interest_paid,
                "interest_waived_fen": Const(0),
                "penalty_due_fen": inst.penalty_due,
                "penalty_paid_fen": inst.penalty_paid,
                "penalty_waived_fen": Const(0),
                "compound_due_fen": inst.compound_due,
                "compound_paid_fen": inst.compound_paid,
                "compound_waived_fen": Const(0),
                "interest_accrued_fen": inst.interest_accrued,
            }
            first_id += len(inst)

    def _transactions(self) -> Iterator[Columns]:
        ledger = self.book.ledger
        is_payment = ledger.tx_payment >= 0
        yield {
            "id": self.tx_id,
            "loan_id": self.loan_id[ledger.tx_loan],
            "kind": np.where(is_payment, "payment", "disbursement").astype(object),
            "reference": self.tx_reference,
            "value_date": day_texts(ledger.tx_day),
            "amount_fen": ledger.tx_amount,
            "reversed": Const(False),
            "result": np.where(is_payment, PAYMENT_RESULT, DISBURSEMENT_RESULT).astype(object),
            "created_at": Const(self.now),
        }

    def _entries(self) -> Iterator[Columns]:
        """Memos as the service writes them: the loan number when booked, the payment's reference."""
        ledger, loan_nos = self.book.ledger, self.book.loans.loan_no
        kinds = {ENTRY_DISBURSEMENT: EntryKind.DISBURSEMENT, ENTRY_ACCRUAL: EntryKind.ACCRUAL}
        entry_kind = np.array([kinds.get(k, EntryKind.PAYMENT).value for k in range(3)], dtype=object)
        booked = ledger.entry_kind == ENTRY_DISBURSEMENT
        memo = self.tx_reference[np.maximum(ledger.entry_tx, 0)]
        memo[booked] = loan_nos[ledger.entry_loan[booked]]
        memo[ledger.entry_kind == ENTRY_ACCRUAL] = ACCRUAL_MEMO
        tx_id = self.tx_id[np.maximum(ledger.entry_tx, 0)].astype(object)
        tx_id[ledger.entry_tx < 0] = None
        yield {
            "id": self.entry_id,
            "loan_id": self.loan_id[ledger.entry_loan],
            "transaction_id": tx_id,
            "kind": entry_kind[ledger.entry_kind],
            "booked_on": day_texts(ledger.entry_day),
            "memo": memo,
            "created_at": Const(self.now),
        }

    def _lines(self) -> Iterator[Columns]:
        ledger = self.book.ledger
        accounts = np.array([a.value for a in ACCOUNTS], dtype=object)
        yield {
            "id": self._ids("journal_lines", ledger.line_entry.shape[0]),
            "entry_id": self.entry_id[ledger.line_entry],
            "loan_id": self.loan_id[ledger.line_loan],
            "account": accounts[ledger.line_account],
            "amount_fen": ledger.line_amount,
        }


def day_texts(days: npt.NDArray[np.int64]) -> Obj:
    """ISO dates ('2026-11-22', as SQLAlchemy stores a Date on SQLite) of days since 1970."""
    if not days.shape[0]:
        return np.empty(0, dtype=object)
    lo, hi = int(days.min()), int(days.max())
    table = np.arange(lo, hi + 1).astype("datetime64[D]").astype(str).astype(object)  # each day once
    texts: Obj = table[days - lo]
    return texts

"""Read queries: what a loan looks like as of a date, in the JSON shape scripts rely on (DESIGN.md §6)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Protocol

from daihou.domain.grades import bucket_of, floor_grade, ifrs9_stage, provision_fen
from daihou.domain.identity import mask_id_number, mask_mobile, mask_name
from daihou.domain.loan import Installment, Loan, close_through, days_past_due, refresh_status
from daihou.domain.money import yuan_text
from daihou.domain.parties import Borrower
from daihou.domain.servicing import payoff_quote, replay
from daihou.service.ports import UnitOfWork


@dataclass(frozen=True, slots=True)
class NotFound:
    loan_no: str

    @property
    def message(self) -> str:
        return f"loan {self.loan_no} does not exist"


def loan_as_of(uow: UnitOfWork, loan_no: str, as_of: date | None) -> tuple[Loan, date, str] | NotFound:
    """The loan's state as of a business date and where it came from: "store", "replay" or "projection"."""
    loan = uow.loans.get(loan_no)
    if loan is None:
        return NotFound(loan_no)
    assert loan.accrued_through is not None
    events = uow.loans.events(loan_no)
    current = max([loan.accrued_through, *(e.on for _, e in events)])
    if as_of is None or as_of == current:
        return loan, current, "store"
    if as_of > current:
        projected = refresh_status(close_through(loan, as_of), as_of)
        return projected, as_of, "projection"
    past = [e for _, e in events if e.on <= as_of]
    opening = uow.loans.opening(loan_no)
    through = max(as_of, loan.terms.disbursed_on)
    return replay(opening, past, through).loan, as_of, "replay"


def _installment_json(i: Installment, as_of: date) -> dict[str, Any]:
    if i.settled:
        state = "paid"
    elif i.due_date < as_of:
        state = "overdue"
    elif i.due_date == as_of:
        state = "due"
    else:
        state = "future"
    return {
        "no": i.no,
        "start_date": i.start_date.isoformat(),
        "due_date": i.due_date.isoformat(),
        "principal": yuan_text(i.principal.due),
        "interest": yuan_text(i.interest.due),
        "payment": yuan_text(i.principal.due + i.interest.due),
        "penalty": yuan_text(i.penalty.due),
        "compound": yuan_text(i.compound.due),
        "paid_principal": yuan_text(i.principal.paid),
        "paid_interest": yuan_text(i.interest.paid),
        "paid_penalty": yuan_text(i.penalty.paid + i.compound.paid),
        "waived": yuan_text(i.principal.waived + i.interest.waived + i.penalty.waived + i.compound.waived),
        "outstanding": yuan_text(
            i.principal.outstanding + i.interest.outstanding + i.penalty.outstanding + i.compound.outstanding
        ),
        "state": state,
    }


def _borrower_json(b: Borrower, reveal: bool) -> dict[str, Any]:
    if reveal:
        name, id_number, mobile = b.name, b.id_number, b.mobile
    else:
        name, id_number, mobile = mask_name(b.name), mask_id_number(b.id_number), mask_mobile(b.mobile)
    return {
        "borrower_no": b.borrower_no,
        "kind": b.kind.value,
        "name": name,
        "id_number": id_number,
        "mobile": mobile,
        "masked": not reveal,
    }


class SnapshotReader(Protocol):
    """The close of business's daily snapshots (Parquet), read by loan and business date."""

    def loan(self, loan_no: str, day: date) -> dict[str, Any] | None: ...


SNAPSHOT_FIELDS = ("status", "dpd", "bucket", "classification", "ifrs9_stage")
SNAPSHOT_MONEY = {
    "outstanding_principal": "outstanding_principal_fen",
    "overdue_principal": "overdue_principal_fen",
    "overdue_interest": "overdue_interest_fen",
    "penalty_interest": "penalty_outstanding_fen",
    "provision": "provision_fen",
    "credit": "credit_fen",
}


def loan_view(
    uow: UnitOfWork,
    loan_no: str,
    as_of: date | None = None,
    reveal: bool = False,
    snapshots: SnapshotReader | None = None,
) -> dict[str, Any] | NotFound:
    """`daihou loan show --json`: status, DPD, bucket, class, stage, balances, provision, installments.

    Personal data is masked unless `reveal` (the caller checks the permission and audits the reveal).
    """
    with uow:
        found = loan_as_of(uow, loan_no, as_of)
        if isinstance(found, NotFound):
            return found
        loan, day, source = found
        info = uow.loans.info(loan_no)
        assert info is not None
        borrower = uow.borrowers.get(info.borrower_no)
        guarantors = uow.securities.guarantors(loan_no)
        collateral = uow.securities.collateral(loan_no)
    dpd = days_past_due(loan, day)
    grade = floor_grade(dpd)
    overdue = [i for i in loan.installments if i.due_date < day]
    outstanding = loan.outstanding_principal_fen
    next_due = loan.next_due_date(day)
    # what settles the loan on the first day not yet closed
    assert loan.accrued_through is not None
    quote = None if loan.is_closed else payoff_quote(loan, loan.accrued_through + timedelta(days=1))
    t = loan.terms
    view = {
        "loan_no": loan.loan_no,
        "status": loan.status.value,
        "as_of": day.isoformat(),
        "source": source,
        "dpd": dpd,
        "bucket": bucket_of(dpd),
        "classification": grade.value,
        "ifrs9_stage": ifrs9_stage(dpd, grade),
        "outstanding_principal": yuan_text(outstanding),
        "overdue_principal": yuan_text(sum(i.principal.outstanding for i in overdue)),
        "overdue_interest": yuan_text(sum(i.interest.outstanding for i in overdue)),
        "penalty_interest": yuan_text(sum(i.penalty.outstanding + i.compound.outstanding for i in loan.installments)),
        "provision": yuan_text(provision_fen(outstanding, grade)),
        "next_due_date": next_due.isoformat() if next_due else None,
        "credit": yuan_text(loan.credit_fen),
        "payoff_amount": yuan_text(quote.total_fen) if quote else "0.00",
        "payoff_date": quote.on.isoformat() if quote else None,
        "principal": yuan_text(t.principal_fen),
        "annual_rate": str(t.rate_annual * 100),
        "penalty_rate": str(t.penalty_rate_annual * 100),
        "method": t.method.value,
        "periods": t.periods,
        "disbursement_date": t.disbursed_on.isoformat(),
        "schedule_version": loan.schedule_version,
        "product_code": info.product_code,
        "officer": info.officer,
        "borrower": None if borrower is None else _borrower_json(borrower, reveal),
        "guarantors": [
            {
                "name": g.name if reveal else mask_name(g.name),
                "kind": g.kind.value,
                "id_number": g.id_number if reveal else mask_id_number(g.id_number),
                "guarantee_type": g.guarantee_type.value,
                "amount": None if g.amount_fen is None else yuan_text(g.amount_fen),
            }
            for g in guarantors
        ],
        "collateral": [
            {
                "id": cid,
                "kind": c.kind.value,
                "description": c.description,
                "custody_status": c.custody_status.value,
                "value": None if c.latest_value_fen is None else yuan_text(c.latest_value_fen),
                "valuations": [
                    {"valued_on": v.valued_on.isoformat(), "value": yuan_text(v.value_fen)} for v in c.valuations
                ],
            }
            for cid, c in collateral
        ],
        "installments": [_installment_json(i, day) for i in loan.installments],
    }
    # A closed business day answers from its snapshot: the class there includes manual overrides
    # and restructuring floors that the DPD alone does not show.
    snap = snapshots.loan(loan_no, day) if snapshots is not None and source != "projection" else None
    if snap is not None and (source == "replay" or day == loan.accrued_through):
        view.update({k: snap[k] for k in SNAPSHOT_FIELDS})
        view.update({k: yuan_text(snap[col]) for k, col in SNAPSHOT_MONEY.items()})
        view["source"] = "snapshot"
    return view

"""The batch's column layout, and conversion between domain loans and Arrow tables.

Column names are those of the operational store's `loans` and `installments` tables, so the
store's rows load straight into the batch. Conversion from domain loans serves the differential
tests and the catch-up of loans that missed days (disbursed or imported with a past date).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

import pyarrow as pa

from daihou.domain.loan import Installment, Loan, LoanStatus, Owed, terms_from_columns
from daihou.domain.money import rate_ppm
from daihou.domain.products import Component

OWED = ("due", "paid", "waived")
INSTALLMENT_OWED = ("principal", "interest", "penalty", "compound")

LOAN_SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("loan_no", pa.string()),
        ("status", pa.string()),
        ("principal_fen", pa.int64()),
        ("rate_annual_ppm", pa.int64()),
        ("penalty_rate_annual_ppm", pa.int64()),
        ("periods", pa.int64()),
        ("method", pa.string()),
        ("frequency", pa.string()),
        ("day_count", pa.string()),
        ("disbursed_on", pa.date32()),
        ("first_due_on", pa.date32()),
        ("grace_days", pa.int64()),
        ("dpd_tolerance_fen", pa.int64()),
        ("compound_interest", pa.bool_()),
        ("allocation_order", pa.string()),
        ("allocation_mode", pa.string()),
        *[(f"{c}_{p}_fen", pa.int64()) for c in ("cost", "fee") for p in OWED],
        ("credit_fen", pa.int64()),
        ("received_fen", pa.int64()),
        ("accrued_through", pa.date32()),
        ("schedule_version", pa.int64()),
        ("restructured_until", pa.date32()),
        ("restructure_floor", pa.string()),
        ("override_grade", pa.string()),
    ]
)

INSTALLMENT_SCHEMA = pa.schema(
    [
        ("loan_id", pa.int64()),
        ("no", pa.int64()),
        ("start_date", pa.date32()),
        ("due_date", pa.date32()),
        *[(f"{c}_{p}_fen", pa.int64()) for c in INSTALLMENT_OWED for p in OWED],
        ("interest_accrued_fen", pa.int64()),
    ]
)


def loan_row(loan_id: int, loan: Loan, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    t = loan.terms
    row = {
        "id": loan_id,
        "loan_no": t.loan_no,
        "status": loan.status.value,
        "principal_fen": t.principal_fen,
        "rate_annual_ppm": rate_ppm(t.rate_annual),
        "penalty_rate_annual_ppm": rate_ppm(t.penalty_rate_annual),
        "periods": t.periods,
        "method": t.method.value,
        "frequency": t.frequency.value,
        "day_count": t.day_count.value,
        "disbursed_on": t.disbursed_on,
        "first_due_on": t.first_due_on,
        "grace_days": t.grace_days,
        "dpd_tolerance_fen": t.dpd_tolerance_fen,
        "compound_interest": t.compound_interest,
        "allocation_order": ",".join(c.value for c in t.allocation.order),
        "allocation_mode": t.allocation.mode.value,
        **{f"cost_{p}_fen": getattr(loan.cost, p) for p in OWED},
        **{f"fee_{p}_fen": getattr(loan.fee, p) for p in OWED},
        "credit_fen": loan.credit_fen,
        "received_fen": loan.received_fen,
        "accrued_through": loan.accrued_through,
        "schedule_version": loan.schedule_version,
        "restructured_until": None,
        "restructure_floor": None,
        "override_grade": None,
    }
    row.update(extra or {})
    return row


def installment_rows(loan_id: int, loan: Loan) -> Iterable[dict[str, Any]]:
    for i in loan.installments:
        yield {
            "loan_id": loan_id,
            "no": i.no,
            "start_date": i.start_date,
            "due_date": i.due_date,
            **{f"{c}_{p}_fen": getattr(i.owed(Component(c)), p) for c in INSTALLMENT_OWED for p in OWED},
            "interest_accrued_fen": i.interest_accrued_fen,
        }


def to_arrow(loans: Sequence[tuple[int, Loan]]) -> tuple[pa.Table, pa.Table]:
    """(loans, installments) tables for the batch from domain loans keyed by id."""
    loan_rows = [loan_row(lid, loan) for lid, loan in loans]
    inst_rows = [row for lid, loan in loans for row in installment_rows(lid, loan)]
    return (
        pa.Table.from_pylist(loan_rows, schema=LOAN_SCHEMA),
        pa.Table.from_pylist(inst_rows, schema=INSTALLMENT_SCHEMA),
    )


def _owed(row: dict[str, Any], name: str) -> Owed:
    return Owed(row[f"{name}_due_fen"], row[f"{name}_paid_fen"], row[f"{name}_waived_fen"])


def from_arrow(loans: pa.Table, installments: pa.Table) -> dict[int, Loan]:
    """Domain loans from batch tables (the inverse of `to_arrow`)."""
    by_loan: dict[int, list[Installment]] = {}
    for r in sorted(installments.to_pylist(), key=lambda r: (r["loan_id"], r["no"])):
        by_loan.setdefault(r["loan_id"], []).append(
            Installment(
                r["no"],
                r["start_date"],
                r["due_date"],
                principal=_owed(r, "principal"),
                interest=_owed(r, "interest"),
                penalty=_owed(r, "penalty"),
                compound=_owed(r, "compound"),
                interest_accrued_fen=r["interest_accrued_fen"],
            )
        )
    out = {}
    for r in loans.to_pylist():
        terms = terms_from_columns(r)
        out[r["id"]] = Loan(
            terms,
            tuple(by_loan.get(r["id"], ())),
            LoanStatus(r["status"]),
            _owed(r, "cost"),
            _owed(r, "fee"),
            r["credit_fen"],
            r["received_fen"],
            r["accrued_through"],
            r["schedule_version"],
        )
    return out


def first_day(loans: pa.Table) -> date | None:
    values = loans.column("accrued_through").to_pylist()
    return min(values) if values else None

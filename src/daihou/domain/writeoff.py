"""Write-off (核销) as a ledger event, and how money received afterwards is booked.

`WriteOff` is applied by `servicing.apply` like any event, so `replay` keeps it when an earlier
event is reversed. On the write-off date:

1. the schedule is cut: the running period's recognised interest and all principal not yet due fall
   due that day (a new schedule version with one closing row), so nothing can fall due later;
2. credit the borrower holds is applied through the waterfall first;
3. everything still owed — principal, interest, penalty, compound interest, fees, costs — is waived
   on the books: principal and costs go to the write-off account (6701), unpaid interest, penalty and
   fees are taken back out of income; the status becomes `written_off` and penalty stops.

The legal claim is not given up (账销案存): the amounts written off are recorded by the recovery store
and collection may go on. A payment received afterwards finds nothing owed and is held on the loan as
recovery income (`Account.RECOVERY_INCOME`, `loan.position`), reported apart from ordinary repayments.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from daihou.domain.loan import (
    INSTALLMENT_COMPONENTS,
    Installment,
    Loan,
    LoanStatus,
    Owed,
    Part,
    apply_credit,
)
from daihou.domain.products import Component
from daihou.domain.restructuring import Refusal, closing_row

NOTHING_TO_WRITE_OFF = "nothing_to_write_off"


@dataclass(frozen=True, slots=True)
class WriteOff:
    on: date
    reference: str
    reason: str = ""

    @property
    def amount_fen(self) -> int:
        """The amounts written off are in the applied result (its waived parts)."""
        return 0


def _cut(loan: Loan, on: date) -> Loan:
    future = [i for i in loan.installments if i.due_date > on]
    if not future:
        return loan
    closing = closing_row(future, on)
    # the principal not yet due falls due on the write-off date
    outstanding = sum(i.principal.outstanding for i in future)
    p = closing.principal
    closing = replace(closing, principal=Owed(p.due + outstanding, p.paid, p.waived))
    kept = tuple(i for i in loan.installments if i.due_date <= on)
    return replace(loan, installments=(*kept, closing), schedule_version=loan.schedule_version + 1)


def _waive_all(inst: Installment) -> tuple[Installment, list[Part]]:
    parts = []
    for comp in INSTALLMENT_COMPONENTS:
        owed = inst.owed(comp)
        if owed.outstanding:
            parts.append(Part(inst.no, comp, owed.outstanding))
            inst = inst.with_owed(comp, owed.waive(owed.outstanding))
    return inst, parts


def write_off(loan: Loan, event: WriteOff) -> tuple[Loan, tuple[Part, ...]] | Refusal:
    """The loan written off on `event.on`; `loan` must be brought to that day."""
    loan, paid = apply_credit(_cut(loan, event.on), event.on)
    rows, parts = [], list[Part]()  # parts: what is waived
    for inst in loan.installments:
        inst, more = _waive_all(inst)
        rows.append(inst)
        parts.extend(more)
    cost, fee = loan.cost, loan.fee
    if cost.outstanding:
        parts.append(Part(0, Component.COST, cost.outstanding))
        cost = cost.waive(cost.outstanding)
    if fee.outstanding:
        parts.append(Part(0, Component.FEE, fee.outstanding))
        fee = fee.waive(fee.outstanding)
    if not parts:
        return Refusal(NOTHING_TO_WRITE_OFF, f"loan {loan.loan_no} owes nothing: there is nothing to write off")
    assert loan.credit_fen == 0, "credit is left only when everything was paid"
    after = replace(loan, installments=tuple(rows), cost=cost, fee=fee, status=LoanStatus.WRITTEN_OFF)
    return after, paid + tuple(parts)


def written_off_amounts(before: Loan, after: Loan) -> dict[Component, int]:
    """What a write-off waived, by component: the growth of each component's waived amount."""
    out = {}
    for comp in INSTALLMENT_COMPONENTS:
        out[comp] = sum(i.owed(comp).waived for i in after.installments) - sum(
            i.owed(comp).waived for i in before.installments
        )
    out[Component.COST] = after.cost.waived - before.cost.waived
    out[Component.FEE] = after.fee.waived - before.fee.waived
    return out

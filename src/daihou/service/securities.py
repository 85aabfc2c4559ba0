"""Guarantors and collateral (担保): add them to a loan, revalue collateral, move its custody."""

from __future__ import annotations

from daihou.domain.parties import CUSTODY_NEXT, Collateral, CustodyStatus, Guarantor, Valuation
from daihou.service.ledger import ACCEPTED, Outcome
from daihou.service.ports import UnitOfWork

INVALID = "invalid"
NOT_FOUND = "not_found"
CUSTODY_NOT_ALLOWED = "custody_transition_not_allowed"


def _problems(problems: list[tuple[str, str]], loan_no: str) -> Outcome | None:
    if not problems:
        return None
    return Outcome(INVALID, "; ".join(f"{field}: {reason}" for field, reason in problems), loan_no)


def add_guarantor(uow: UnitOfWork, loan_no: str, guarantor: Guarantor) -> Outcome:
    if bad := _problems(guarantor.problems(), loan_no):
        return bad
    with uow:
        if not uow.loans.existing([loan_no]):
            return Outcome(NOT_FOUND, f"loan {loan_no} does not exist", loan_no)
        gid = uow.securities.add_guarantor(loan_no, guarantor)
        uow.commit()
    return Outcome(ACCEPTED, f"guarantor added to {loan_no}", loan_no, detail={"id": gid})


def add_collateral(uow: UnitOfWork, loan_no: str, collateral: Collateral) -> Outcome:
    problems = [] if collateral.description.strip() else [("description", "is empty")]
    problems += [("value", "must be positive") for v in collateral.valuations if v.value_fen <= 0]
    if bad := _problems(problems, loan_no):
        return bad
    with uow:
        if not uow.loans.existing([loan_no]):
            return Outcome(NOT_FOUND, f"loan {loan_no} does not exist", loan_no)
        cid = uow.securities.add_collateral(loan_no, collateral)
        uow.commit()
    return Outcome(ACCEPTED, f"collateral added to {loan_no}", loan_no, detail={"id": cid})


def revalue(uow: UnitOfWork, collateral_id: int, valuation: Valuation) -> Outcome:
    """Add a valuation; the history is kept, the latest by date is the current value."""
    if valuation.value_fen <= 0:
        return Outcome(INVALID, "value: must be positive")
    with uow:
        if uow.securities.get_collateral(collateral_id) is None:
            return Outcome(NOT_FOUND, f"collateral {collateral_id} does not exist")
        uow.securities.add_valuation(collateral_id, valuation)
        uow.commit()
    return Outcome(ACCEPTED, f"collateral {collateral_id} valued on {valuation.valued_on}")


def move_custody(uow: UnitOfWork, collateral_id: int, status: CustodyStatus) -> Outcome:
    with uow:
        current = uow.securities.get_collateral(collateral_id)
        if current is None:
            return Outcome(NOT_FOUND, f"collateral {collateral_id} does not exist")
        if status not in CUSTODY_NEXT[current.custody_status]:
            return Outcome(
                CUSTODY_NOT_ALLOWED,
                f"collateral {collateral_id} is {current.custody_status.value}; cannot become {status.value}",
            )
        uow.securities.set_custody(collateral_id, status)
        uow.commit()
    return Outcome(ACCEPTED, f"collateral {collateral_id} is now {status.value}")

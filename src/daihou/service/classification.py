"""Manual five-category classification (人工认定): worsening takes effect at once; improving needs a checker.

The close of business keeps every class within the floors (DPD, restructuring), so an approved
override can never make a loan look better than the rules allow.
"""

from __future__ import annotations

from datetime import date

from daihou.domain.grades import Grade
from daihou.service.ledger import ACCEPTED, Outcome
from daihou.service.ports import UnitOfWork

PENDING_APPROVAL = "pending_approval"
NOT_FOUND = "not_found"
INVALID = "invalid"
SAME_PERSON = "checker_is_maker"
NOT_PENDING = "not_pending"


def propose(uow: UnitOfWork, loan_no: str, grade: Grade, reason: str, maker: str, effective_on: date) -> Outcome:
    if not reason.strip() or not maker.strip():
        return Outcome(INVALID, "a manual classification needs a reason and the maker's name", loan_no)
    with uow:
        current = uow.overrides.current_grade(loan_no)
        if current is None:
            return Outcome(NOT_FOUND, f"loan {loan_no} does not exist", loan_no)
        worsening = grade.rank >= Grade(current).rank
        status = "approved" if worsening else "pending"
        oid = uow.overrides.add(loan_no, grade.value, reason, maker, status, effective_on)
        if worsening:
            uow.overrides.supersede(loan_no, oid)
        uow.commit()
    if worsening:
        return Outcome(ACCEPTED, f"{loan_no} classified {grade.value} from {effective_on}", loan_no, detail={"id": oid})
    return Outcome(
        PENDING_APPROVAL,
        f"improving {loan_no} from {current} to {grade.value} needs a checker's approval",
        loan_no,
        detail={"id": oid},
    )


def decide(uow: UnitOfWork, override_id: int, checker: str, approve: bool) -> Outcome:
    with uow:
        record = uow.overrides.get(override_id)
        if record is None:
            return Outcome(NOT_FOUND, f"no manual classification {override_id}")
        if record.status != "pending":
            return Outcome(NOT_PENDING, f"manual classification {override_id} is {record.status}", record.loan_no)
        if checker.strip() == record.maker:
            return Outcome(SAME_PERSON, "the checker must be another person than the maker", record.loan_no)
        uow.overrides.decide(override_id, "approved" if approve else "rejected", checker)
        if approve:
            uow.overrides.supersede(record.loan_no, override_id)
        uow.commit()
    verdict = "approved" if approve else "rejected"
    return Outcome(ACCEPTED, f"manual classification {override_id} {verdict}", record.loan_no)

"""Settlement, restructuring and write-off requests with maker-checker approval and limits by role.

A maker (`request`) asks for a waiver (减免), an extension (展期), a reschedule (重组), a repayment
plan (分期还款计划) or a write-off (核销). The approval limits (`domain.approval_limits`, data in
`workflow/approval_limits.toml`) put the request in a tier: which roles may approve it and how many
distinct approvals it needs. Checkers decide (`decide`); the maker never checks their own request.
The last approval applies the change **through the ledger** in the same transaction:

- waiver → a `Waiver` event (`service.ledger.post_in`);
- extension, reschedule, plan → a `Restructure` event: a new schedule version, status `restructured`,
  and the restructuring's observation period and classification floor on the loan;
- write-off → a `WriteOff` event, status `written_off`, the amounts written off recorded.

If the ledger refuses (the loan changed since the request), nothing is recorded and the ledger's
code is returned; the request stays pending for another decision or a rejection.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from daihou.domain.approval_limits import ApprovalLimits, RequestKind, Tier
from daihou.domain.grades import Grade
from daihou.domain.loan import Loan, LoanStatus
from daihou.domain.money import Money, rate_from_ppm, rate_ppm, yuan_text
from daihou.domain.products import Component, RepaymentMethod
from daihou.domain.restructuring import (
    ArrearsTreatment,
    Restructure,
    RestructureKind,
    extension,
    observation_end,
    restructuring_floor,
)
from daihou.domain.servicing import Event, Waiver
from daihou.domain.writeoff import WriteOff, written_off_amounts
from daihou.service.ledger import ACCEPTED, Outcome, post_in
from daihou.service.ports import RecoveryDecision, RecoveryRequest, RecoveryUnitOfWork

PENDING_APPROVAL = "pending_approval"
NOT_FOUND = "not_found"
INVALID = "invalid"
NOT_PENDING = "not_pending"
SAME_PERSON = "checker_is_maker"
ALREADY_DECIDED = "already_decided"
ROLE_MAY_NOT_REQUEST = "role_may_not_request"
ROLE_OVER_LIMIT = "role_over_limit"
NO_APPROVAL_TIER = "no_approval_tier"
LOAN_NOT_OPEN = "loan_not_open"

WAIVABLE = (
    Component.PENALTY,
    Component.COMPOUND,
    Component.INTEREST,
    Component.PRINCIPAL,
    Component.FEE,
    Component.COST,
)
OPEN = (LoanStatus.ACTIVE, LoanStatus.OVERDUE, LoanStatus.RESTRUCTURED)


@dataclass(frozen=True, slots=True)
class RequestSpec:
    """What a maker asks for. Only the fields of its kind are read."""

    kind: RequestKind
    loan_no: str
    reason: str
    maker: str
    maker_role: str
    component: Component | None = None  # waiver
    amount_fen: int = 0  # waiver
    months: int | None = None  # extension: months added
    periods: int | None = None  # reschedule, plan: the new number of periods
    rate_annual: Decimal | None = None  # reschedule, plan (plan default 0: 停息分期)
    method: RepaymentMethod | None = None
    arrears: ArrearsTreatment = ArrearsTreatment.KEEP  # reschedule (a plan always capitalises)
    first_due_on: date | None = None


def _owed(loan: Loan, component: Component) -> int:
    """What may be waived of a component: all principal (a settlement may waive principal not yet due);
    interest, penalty and compound interest as far as due by the last closed day; fees and costs."""
    if component is Component.PRINCIPAL:
        return loan.owed_total(component)
    return loan.owed_total(component, due_by=loan.accrued_through)


def _arrears(loan: Loan) -> int:
    return sum(_owed(loan, c) for c in (Component.INTEREST, Component.PENALTY, Component.COMPOUND))


def _measure(spec: RequestSpec, loan: Loan) -> tuple[int, Decimal | None, list[str]]:
    """The amount the limits read, the waiver's share of what is owed, and what is wrong with the spec."""
    problems: list[str] = []
    kind = spec.kind
    if kind is RequestKind.WAIVER:
        if spec.component not in WAIVABLE:
            return 0, None, [f"component: one of {', '.join(c.value for c in WAIVABLE)}"]
        assert spec.component is not None
        owed = _owed(loan, spec.component)
        if spec.amount_fen <= 0:
            problems.append("amount: must be positive")
        elif spec.amount_fen > owed:
            problems.append(
                f"amount: ¥{yuan_text(spec.amount_fen)} exceeds the ¥{yuan_text(owed)} {spec.component} owed"
            )
        share = Decimal(spec.amount_fen) / Decimal(owed) if owed else None
        return spec.amount_fen, share, problems
    if kind is RequestKind.WRITEOFF:
        total = loan.outstanding_principal_fen + _arrears(loan) + loan.fee.outstanding + loan.cost.outstanding
        return total, None, problems
    if kind is RequestKind.EXTENSION and not (spec.months and 1 <= spec.months <= 120):
        problems.append("months: between 1 and 120")
    if kind in (RequestKind.RESCHEDULE, RequestKind.PLAN) and not (spec.periods and 1 <= spec.periods <= 600):
        problems.append("periods: between 1 and 600")
    if spec.rate_annual is not None and not Decimal(0) <= spec.rate_annual <= Decimal(1):
        problems.append("rate: between 0 % and 100 %")
    capitalise = kind is RequestKind.PLAN or spec.arrears is ArrearsTreatment.CAPITALISE
    return loan.outstanding_principal_fen + (_arrears(loan) if capitalise else 0), None, problems


def request(uow: RecoveryUnitOfWork, limits: ApprovalLimits, spec: RequestSpec) -> Outcome:
    """Record a maker's request in its approval tier (nothing moves until it is approved)."""
    if not spec.reason.strip() or not spec.maker.strip():
        return Outcome(INVALID, "a request needs a reason and the maker's name", spec.loan_no)
    if not limits.may_make(spec.kind, spec.maker_role):
        allowed = ", ".join(sorted(limits.makers.get(spec.kind, frozenset()))) or "nobody"
        return Outcome(
            ROLE_MAY_NOT_REQUEST,
            f"a {spec.maker_role} may not request a {spec.kind.value} (allowed: {allowed})",
            spec.loan_no,
        )
    with uow:
        loan = uow.loans.get(spec.loan_no)
        if loan is None:
            return Outcome(NOT_FOUND, f"loan {spec.loan_no} does not exist", spec.loan_no)
        if loan.status not in OPEN:
            return Outcome(LOAN_NOT_OPEN, f"loan {spec.loan_no} is {loan.status.value}", spec.loan_no)
        amount, share, problems = _measure(spec, loan)
        if problems:
            return Outcome(INVALID, "; ".join(problems), spec.loan_no)
        tier = limits.tier_for(spec.kind, amount, share)
        if tier is None:
            return Outcome(
                NO_APPROVAL_TIER,
                f"no approval tier covers a {spec.kind.value} of ¥{yuan_text(amount)}: see approval_limits.toml",
                spec.loan_no,
            )
        values: dict[str, object] = {
            "kind": spec.kind.value,
            "component": spec.component.value if spec.component else None,
            "amount_fen": amount,
            "share_ppm": rate_ppm(share.quantize(Decimal("0.000001"))) if share is not None else None,
            "periods": spec.months if spec.kind is RequestKind.EXTENSION else spec.periods,
            "rate_annual_ppm": rate_ppm(spec.rate_annual) if spec.rate_annual is not None else None,
            "method": spec.method.value if spec.method else None,
            "arrears": (ArrearsTreatment.CAPITALISE if spec.kind is RequestKind.PLAN else spec.arrears).value,
            "first_due_on": spec.first_due_on,
            "reason": spec.reason[:400],
            "maker": spec.maker,
            "maker_role": spec.maker_role,
            "tier": tier.name,
            "approvals_required": tier.approvals,
        }
        rid = uow.recovery.add_request(spec.loan_no, values)
        uow.commit()
    return Outcome(
        PENDING_APPROVAL,
        f"{spec.kind.value} request {rid} of ¥{yuan_text(amount)} waits for {tier.describe()}",
        spec.loan_no,
        detail={"id": rid, "tier": tier.name, "approvals_required": tier.approvals},
    )


def _tier(limits: ApprovalLimits, r: RecoveryRequest) -> Tier | None:
    """The request's tier as the limits now say (by name; recomputed when the name is gone)."""
    for tier in limits.tiers:
        if tier.name == r.tier:
            return tier
    share = rate_from_ppm(r.share_ppm) if r.share_ppm is not None else None
    return limits.tier_for(RequestKind(r.kind), r.amount_fen, share)


def decide(
    uow: RecoveryUnitOfWork,
    limits: ApprovalLimits,
    request_id: int,
    user: str,
    role: str,
    approve: bool,
    comment: str,
    on: date,
    now: datetime,
) -> Outcome:
    """A checker's decision at `now`; the last approval needed applies the change through the ledger on
    business date `on`."""
    if not user.strip():
        return Outcome(INVALID, "a decision needs the checker's name")
    with uow:
        r = uow.recovery.get_request(request_id)
        if r is None:
            return Outcome(NOT_FOUND, f"no request {request_id}")
        if r.status != "pending":
            return Outcome(NOT_PENDING, f"request {request_id} is {r.status}", r.loan_no)
        if user.strip() == r.maker:
            return Outcome(SAME_PERSON, "the checker must be another person than the maker", r.loan_no)
        earlier = uow.recovery.decisions(request_id)
        if any(d.user == user for d in earlier):
            return Outcome(ALREADY_DECIDED, f"{user} already decided request {request_id}", r.loan_no)
        tier = _tier(limits, r)
        if tier is None or role not in tier.roles:
            limit = tier.describe() if tier else "no tier covers it"
            return Outcome(ROLE_OVER_LIMIT, f"a {role} may not decide request {request_id} ({limit})", r.loan_no)
        decision = RecoveryDecision(user, role, approve, comment[:400], now)
        if not approve:
            uow.recovery.add_decision(request_id, decision)
            uow.recovery.close_request(request_id, "rejected", None, decision.at)
            uow.commit()
            return Outcome(
                ACCEPTED, f"request {request_id} rejected by {user}", r.loan_no, detail={"request_status": "rejected"}
            )
        approvals = 1 + sum(1 for d in earlier if d.approve)
        if approvals < r.approvals_required:
            uow.recovery.add_decision(request_id, decision)
            uow.commit()
            return Outcome(
                PENDING_APPROVAL,
                f"request {request_id}: {approvals} of {r.approvals_required} approvals",
                r.loan_no,
                detail={"request_status": "pending", "approvals": approvals},
            )
        applied = _apply(uow, r, on)
        if applied.code != ACCEPTED:
            uow.rollback()
            return applied
        uow.recovery.add_decision(request_id, decision)
        uow.recovery.close_request(request_id, "approved", applied.reference, decision.at)
        uow.commit()
    return Outcome(
        ACCEPTED,
        f"request {request_id} approved and applied: {applied.message}",
        r.loan_no,
        applied.reference,
        {**applied.detail, "request_status": "approved"},
    )


def _event(r: RecoveryRequest, loan: Loan, on: date) -> Event:
    reference = f"RQ{r.id}:{r.kind}"
    kind = RequestKind(r.kind)
    if kind is RequestKind.WAIVER:
        assert r.component is not None
        return Waiver(on, Component(r.component), r.amount_fen, reference, f"request {r.id}: {r.reason}"[:400])
    if kind is RequestKind.WRITEOFF:
        return WriteOff(on, reference, f"request {r.id}: {r.reason}"[:400])
    if kind is RequestKind.EXTENSION:
        assert r.periods is not None
        return extension(loan, on, r.periods, reference, f"request {r.id}")
    assert r.periods is not None
    rate = rate_from_ppm(r.rate_annual_ppm) if r.rate_annual_ppm is not None else None
    if kind is RequestKind.PLAN and rate is None:
        rate = Decimal(0)
    return Restructure(
        on,
        reference,
        r.periods,
        loan.terms.rate_annual if rate is None else rate,
        RepaymentMethod(r.method) if r.method else loan.terms.method,
        ArrearsTreatment(r.arrears or ArrearsTreatment.KEEP.value),
        r.first_due_on,
        RestructureKind.PLAN if kind is RequestKind.PLAN else RestructureKind.RESCHEDULE,
        f"request {r.id}",
    )


def _apply(uow: RecoveryUnitOfWork, r: RecoveryRequest, on: date) -> Outcome:
    before = uow.loans.get(r.loan_no)
    assert before is not None
    event = _event(r, before, on)
    outcome = post_in(uow, r.loan_no, event)
    if outcome.code != ACCEPTED:
        return outcome
    after = uow.loans.get(r.loan_no)
    assert after is not None
    if isinstance(event, Restructure):
        return _record_restructuring(uow, r, event, before, after, outcome)
    if isinstance(event, WriteOff):
        amounts = written_off_amounts(before, after)
        values: dict[str, object] = {
            "written_off_on": on,
            "principal_fen": amounts[Component.PRINCIPAL],
            "interest_fen": amounts[Component.INTEREST],
            "penalty_fen": amounts[Component.PENALTY] + amounts[Component.COMPOUND],
            "fee_fen": amounts[Component.FEE],
            "cost_fen": amounts[Component.COST],
            "total_fen": sum(amounts.values()),
        }
        uow.recovery.add_write_off(event.reference, r.id, values)
        uow.recovery.mark_written_off(r.loan_no)
        total = int(str(values["total_fen"]))
        return Outcome(
            ACCEPTED,
            f"loan {r.loan_no} written off: ¥{yuan_text(total)}",
            r.loan_no,
            event.reference,
            {"written_off": yuan_text(total)},
        )
    return Outcome(ACCEPTED, outcome.message, r.loan_no, event.reference, outcome.detail)


def _record_restructuring(
    uow: RecoveryUnitOfWork, r: RecoveryRequest, event: Restructure, before: Loan, after: Loan, outcome: Outcome
) -> Outcome:
    old_nos = {i.no for i in before.installments}
    new_rows = [i for i in after.installments if i.no not in old_nos and i.due_date > event.on]
    new_principal = sum(i.principal.due for i in new_rows)
    capitalised = sum(Money.yuan(p["amount"]).fen for p in outcome.detail.get("allocation", []))
    first_due = min(i.due_date for i in new_rows)
    until = observation_end(first_due, after.terms.frequency)
    current = uow.overrides.current_grade(r.loan_no) or Grade.NORMAL.value
    floor = restructuring_floor(Grade(current))
    uow.recovery.add_restructuring(
        event.reference,
        r.id,
        {
            "kind": event.kind.value,
            "periods": event.periods,
            "rate_annual_ppm": rate_ppm(event.rate_annual),
            "method": event.method.value,
            "arrears": event.arrears.value,
            "first_due_on": event.first_due_on,
            "principal_before_fen": new_principal - capitalised,
            "capitalised_fen": capitalised,
            "new_principal_fen": new_principal,
            "observation_until": until,
            "floor_grade": floor.value,
        },
    )
    uow.recovery.mark_restructured(r.loan_no, until, floor.value)
    return Outcome(
        ACCEPTED,
        f"loan {r.loan_no} restructured: ¥{yuan_text(new_principal)} over {len(new_rows)} periods from {first_due}",
        r.loan_no,
        event.reference,
        {
            "new_principal": yuan_text(new_principal),
            "capitalised": yuan_text(capitalised),
            "first_due_date": first_due.isoformat(),
            "observation_until": until.isoformat(),
            "classification_floor": floor.value,
            "status": after.status.value,
        },
    )


def list_pending(
    uow: RecoveryUnitOfWork, limits: ApprovalLimits, status: str | None, role: str | None
) -> list[RecoveryRequest]:
    """Requests in `status`; with a role, only those the role may decide (its approval inbox)."""
    with uow:
        rows = uow.recovery.requests(status, None, 1000)
    if role is None:
        return rows
    return [r for r in rows if (tier := _tier(limits, r)) is not None and role in tier.roles]

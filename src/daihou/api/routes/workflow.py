"""Follow-up visits, early warnings, collection cases (contacts, promises), restructuring and
settlement requests, and approvals: thin routes over the workflows' own functions.

Every route checks a permission (roles.toml) and the caller's data scope (the loan or case must be
inside it, else 404), masks personal data in what it returns, and audits every write.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel, Field

from daihou.api.common import PageNo, PageSize, audited, case_in_scope, loan_in_scope, page_of, refusal
from daihou.api.deps import AppDep, require
from daihou.api.problems import Problem, responses
from daihou.api.schemas import Page
from daihou.domain.approval_limits import RequestKind
from daihou.domain.identity import mask_id_number, mask_mobile, mask_name
from daihou.domain.money import Money, MoneyFormatError, yuan_text
from daihou.domain.products import Component
from daihou.security.principal import Principal
from daihou.security.wiring import reads

router = APIRouter()

VisitRead = Annotated[Principal, Depends(require("visit.read"))]
VisitWrite = Annotated[Principal, Depends(require("visit.write"))]
WarningRead = Annotated[Principal, Depends(require("warning.read"))]
WarningWrite = Annotated[Principal, Depends(require("warning.write"))]
CaseRead = Annotated[Principal, Depends(require("case.read"))]
CaseWrite = Annotated[Principal, Depends(require("case.write"))]
RequestRead = Annotated[Principal, Depends(require("request.read"))]
RequestWrite = Annotated[Principal, Depends(require("request.write"))]
Decide = Annotated[Principal, Depends(require("approval.decide"))]

Id = Annotated[int, Path(ge=1, le=2**53, description="a record id")]
Day = Annotated[date | None, Query(ge=date(1990, 1, 1), le=date(2199, 12, 31))]

# keys that hold personal data in the workflows' records, and their masks
_PII_KEYS = {
    "mobile": mask_mobile,
    "phone": mask_mobile,
    "number": mask_mobile,
    "id_number": mask_id_number,
    "borrower_name": mask_name,
    "debtor_name": mask_name,
    "contact_name": mask_name,
}


def masked_json(value: Any) -> Any:
    """JSON of a workflow's record with personal data masked at any depth."""
    data = jsonable_encoder(value)
    return _mask(data)


def _mask(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: (_PII_KEYS[k](v) if k in _PII_KEYS and isinstance(v, str) else _mask(v)) for k, v in data.items()}
    if isinstance(data, list):
        return [_mask(v) for v in data]
    return data


def _in_scope_rows(app: AppDep, principal: Principal, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if principal.sees_all:
        return rows
    visible = reads(app).loan_nos_in_scope(principal, sorted({str(r["loan_no"]) for r in rows if r.get("loan_no")}))
    return [r for r in rows if r.get("loan_no") in visible]


# ---------------------------------------------------------------- visits


class VisitCreate(BaseModel):
    visit_type: str = Field(min_length=1, max_length=32, description="phone | onsite | …, see visit_policy.toml")
    visited_on: date = Field(ge=date(1990, 1, 1), le=date(2199, 12, 31))
    officers: list[str] = Field(min_length=1, max_length=10, description="who took part (on-site: at least two)")
    answers: dict[str, Any] = Field(default_factory=dict, description="checklist answers by question code")
    findings: str = Field(default="", max_length=4000)
    flags: list[str] = Field(default_factory=list, max_length=20)
    follow_up: str = Field(default="", max_length=2000)
    plan_id: int | None = Field(default=None, ge=1, le=2**62)


@router.get("/loans/{loan_no}/visits", tags=["visits"], responses=responses(401, 403, 404))
def loan_visits(loan_no: str, app: AppDep, principal: VisitRead) -> dict[str, Any]:
    """The loan's visit plans, records and cadence overrides."""
    from daihou.workflow import visits

    loan_in_scope(app, principal, loan_no)
    found = visits.build(app).loan(loan_no)
    if found is None:
        raise Problem(404, f"loan {loan_no} does not exist", "loan_not_found")
    return masked_json(found)  # type: ignore[no-any-return]


@router.get("/visits/due", tags=["visits"], responses=responses(401, 403, 422))
def visits_due(
    app: AppDep,
    principal: VisitRead,
    as_of: Day = None,
    within_days: Annotated[int, Query(ge=0, le=366)] = 7,
    overdue_only: bool = False,
) -> list[dict[str, Any]]:
    """Visits due within `within_days` of `as_of` (an officer sees only their own loans)."""
    from daihou.workflow import visits

    rows = visits.build(app).due(as_of or app.today(), principal.officer, overdue_only, within_days)
    return masked_json(_in_scope_rows(app, principal, rows))  # type: ignore[no-any-return]


@router.post("/loans/{loan_no}/visits", tags=["visits"], status_code=201, responses=responses(401, 403, 404, 422))
def record_visit(
    loan_no: str, body: VisitCreate, request: Request, app: AppDep, principal: VisitWrite
) -> dict[str, Any]:
    """Record a follow-up visit (贷后回访); completes the open plan and plans the next one."""
    from daihou.workflow import visits

    loan_in_scope(app, principal, loan_no)
    result = visits.build(app).record(
        loan_no,
        visit_type=body.visit_type,
        visited_on=body.visited_on,
        officers=body.officers,
        answers=body.answers,
        recorded_by=principal.username,
        findings=body.findings,
        flags=body.flags,
        follow_up=body.follow_up,
        plan_id=body.plan_id,
    )
    if isinstance(result, visits.NotRecorded):
        raise Problem(422, result.message, "visit_refused", problems=masked_json(result.problems))
    out = masked_json(result)
    audited(app, request, principal, "visit.record", "loan", loan_no, None, {**out, **body.model_dump(mode="json")})
    return out  # type: ignore[no-any-return]


# ---------------------------------------------------------------- warnings


class WarningStep(BaseModel):
    comment: str = Field(default="", max_length=2000)
    action: str | None = Field(default=None, max_length=64, description="for act: the rule's action to take")
    outcome: str | None = Field(default=None, max_length=64, description="for close: the outcome")


def _alert_json(alert: Any) -> dict[str, Any]:
    return masked_json(alert)  # type: ignore[no-any-return]


@router.get("/warnings", tags=["warnings"], responses=responses(401, 403, 422))
def list_warnings(
    app: AppDep,
    principal: WarningRead,
    status: Annotated[str | None, Query(max_length=32)] = None,
    loan_no: Annotated[str | None, Query(max_length=64)] = None,
    severity: Annotated[str | None, Query(max_length=16)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[dict[str, Any]]:
    """Early-warning alerts (风险预警) inside the caller's scope."""
    from daihou.workflow import warnings

    rows = warnings.build(app).alerts(status, [severity] if severity else None, None, loan_no, limit)
    return _in_scope_rows(app, principal, [_alert_json(a) for a in rows])


def _alert_in_scope(app: AppDep, principal: Principal, alert_id: int) -> Any:
    from daihou.workflow import warnings

    service = warnings.build(app)
    detail = service.show(alert_id)
    if not getattr(detail, "ok", True) or not hasattr(detail, "alert"):
        raise Problem(404, f"alert {alert_id} does not exist", "alert_not_found")
    if not principal.sees_all and reads(app).loan_scope(principal, detail.alert.loan_no) != "in":
        raise Problem(404, f"alert {alert_id} does not exist", "alert_not_found")
    return service, detail


@router.get("/warnings/{alert_id}", tags=["warnings"], responses=responses(401, 403, 404, 422))
def get_warning(alert_id: Id, app: AppDep, principal: WarningRead) -> dict[str, Any]:
    _, detail = _alert_in_scope(app, principal, alert_id)
    return masked_json(detail)  # type: ignore[no-any-return]


@router.post("/warnings/{alert_id}/{step}", tags=["warnings"], responses=responses(401, 403, 404, 422))
def warning_step(
    alert_id: Id,
    step: Literal["acknowledge", "act", "close"],
    body: WarningStep,
    request: Request,
    app: AppDep,
    principal: WarningWrite,
) -> dict[str, Any]:
    """Move an alert on: acknowledge it, take the rule's action, or close it with an outcome."""
    service, detail = _alert_in_scope(app, principal, alert_id)
    before = _alert_json(detail.alert)
    if step == "acknowledge":
        result = service.acknowledge(alert_id, principal.username, body.comment)
    elif step == "act":
        result = service.act(alert_id, principal.username, body.comment, body.action)
    else:
        result = service.close(alert_id, principal.username, body.comment, body.outcome)
    if not getattr(result, "ok", False):
        raise refusal(result)
    out = masked_json(result)
    audited(app, request, principal, f"warning.{step}", "alert", alert_id, before, out)
    return out  # type: ignore[no-any-return]


# ---------------------------------------------------------------- collection cases


class ContactCreate(BaseModel):
    channel: str = Field(min_length=1, max_length=16, description="call | sms | visit | letter | …")
    party: str = Field(min_length=1, max_length=16, description="debtor | contact | guarantor | …")
    started_at: datetime = Field(description="with a time zone")
    outcome: str = Field(min_length=1, max_length=32, description="connected | no_answer | promise | refused | …")
    ended_at: datetime | None = None
    notes: str = Field(default="", max_length=4000)
    number: str | None = Field(default=None, max_length=20, description="default: the debtor's mobile")
    recording_ref: str | None = Field(default=None, max_length=200)
    amount_demanded: str | None = Field(default=None, pattern=r"^\d{1,12}(\.\d{1,2})?$")


class PromisePart(BaseModel):
    due_on: date = Field(ge=date(1990, 1, 1), le=date(2199, 12, 31))
    amount: str = Field(pattern=r"^\d{1,12}(\.\d{1,2})?$")


class PromiseCreate(BaseModel):
    parts: list[PromisePart] = Field(min_length=1, max_length=36)
    contact_id: int | None = Field(default=None, ge=1, le=2**62)


def _fen(text: str, name: str) -> int:
    try:
        return Money.yuan(text).fen
    except MoneyFormatError as exc:
        raise Problem(422, f"{name}: {exc}", "invalid_amount") from None


@router.get("/cases", tags=["cases"], responses=responses(401, 403, 422))
def list_cases(
    app: AppDep,
    principal: CaseRead,
    page: PageNo = 1,
    size: PageSize = 50,
    status: Annotated[Literal["open", "closed"] | None, Query()] = "open",
) -> Page[dict[str, Any]]:
    """Collection cases (催收案件) inside the caller's scope: a collector's own, an agency's placements."""
    rows, total = reads(app).cases_page(principal, status, page, size)
    items = masked_json([{**r, **{k: yuan_text(r[k + "_fen"]) for k in _CASE_MONEY}} for r in rows])
    return Page[dict[str, Any]].model_validate(page_of(items, total, page, size))


_CASE_MONEY = ("balance", "overdue", "collectable", "collected")


@router.get("/cases/{case_id}", tags=["cases"], responses=responses(401, 403, 404, 422))
def get_case(case_id: Id, app: AppDep, principal: CaseRead) -> dict[str, Any]:
    """A case with its events, contacts and promises (phone numbers masked)."""
    from daihou.workflow import collections

    case_in_scope(app, principal, case_id)
    found = collections.case_detail(app, case_id)
    if found is None:
        raise Problem(404, f"case {case_id} does not exist", "case_not_found")
    return masked_json(found)  # type: ignore[no-any-return]


@router.post("/cases/{case_id}/contacts", tags=["cases"], status_code=201, responses=responses(401, 403, 404, 422))
def log_contact(
    case_id: Id, body: ContactCreate, request: Request, app: AppDep, principal: CaseWrite
) -> dict[str, Any]:
    """Log a contact (call, SMS, visit…). Conduct rules (quiet hours, caps, disputes, third parties,
    banned language) are checked; a refusal is recorded and answered as 422 with its code."""
    from daihou.workflow import collections

    case_in_scope(app, principal, case_id)
    if body.started_at.tzinfo is None or (body.ended_at is not None and body.ended_at.tzinfo is None):
        raise Problem(422, "started_at and ended_at need a time zone (e.g. +08:00)", "bad_time")
    contact = collections.ContactInput(
        case_id=case_id,
        channel=body.channel,
        party=body.party,
        started_at=body.started_at,
        outcome=body.outcome,
        collector=principal.username,
        number=body.number,
        ended_at=body.ended_at,
        notes=body.notes,
        recording_ref=body.recording_ref,
        amount_demanded_fen=_fen(body.amount_demanded, "amount_demanded") if body.amount_demanded else None,
    )
    result = collections.log_contact(app, contact)
    if not getattr(result, "ok", False):
        raise refusal(result)
    out = {"contact_id": result.contact_id}  # type: ignore[union-attr]
    audited(app, request, principal, "case.contact", "case", case_id, None, {**out, **masked_json(body)})
    return out


@router.post("/cases/{case_id}/promises", tags=["cases"], status_code=201, responses=responses(401, 403, 404, 422))
def make_promise(
    case_id: Id, body: PromiseCreate, request: Request, app: AppDep, principal: CaseWrite
) -> dict[str, Any]:
    """Record a promise to pay (承诺还款), or a plan of several parts."""
    from daihou.workflow import collections

    case_in_scope(app, principal, case_id)
    parts = [(p.due_on, _fen(p.amount, "amount")) for p in body.parts]
    result = collections.make_promise(app, case_id, parts, app.today(), principal.username, body.contact_id)
    if not getattr(result, "ok", False):
        raise refusal(result)
    out = masked_json(result)
    audited(app, request, principal, "case.promise", "case", case_id, None, {**out, **body.model_dump(mode="json")})
    return out  # type: ignore[no-any-return]


# ---------------------------------------------------------------- requests and approvals


class RequestCreate(BaseModel):
    kind: Literal["waiver", "extension", "reschedule", "plan"]
    reason: str = Field(min_length=1, max_length=400)
    component: str | None = Field(default=None, max_length=16, description="waiver: penalty, interest, fee, …")
    amount: str | None = Field(default=None, pattern=r"^\d{1,12}(\.\d{1,2})?$", description="waiver: yuan")
    months: int | None = Field(default=None, ge=1, le=120, description="extension: months added")
    periods: int | None = Field(default=None, ge=1, le=600, description="reschedule, plan: new number of periods")
    rate: str | None = Field(default=None, pattern=r"^\d{1,2}(\.\d{1,4})?$", description="annual rate in percent")


class DecisionCreate(BaseModel):
    approve: bool
    comment: str = Field(default="", max_length=2000)


def _done(outcome: Any) -> bool:
    """Filed, decided or applied: `pending_approval` is a success that waits for more checkers."""
    return bool(outcome.ok) or outcome.code == "pending_approval"


def _request_json(r: Any) -> dict[str, Any]:
    d = masked_json(r)
    d["amount"] = yuan_text(r.amount_fen)
    return d  # type: ignore[no-any-return]


@router.get("/requests", tags=["requests"], responses=responses(401, 403, 422))
def list_requests(
    app: AppDep,
    principal: RequestRead,
    status: Annotated[Literal["pending", "approved", "rejected"] | None, Query()] = None,
) -> list[dict[str, Any]]:
    """Restructuring, extension, settlement and write-off requests inside the caller's scope."""
    from daihou.workflow import recovery

    rows = [_request_json(r) for r in recovery.list_requests(app, status, None)]
    return _in_scope_rows(app, principal, rows)


@router.post("/loans/{loan_no}/requests", tags=["requests"], status_code=201, responses=responses(401, 403, 404, 422))
def file_request(
    loan_no: str, body: RequestCreate, request: Request, app: AppDep, principal: RequestWrite
) -> dict[str, Any]:
    """Ask for a waiver (减免), extension (展期), reschedule (重组) or repayment plan; checkers decide."""
    from daihou.service import restructuring as rs
    from daihou.workflow import recovery

    loan_in_scope(app, principal, loan_no)
    try:
        component = Component(body.component) if body.component else None
        rate = Decimal(body.rate) / 100 if body.rate is not None else None
    except (ValueError, InvalidOperation):
        raise Problem(422, f"component {body.component!r} is not a component", "invalid_request") from None
    spec = rs.RequestSpec(
        RequestKind(body.kind),
        loan_no,
        body.reason,
        principal.username,
        principal.role,
        component=component,
        amount_fen=_fen(body.amount, "amount") if body.amount else 0,
        months=body.months,
        periods=body.periods,
        rate_annual=rate if rate is not None else (Decimal(0) if body.kind == "plan" else None),
    )
    rec = recovery.build(app)
    outcome = rs.request(rec.uow(), rec.limits, spec)
    if not _done(outcome):
        raise refusal(outcome)
    out = {"code": outcome.code, "message": outcome.message, "loan_no": loan_no, **masked_json(outcome.detail)}
    audited(app, request, principal, "request.file", "loan", loan_no, None, {**out, **body.model_dump(mode="json")})
    return out


@router.get("/approvals", tags=["requests"], responses=responses(401, 403))
def approval_inbox(app: AppDep, principal: Decide) -> list[dict[str, Any]]:
    """Pending requests this role may decide (审批), inside the caller's scope."""
    from daihou.workflow import recovery

    rows = [_request_json(r) for r in recovery.list_requests(app, "pending", principal.role)]
    return _in_scope_rows(app, principal, rows)


@router.post("/requests/{request_id}/decision", tags=["requests"], responses=responses(401, 403, 404, 422))
def decide(request_id: Id, body: DecisionCreate, request: Request, app: AppDep, principal: Decide) -> dict[str, Any]:
    """Approve or reject (maker ≠ checker, within the role's limit); the last approval applies it."""
    from daihou.workflow import recovery

    found = [r for r in recovery.list_requests(app, None, None) if r.id == request_id]
    if not found or (not principal.sees_all and reads(app).loan_scope(principal, found[0].loan_no) != "in"):
        raise Problem(404, f"request {request_id} does not exist", "request_not_found")
    before = _request_json(found[0])
    outcome = recovery.decide(app, request_id, principal.username, principal.role, body.approve, body.comment)
    if not _done(outcome):
        raise refusal(outcome)
    out = {"code": outcome.code, "message": outcome.message, **masked_json(outcome.detail)}
    audited(app, request, principal, "request.decide", "request", request_id, before, {**out, **body.model_dump()})
    return out

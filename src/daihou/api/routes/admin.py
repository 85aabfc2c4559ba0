"""Reports, the audit log and users."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from daihou.analytics import portfolio
from daihou.api.common import PageNo, PageSize, audited, page_of
from daihou.api.deps import AppDep, require
from daihou.api.problems import Problem, responses
from daihou.api.schemas import AuditPublic, Page, PortfolioPublic, UserCreate, UserPublic
from daihou.domain.money import yuan_text
from daihou.security import audit, users
from daihou.security.ports import UserRecord
from daihou.security.principal import Principal

router = APIRouter()

ReportRead = Annotated[Principal, Depends(require("report.read"))]
AuditRead = Annotated[Principal, Depends(require("audit.read"))]
UserManage = Annotated[Principal, Depends(require("user.manage"))]


@router.get("/reports/portfolio", tags=["reports"], responses=responses(401, 403, 404, 422))
def portfolio_report(
    app: AppDep,
    principal: ReportRead,
    on: Annotated[
        date | None,
        Query(
            alias="date",
            description="a closed business date (default: the last one)",
            ge=date(1990, 1, 1),
            le=date(2199, 12, 31),
        ),
    ] = None,
) -> PortfolioPublic:
    """Book size, balances by bucket and class, NPL ratio, provisions and coverage (from the snapshots)."""
    days = portfolio.snapshot_days(app.settings.data_dir)
    day = on or (days[-1] if days else None)
    if day is None or day not in days:
        raise Problem(404, f"no closed business day {day or ''} in the snapshots".replace("  ", " "), "no_snapshot")
    s = portfolio.summary(app.settings.data_dir, day)
    return PortfolioPublic(
        date=s.day,
        loans=s.loans,
        outstanding=yuan_text(s.outstanding_fen),
        npl=yuan_text(s.npl_fen),
        npl_ratio=round(s.npl_ratio, 6),
        provision=yuan_text(s.provision_fen),
        coverage=round(s.coverage, 6),
        provision_to_loan=round(s.provision_to_loan, 6),
        by_bucket={k: yuan_text(v) for k, v in sorted(s.by_bucket_fen.items())},
        by_class={k: yuan_text(v) for k, v in sorted(s.by_class_fen.items())},
    )


@router.get("/audit", tags=["audit"], responses=responses(401, 403, 422))
def audit_log(
    app: AppDep,
    principal: AuditRead,
    page: PageNo = 1,
    size: PageSize = 50,
    entity: Annotated[str | None, Query(max_length=32)] = None,
    entity_id: Annotated[str | None, Query(max_length=64)] = None,
    actor: Annotated[str | None, Query(max_length=64)] = None,
    action: Annotated[
        str | None, Query(max_length=64, description="e.g. pii.reveal: who saw which personal data")
    ] = None,
) -> Page[AuditPublic]:
    """The append-only audit log, newest first."""
    rows, total = audit.entries(app, entity, entity_id, actor, action, size, (page - 1) * size)
    items = [{**r, "at": r["at"].isoformat()} for r in rows]
    return Page[AuditPublic].model_validate(page_of(items, total, page, size))


def _user_public(u: UserRecord) -> UserPublic:
    return UserPublic(
        username=u.username,
        display_name=u.display_name,
        role=u.role,
        active=u.active,
        agency_id=u.agency_id,
        borrower_id=u.borrower_id,
    )


@router.get("/users", tags=["users"], responses=responses(401, 403))
def list_users(app: AppDep, principal: UserManage) -> list[UserPublic]:
    return [_user_public(u) for u in users.list_users(app)]


@router.post("/users", tags=["users"], status_code=201, responses=responses(401, 403, 409, 422))
def add_user(body: UserCreate, request: Request, app: AppDep, principal: UserManage) -> UserPublic:
    """Add a user (the password is hashed with argon2id; it is never stored or logged)."""
    result = users.add_user(
        app, body.username, body.password, body.role, body.display_name, body.agency_id, body.borrower_no
    )
    if isinstance(result, users.UserRefused):
        raise Problem(409 if result.code == "user_exists" else 422, result.message, result.code)
    out = _user_public(result)
    audited(app, request, principal, "user.add", "user", result.username, None, out.model_dump())
    return out

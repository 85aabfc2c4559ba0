"""Shared pieces of the API routes: pagination, scope checks, audit of writes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request

from daihou import bootstrap
from daihou.api.deps import client_ip
from daihou.api.problems import Problem
from daihou.security import audit
from daihou.security.principal import Principal
from daihou.security.wiring import reads

PageNo = Annotated[int, Query(ge=1, le=1_000_000, description="page number, from 1")]
PageSize = Annotated[int, Query(ge=1, le=200, description="items per page")]


def page_of(items: list[Any], total: int, page: int, size: int) -> dict[str, Any]:
    return {"items": items, "total": total, "page": page, "size": size}


def loan_in_scope(app: bootstrap.App, principal: Principal, loan_no: str) -> None:
    """404 for a loan that does not exist and for one outside the caller's scope (no existence leak)."""
    if reads(app).loan_scope(principal, loan_no) != "in":
        raise Problem(404, f"loan {loan_no} does not exist", "loan_not_found")


def borrower_in_scope(app: bootstrap.App, principal: Principal, borrower_no: str) -> None:
    if reads(app).borrower_scope(principal, borrower_no) != "in":
        raise Problem(404, f"borrower {borrower_no} does not exist", "borrower_not_found")


def case_in_scope(app: bootstrap.App, principal: Principal, case_id: int) -> None:
    if reads(app).case_scope(principal, case_id) != "in":
        raise Problem(404, f"case {case_id} does not exist", "case_not_found")


def audited(
    app: bootstrap.App,
    request: Request,
    principal: Principal,
    action: str,
    entity: str,
    entity_id: str | int,
    before: Any = None,
    after: Any = None,
) -> None:
    audit.record(app, principal, action, entity, entity_id, before, after, client_ip(request))


def refusal(result: Any, status: int = 422) -> Problem:
    """A business refusal (a returned value with `code` and `message`/`reason`) as a problem."""
    message = getattr(result, "message", None) or getattr(result, "reason", None) or str(result)
    code = getattr(result, "code", "refused")
    return Problem(status, str(message), str(getattr(code, "value", code)))

"""Administration pages of the staff application: users and roles (`user.manage`), reminder
templates and the risk rules in force (`rules.manage`). Every change goes through the security or
workflow module that owns it and is audited."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from daihou.api.deps import client_ip
from daihou.security import audit, users
from daihou.security.roles import load as load_roles
from daihou.web.access import Csrf, Staff, ctx, need, verdict
from daihou.web.render import daihou_app, page

router = APIRouter(include_in_schema=False, prefix="/admin")


def _users_page(request: Request, principal: Any, status: int = 200, **extra: Any) -> Response:
    book = load_roles()
    return page(request, "staff/admin_users.html", status, **ctx(principal, users=users.list_users(daihou_app(request)),
                roles=book.roles, permissions=book.permissions, **extra))  # fmt: skip


@router.get("/users", response_class=HTMLResponse)
def users_page(request: Request, principal: Staff) -> Response:
    need(principal, "user.manage")
    return _users_page(request, principal)


@router.post("/users", response_class=HTMLResponse)
def add_user(
    request: Request,
    principal: Staff,
    _: Csrf,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    role: Annotated[str, Form()],
    display_name: Annotated[str, Form()] = "",
    agency_id: Annotated[str, Form()] = "",
    borrower_no: Annotated[str, Form()] = "",
) -> Response:
    need(principal, "user.manage")
    app = daihou_app(request)
    agency = int(agency_id) if agency_id.strip().isdigit() else None
    result = users.add_user(app, username.strip(), password, role, display_name.strip() or None, agency,
                            borrower_no.strip() or None)  # fmt: skip
    if isinstance(result, users.UserRefused):
        return _users_page(request, principal, 409, error=f"{result.code}: {result.message}")
    audit.record(app, principal, "user.add", "user", result.username, None, {"role": role}, client_ip(request))
    return _users_page(request, principal, message=result.username)


@router.post("/users/{username}/{state}", response_class=HTMLResponse)
def set_active(request: Request, username: str, state: str, principal: Staff, _: Csrf) -> Response:
    need(principal, "user.manage")
    if state not in ("enable", "disable") or username == principal.username:
        return verdict("refused: one cannot disable oneself" if state == "disable" else "refused")
    app = daihou_app(request)
    result = users.set_active(app, username, state == "enable")
    if isinstance(result, users.UserRefused):
        return verdict(f"{result.code}: {result.message}")
    audit.record(app, principal, f"user.{state}", "user", username, None, None, client_ip(request))
    return verdict(None)


@router.get("/templates", response_class=HTMLResponse)
def templates_page(request: Request, principal: Staff) -> Response:
    need(principal, "rules.manage")
    from daihou.workflow import reminders

    service = reminders.build(daihou_app(request))
    return page(request, "staff/admin_templates.html", **ctx(principal, templates=service.templates(),
                policy=service.policy))  # fmt: skip


@router.post("/templates/{template_id}/activate", response_class=HTMLResponse)
def activate_template(request: Request, template_id: str, principal: Staff, _: Csrf) -> Response:
    """Let a reminder template send (it must pass the language check: no threats, no debt to contacts)."""
    need(principal, "rules.manage")
    from daihou.workflow import reminders

    app = daihou_app(request)
    result = reminders.build(app).activate(template_id, principal.username)
    if isinstance(result, reminders.Rejected):
        return verdict(f"{result.code}: {result.reason}")
    audit.record(app, principal, "template.activate", "template", template_id, None, {"digest": result.digest},
                 client_ip(request))  # fmt: skip
    return verdict(None)


@router.get("/rules", response_class=HTMLResponse)
def rules_page(request: Request, principal: Staff) -> Response:
    """The risk rules (buckets, classification floors, provision rates, stage thresholds) by version."""
    need(principal, "rules.manage")
    versions = daihou_app(request).cob_store().rule_versions()
    return page(request, "staff/admin_rules.html", **ctx(principal, versions=versions))

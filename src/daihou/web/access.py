"""Who is asking, for the staff pages: the session's principal (or a redirect to the login page),
permission checks, the CSRF dependency, and the small answers HTMX buttons swap in."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.responses import HTMLResponse

from daihou.api.deps import csrf_protect, optional_principal
from daihou.security.principal import Principal


def staff(request: Request) -> Principal:
    """The signed-in person; a browser without a session is sent to the login page."""
    principal = optional_principal(request)
    if principal is None or principal.via != "session":
        raise HTTPException(303, headers={"Location": f"/login?next={request.url.path}"})
    if principal.role == "borrower":
        raise HTTPException(303, headers={"Location": "/portal/home"})
    return principal


Staff = Annotated[Principal, Depends(staff)]
Csrf = Annotated[None, Depends(csrf_protect)]


def need(principal: Principal, permission: str) -> None:
    if not principal.can(permission):
        raise HTTPException(403, f"role {principal.role} may not {permission}")


def home_of(principal: Principal) -> str:
    """Where a role starts its day."""
    if principal.can("report.read"):
        return "/dashboard"
    if principal.can("case.write"):
        return "/workbench"
    if principal.can("warning.write") or principal.can("visit.write"):
        return "/warnings"
    return "/loans"


def ctx(principal: Principal, **extra: Any) -> dict[str, Any]:
    return {"me": principal, "csrf_token": principal.csrf_token or "", **extra}


def verdict(error: str | None) -> HTMLResponse:
    """The small answer an HTMX button swaps in place of itself."""
    from markupsafe import escape

    text = escape(error) if error else "✓"
    return HTMLResponse(f'<span class="{"bad" if error else "ok"}">{text}</span>', 409 if error else 200)

"""FastAPI dependencies shared by the API and the web pages.

- `get_app`: the `bootstrap.App` behind this FastAPI application.
- `current_principal`: the caller, from the session cookie `daihou_session` or `Authorization: Bearer`;
  401 problem when neither is valid. `optional_principal`: the same, or None (pages redirect to login).
- `require("perm")`: a dependency that returns the principal or answers 403.
- `csrf_protect`: on unsafe methods of session-authenticated requests, the `X-CSRF-Token` header or
  the `csrf_token` form field must equal the `daihou_csrf` cookie and the session's own token.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request

from daihou import bootstrap
from daihou.api.problems import Problem
from daihou.security import sessions, tokens
from daihou.security.principal import Principal

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def app_of(request: Request) -> bootstrap.App:
    application: bootstrap.App = request.app.state.daihou
    return application


async def get_app(request: Request) -> bootstrap.App:
    """The App (a coroutine: FastAPI runs it on the event loop, no thread hop)."""
    return app_of(request)


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _bearer(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def optional_principal(request: Request) -> Principal | None:
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    application = app_of(request)
    bearer = _bearer(request)
    if bearer is not None:
        principal = tokens.resolve(application, bearer)
    else:
        principal = sessions.resolve(application, request.cookies.get(sessions.SESSION_COOKIE, ""))
    request.state.principal = principal
    return principal


async def current_principal(request: Request) -> Principal:
    # runs on the event loop: one indexed lookup, cheaper than a hop to the thread pool
    principal = optional_principal(request)
    if principal is None:
        raise Problem(
            401,
            "log in (session cookie) or send an API token (Authorization: Bearer …)",
            "not_authenticated",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return principal


async def csrf_protect(request: Request) -> None:
    """Refuse an unsafe session-authenticated request whose CSRF token does not match (403 csrf_failed)."""
    if request.method in SAFE_METHODS:
        return
    principal = optional_principal(request)
    if principal is None or principal.via != "session":
        return  # bearer tokens are not sent by browsers on their own: no CSRF exposure
    sent = request.headers.get(sessions.CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(sessions.CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    cookie = request.cookies.get(sessions.CSRF_COOKIE, "")
    expected = principal.csrf_token or ""
    if not sent or not hmac.compare_digest(sent, cookie) or not hmac.compare_digest(sent, expected):
        raise Problem(403, "the CSRF token is missing or does not match (请刷新页面后重试)", "csrf_failed")


def require(permission: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the current principal if it has `permission`, else 403 forbidden."""

    async def dependency(
        principal: Annotated[Principal, Depends(current_principal)],
        _csrf: Annotated[None, Depends(csrf_protect)],
    ) -> Principal:
        if not principal.can(permission):
            raise Problem(403, f"role {principal.role} may not {permission}", "forbidden")
        return principal

    dependency.permission = permission  # type: ignore[attr-defined]  # read by the authorization matrix test
    return dependency


AppDep = Annotated[bootstrap.App, Depends(get_app)]
PrincipalDep = Annotated[Principal, Depends(current_principal)]

"""Sessions for API clients that are people (a browser app): log in, log out, who am I."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from daihou.api.deps import AppDep, PrincipalDep, client_ip, csrf_protect
from daihou.api.problems import Problem, responses
from daihou.security import policy, sessions
from daihou.security.principal import Principal

router = APIRouter(tags=["session"])


class LoginCreate(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=200)


class PrincipalPublic(BaseModel):
    user_id: int
    username: str
    role: str
    display_name: str
    scope: str
    permissions: list[str]
    via: str


class SessionPublic(BaseModel):
    principal: PrincipalPublic
    csrf_token: str
    expires_at: str


def principal_public(p: Principal) -> PrincipalPublic:
    return PrincipalPublic(
        user_id=p.user_id,
        username=p.username,
        role=p.role,
        display_name=p.display_name,
        scope=p.scope.value,
        permissions=sorted(p.permissions),
        via=p.via,
    )


def set_session_cookies(response: Response, session: sessions.Session, secure: bool = False) -> None:
    """The session cookie (HttpOnly) and the CSRF cookie (readable by the page's script), both SameSite=Lax."""
    max_age = policy.load().session_lifetime_s
    response.set_cookie(
        sessions.SESSION_COOKIE, session.token, max_age=max_age, httponly=True, samesite="lax", secure=secure, path="/"
    )
    response.set_cookie(
        sessions.CSRF_COOKIE,
        session.csrf_token,
        max_age=max_age,
        httponly=False,
        samesite="lax",
        secure=secure,
        path="/",
    )


def clear_session_cookies(response: Response) -> None:
    response.delete_cookie(sessions.SESSION_COOKIE, path="/")
    response.delete_cookie(sessions.CSRF_COOKIE, path="/")


@router.post("/session", status_code=201, responses=responses(401, 422, 429))
def login(body: LoginCreate, request: Request, response: Response, app: AppDep) -> SessionPublic:
    """Log in: sets the `daihou_session` (HttpOnly) and `daihou_csrf` cookies."""
    result = sessions.login(app, body.username, body.password, client_ip(request))
    if isinstance(result, sessions.Refused):
        if result.code == sessions.RATE_LIMITED:
            raise Problem(429, result.message, result.code, headers={"Retry-After": str(result.retry_after_s)})
        raise Problem(401, result.message, result.code)
    set_session_cookies(response, result, request.url.scheme == "https")
    return SessionPublic(
        principal=principal_public(result.principal),
        csrf_token=result.csrf_token,
        expires_at=result.expires_at.isoformat(),
    )


@router.get("/session", responses=responses(401))
def me(principal: PrincipalDep) -> PrincipalPublic:
    """Who the caller is: role, scope and permissions."""
    return principal_public(principal)


@router.delete("/session", status_code=204, responses=responses(401, 403))
def logout(
    request: Request,
    response: Response,
    app: AppDep,
    principal: PrincipalDep,
    _: Annotated[None, Depends(csrf_protect)],
) -> Response:
    """Log out: ends the server-side session."""
    sessions.logout(app, request.cookies.get(sessions.SESSION_COOKIE, ""))
    out = Response(status_code=204)
    clear_session_cookies(out)
    return out

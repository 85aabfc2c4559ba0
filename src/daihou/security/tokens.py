"""API tokens for systems: `Authorization: Bearer dh_…`. Stored hashed; each is scoped to a role.

A token acts as its user (for the audit log and data scope) with the token's role, which may be the
user's role or a narrower read-only one (`auditor`): a token never has more than its user.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from daihou.security.principal import Principal, principal_for
from daihou.security.roles import load
from daihou.security.sessions import _aware, digest
from daihou.security.wiring import store

if TYPE_CHECKING:
    from daihou.bootstrap import App

PREFIX = "dh_"


@dataclass(frozen=True, slots=True)
class IssuedToken:
    id: int
    token: str  # shown once
    name: str
    username: str
    role: str


def issue(
    app: App, username: str, name: str, role: str | None = None, expires_at: datetime | None = None
) -> IssuedToken:
    s = store(app)
    user = s.user_by_username(username)
    if user is None:
        raise ValueError(f"user {username!r} does not exist")
    role = role or user.role
    book = load()
    if not book.role(role).permissions <= book.role(user.role).permissions:
        raise ValueError(f"a token of {username} ({user.role}) cannot have the wider role {role}")
    token = PREFIX + secrets.token_urlsafe(32)
    token_id = s.add_token(name, user.id, role, digest(token), app.clock.now(), expires_at)
    return IssuedToken(token_id, token, name, username, role)


def resolve(app: App, token: str) -> Principal | None:
    if not token.startswith(PREFIX):
        return None
    found = store(app).token(digest(token))
    if found is None:
        return None
    tok, user = found
    now = app.clock.now()
    if tok.revoked_at is not None or not user.active:
        return None
    if tok.expires_at is not None and now >= _aware(tok.expires_at, now):
        return None
    return principal_for(user.id, user.username, tok.role, user.display_name, user.agency_id, user.borrower_id, "token")


def revoke(app: App, token_id: int) -> bool:
    return store(app).revoke_token(token_id, app.clock.now())

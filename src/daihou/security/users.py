"""Users: add, list, change password, disable. Refusals are returned values with a code."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from daihou.security import passwords, policy
from daihou.security.ports import UserRecord
from daihou.security.roles import Scope, load
from daihou.security.wiring import store

if TYPE_CHECKING:
    from daihou.bootstrap import App

_USERNAME = re.compile(r"^[A-Za-z0-9_.@+-]{2,64}$")


@dataclass(frozen=True, slots=True)
class UserRefused:
    code: str  # bad_username | unknown_role | weak_password | user_exists | no_such_user | scope_missing
    message: str

    ok = False


def add_user(
    app: App,
    username: str,
    password: str,
    role: str,
    display_name: str | None = None,
    agency_id: int | None = None,
    borrower_no: str | None = None,
) -> UserRecord | UserRefused:
    s = store(app)
    if not _USERNAME.match(username):
        return UserRefused("bad_username", f"username {username!r}: 2-64 letters, digits or _ . @ + -")
    book = load()
    if role not in book.roles:
        return UserRefused("unknown_role", f"role {role!r}: use one of {', '.join(book.roles)}")
    problem = passwords.password_problem(password, policy.load().password_min_length)
    if problem:
        return UserRefused("weak_password", problem)
    if s.user_by_username(username) is not None:
        return UserRefused("user_exists", f"user {username!r} already exists")
    scope = book.role(role).scope
    borrower_id = None
    if scope is Scope.BORROWER:
        if not borrower_no:
            return UserRefused("scope_missing", "a borrower user needs --borrower BORROWER_NO")
        borrower_id = s.borrower_id(borrower_no)
        if borrower_id is None:
            return UserRefused("scope_missing", f"borrower {borrower_no} does not exist")
    if scope is Scope.AGENCY and agency_id is None:
        return UserRefused("scope_missing", "an agency user needs --agency AGENCY_ID")
    user_id = s.add_user(
        username,
        display_name or username,
        role,
        passwords.hash_password(password),
        agency_id,
        borrower_id,
        app.clock.now(),
    )
    user = s.user_by_id(user_id)
    assert user is not None
    return user


def set_password(app: App, username: str, password: str) -> UserRecord | UserRefused:
    """Change a password and end the user's open sessions."""
    s = store(app)
    user = s.user_by_username(username)
    if user is None:
        return UserRefused("no_such_user", f"user {username!r} does not exist")
    problem = passwords.password_problem(password, policy.load().password_min_length)
    if problem:
        return UserRefused("weak_password", problem)
    now = app.clock.now()
    s.set_password(user.id, passwords.hash_password(password), now)
    s.end_user_sessions(user.id, now)
    return user


def set_active(app: App, username: str, active: bool) -> UserRecord | UserRefused:
    s = store(app)
    user = s.user_by_username(username)
    if user is None:
        return UserRefused("no_such_user", f"user {username!r} does not exist")
    s.set_active(user.id, active)
    if not active:
        s.end_user_sessions(user.id, app.clock.now())
    return user


def list_users(app: App) -> list[UserRecord]:
    return store(app).users()

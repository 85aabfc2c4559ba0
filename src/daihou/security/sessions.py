"""Server-side sessions for people: login with rate limiting, resolve a cookie, logout.

The cookie `daihou_session` carries a random token (256 bits); the store keeps only its SHA-256, so a
copy of the database cannot be replayed as a login. A session ends at its lifetime, after the idle
timeout, or at logout (policy.toml). Each session has its own CSRF token, sent to the browser in the
readable cookie `daihou_csrf` and expected back in the `X-CSRF-Token` header or a `csrf_token` form
field on every unsafe request (double submit, also compared with the server's copy).

Login rate limiting is persisted in `login_attempts` (so it holds across restarts and processes):
at most `max_failures_per_user_ip` failed logins per username and IP address, and
`max_failures_per_ip` per IP address, within `window_s`; then logins are refused until the window moves.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from daihou.security import passwords, policy
from daihou.security.principal import Principal, principal_for
from daihou.security.wiring import store

if TYPE_CHECKING:
    from daihou.bootstrap import App

SESSION_COOKIE = "daihou_session"
CSRF_COOKIE = "daihou_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"

RATE_LIMITED = "rate_limited"
BAD_CREDENTIALS = "bad_credentials"
INACTIVE = "inactive"


@dataclass(frozen=True, slots=True)
class Session:
    token: str  # the cookie value; never stored
    csrf_token: str
    principal: Principal
    expires_at: datetime

    ok = True


@dataclass(frozen=True, slots=True)
class Refused:
    code: str  # rate_limited | bad_credentials | inactive
    message: str
    retry_after_s: int | None = None

    ok = False


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def login(app: App, username: str, password: str, ip: str) -> Session | Refused:
    """Check the password and open a session, unless this username and address are rate limited."""
    pol = policy.load()
    s = store(app)
    now = app.clock.now()
    per_user_ip, per_ip = s.failures_since(username, ip, now - timedelta(seconds=pol.login_window_s))
    if per_user_ip >= pol.max_failures_per_user_ip or per_ip >= pol.max_failures_per_ip:
        return Refused(
            RATE_LIMITED,
            f"too many failed logins from {ip}; try again in {pol.login_window_s // 60} minutes "
            "(登录失败次数过多，请稍后再试)",
            pol.login_window_s,
        )
    user = s.user_by_username(username)
    ok = passwords.verify_password(user.password_hash if user else None, password)
    s.record_attempt(username, ip, ok, now)
    if not ok or user is None:
        return Refused(BAD_CREDENTIALS, "wrong username or password (用户名或密码错误)")
    if not user.active:
        return Refused(INACTIVE, "this user is disabled (用户已停用)")
    if passwords.needs_rehash(user.password_hash):
        s.set_password(user.id, passwords.hash_password(password), now)
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    expires = now + timedelta(seconds=pol.session_lifetime_s)
    session_id = s.create_session(user.id, digest(token), csrf, ip, now, expires)
    principal = principal_for(
        user.id,
        user.username,
        user.role,
        user.display_name,
        user.agency_id,
        user.borrower_id,
        "session",
        session_id,
        csrf,
    )
    return Session(token, csrf, principal, expires)


def resolve(app: App, token: str) -> Principal | None:
    """The principal of a live session cookie, or None (unknown, ended, expired, idle too long, user disabled)."""
    if not token:
        return None
    found = store(app).session(digest(token))
    if found is None:
        return None
    sess, user = found
    now = app.clock.now()
    pol = policy.load()
    if sess.ended_at is not None or not user.active:
        return None
    if now >= _aware(sess.expires_at, now) or now - _aware(sess.last_seen_at, now) > timedelta(
        seconds=pol.idle_timeout_s
    ):
        store(app).end_session(digest(token), now)
        return None
    if now - _aware(sess.last_seen_at, now) >= timedelta(seconds=pol.touch_every_s):
        store(app).touch_session(sess.id, now)
    return principal_for(
        user.id,
        user.username,
        user.role,
        user.display_name,
        user.agency_id,
        user.borrower_id,
        "session",
        sess.id,
        sess.csrf_token,
    )


def logout(app: App, token: str) -> bool:
    """End the session of this cookie value; True if one was open."""
    return bool(token) and store(app).end_session(digest(token), app.clock.now())


def _aware(value: datetime, like: datetime) -> datetime:
    """SQLite hands back naive datetimes (stored as UTC-less text): read them in the clock's zone."""
    if value.tzinfo is None and like.tzinfo is not None:
        return value.replace(tzinfo=like.tzinfo)
    return value

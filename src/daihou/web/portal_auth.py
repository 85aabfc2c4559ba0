"""Borrower portal sign-in: mobile number and password, then a one-time code sent by SMS.

- Passwords are argon2id (`daihou.security.passwords`). Five wrong passwords lock the account for
  15 minutes; the answer never says whether the mobile number has an account.
- The SMS code (6 digits) is stored as sha256(salt + code), lives 5 minutes, allows 5 tries and
  opens one session. At most `codes_per_hour` (5) codes per account per hour.
- Sessions are random tokens (the cookie), stored as their sha256, with a CSRF token; 30 minutes.

The code goes out through the SMS channel port (`daihou.channels.sms.AliyunStyleSms` when
configured, DAIHOU_CHANNELS_SMS_*). Without an SMS gateway the code can only be shown on the page
when `DAIHOU_PORTAL_DEV_SHOW_CODE=true` (demo on 127.0.0.1 only).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic_settings import BaseSettings, SettingsConfigDict

from daihou.channels.ports import ChannelPort, Failed, Message
from daihou.security.passwords import hash_password, verify_password

CODE_TTL = timedelta(minutes=5)
CODE_TRIES = 5
MAX_FAILURES = 5
LOCK = timedelta(minutes=15)
SESSION_TTL = timedelta(minutes=30)


class PortalSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DAIHOU_PORTAL_", extra="ignore")

    otp_template: str = "SMS_PORTAL_OTP"  # the provider-registered template with a ${code} variable
    dev_show_code: bool = False
    codes_per_hour: int = 5  # SMS codes one account may ask for in an hour
    max_upload_bytes: int = 5 * 1024 * 1024
    upload_types: tuple[str, ...] = ("application/pdf", "image/jpeg", "image/png")


@dataclass(frozen=True, slots=True)
class Refusal:
    code: str  # bad_credentials, locked, too_many_codes, sms_failed, code_expired, code_wrong, code_used
    message_key: str


@dataclass(frozen=True, slots=True)
class Challenge:
    challenge: str
    shown_code: str | None  # only with dev_show_code and no SMS gateway


@dataclass(frozen=True, slots=True)
class Session:
    token: str
    csrf_token: str


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def enrol(store: Any, mobile: str, password: str, now: datetime) -> int | None:
    """Open a portal account for the borrower with this mobile number (None: no such borrower or
    an account exists)."""
    borrower = store.borrower_by_mobile(mobile)
    if borrower is None:
        return None
    account_id: int | None = store.add_account(borrower["id"], mobile, hash_password(password), now)
    return account_id


def start(
    store: Any, sms: ChannelPort | None, settings: PortalSettings, mobile: str, password: str, now: datetime,
    locale: str, security_user: Callable[[str], tuple[int, str] | None] | None = None,
) -> Challenge | Refusal:  # fmt: skip
    """Check the password and send a code. `security_user(mobile)` finds a borrower user of the
    security module (borrower id, password hash) for a mobile number without a portal account yet."""
    mobile = mobile.strip()
    account = store.account_by_mobile(mobile)
    found = security_user(mobile) if account is None and security_user is not None else None
    if found is not None and verify_password(found[1], password):
        store.add_account(found[0], mobile, found[1], now)
        account = store.account_by_mobile(mobile)
    if account is None:
        verify_password(None, password)  # same time as a real check: no account enumeration
        return Refusal("bad_credentials", "portal.err.bad_credentials")
    locked = account["locked_until"]
    if locked is not None and _aware(locked, now) > now:
        return Refusal("locked", "portal.err.locked")
    if not verify_password(account["password_hash"], password):
        failures = account["failed_logins"] + 1
        store.login_failed(account["id"], now + LOCK if failures >= MAX_FAILURES else None)
        return Refusal("bad_credentials", "portal.err.bad_credentials")
    if store.codes_since(account["id"], now - timedelta(hours=1)) >= settings.codes_per_hour:
        return Refusal("too_many_codes", "portal.err.too_many_codes")
    code = f"{secrets.randbelow(1_000_000):06d}"
    challenge, salt = secrets.token_urlsafe(24), secrets.token_hex(8)
    store.add_code(account["id"], challenge, _digest(salt + code), salt, now + CODE_TTL, now)
    if sms is None:
        if not settings.dev_show_code:
            return Refusal("sms_failed", "portal.err.no_sms")
        store.set_code_sent(challenge, "shown")
        return Challenge(challenge, code)
    outcome = sms.send(
        Message(0, "sms", account["mobile"], "", "", locale, account["borrower_id"], settings.otp_template,
                {"code": code})
    )  # fmt: skip
    store.set_code_sent(challenge, outcome.code if isinstance(outcome, Failed) else "sent")
    if isinstance(outcome, Failed):
        return Refusal("sms_failed", "portal.err.sms_failed")
    return Challenge(challenge, None)


def verify(store: Any, challenge: str, code: str, now: datetime) -> Session | Refusal:
    """Check the SMS code and open a session."""
    row = store.code(challenge)
    if row is None or row["used_at"] is not None:
        return Refusal("code_used", "portal.err.code_used")
    if _aware(row["expires_at"], now) <= now or row["attempts"] >= CODE_TRIES:
        return Refusal("code_expired", "portal.err.code_expired")
    store.code_attempt(challenge)
    if not secrets.compare_digest(_digest(row["salt"] + code.strip()), row["code_hash"]):
        return Refusal("code_wrong", "portal.err.code_wrong")
    if not store.use_code(challenge, now):
        return Refusal("code_used", "portal.err.code_used")
    store.login_succeeded(row["account_id"], now)
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    store.add_session(_digest(token), row["account_id"], csrf, now + SESSION_TTL, now)
    return Session(token, csrf)


def resolve(store: Any, token: str | None, now: datetime) -> dict[str, Any] | None:
    """The session behind a cookie: account_id, borrower_id, csrf_token; None when absent or expired."""
    if not token:
        return None
    row: dict[str, Any] | None = store.session(_digest(token))
    if row is None or _aware(row["expires_at"], now) <= now:
        return None
    return row


def end(store: Any, token: str | None) -> None:
    if token:
        store.end_session(_digest(token))


def _aware(value: datetime, now: datetime) -> datetime:
    """SQLite returns naive UTC datetimes; compare them as UTC."""
    if value.tzinfo is None:
        from datetime import UTC

        return value.replace(tzinfo=UTC)
    return value

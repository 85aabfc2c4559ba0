"""What security needs from a store (implemented by `daihou.storage.security_store`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: int
    username: str
    display_name: str
    role: str
    password_hash: str
    active: bool
    agency_id: int | None
    borrower_id: int | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class SessionRecord:
    id: int
    user_id: int
    csrf_token: str
    created_at: datetime
    expires_at: datetime
    last_seen_at: datetime
    ended_at: datetime | None


@dataclass(frozen=True, slots=True)
class TokenRecord:
    id: int
    name: str
    user_id: int
    role: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: datetime
    actor: str
    actor_role: str
    action: str
    entity: str
    entity_id: str
    before: Any = None
    after: Any = None
    ip: str | None = None


@dataclass(frozen=True, slots=True)
class StoredResponse:
    request_sha256: str
    status_code: int
    body: Any


class SecurityStore(Protocol):
    # users
    def user_by_username(self, username: str) -> UserRecord | None: ...
    def user_by_id(self, user_id: int) -> UserRecord | None: ...
    def add_user(
        self,
        username: str,
        display_name: str,
        role: str,
        password_hash: str,
        agency_id: int | None,
        borrower_id: int | None,
        now: datetime,
    ) -> int: ...
    def set_password(self, user_id: int, password_hash: str, now: datetime) -> None: ...
    def set_active(self, user_id: int, active: bool) -> None: ...
    def users(self) -> list[UserRecord]: ...
    def borrower_id(self, borrower_no: str) -> int | None: ...

    # login attempts
    def failures_since(self, username: str, ip: str, since: datetime) -> tuple[int, int]: ...
    def record_attempt(self, username: str, ip: str, ok: bool, now: datetime) -> None: ...

    # sessions
    def create_session(
        self, user_id: int, token_sha256: str, csrf_token: str, ip: str, now: datetime, expires_at: datetime
    ) -> int: ...
    def session(self, token_sha256: str) -> tuple[SessionRecord, UserRecord] | None: ...
    def touch_session(self, session_id: int, now: datetime) -> None: ...
    def end_session(self, token_sha256: str, now: datetime) -> bool: ...
    def end_user_sessions(self, user_id: int, now: datetime) -> int: ...

    # API tokens
    def add_token(
        self, name: str, user_id: int, role: str, token_sha256: str, now: datetime, expires_at: datetime | None
    ) -> int: ...
    def token(self, token_sha256: str) -> tuple[TokenRecord, UserRecord] | None: ...
    def revoke_token(self, token_id: int, now: datetime) -> bool: ...
    def tokens(self) -> list[TokenRecord]: ...

    # audit
    def append_audit(self, entries: list[AuditEntry]) -> None: ...
    def audit_entries(
        self,
        entity: str | None = None,
        entity_id: str | None = None,
        actor: str | None = None,
        action: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[dict[str, Any]], int]: ...

    # idempotency (API money-moving calls)
    def stored_response(self, actor: str, key: str) -> StoredResponse | None: ...
    def reserve_key(
        self, actor: str, key: str, request_sha256: str, now: datetime, stale_before: datetime
    ) -> StoredResponse | None: ...
    def release_key(self, actor: str, key: str) -> None: ...
    def store_response(
        self,
        actor: str,
        key: str,
        request_sha256: str,
        status_code: int,
        body: Any,
        now: datetime,
        audit: AuditEntry | None = None,
    ) -> StoredResponse: ...


@dataclass(frozen=True, slots=True)
class LoanFilter:
    status: str | None = None
    classification: str | None = None
    officer: str | None = None
    product_code: str | None = None
    borrower_no: str | None = None
    min_dpd: int | None = None
    max_dpd: int | None = None
    q: str | None = None  # loan number prefix


class ScopedReads(Protocol):
    """Reads limited to a principal's data scope (roles.toml). "missing" and "out" are told apart only
    so the caller can answer 404 for both without a second query."""

    def loan_scope(self, principal: Any, loan_no: str) -> str: ...  # "in" | "out" | "missing"
    def borrower_scope(self, principal: Any, borrower_no: str) -> str: ...
    def case_scope(self, principal: Any, case_id: int) -> str: ...
    def loans_page(self, principal: Any, flt: LoanFilter, page: int, size: int) -> tuple[list[dict[str, Any]], int]: ...
    def borrowers_page(
        self, principal: Any, q: str | None, page: int, size: int
    ) -> tuple[list[dict[str, Any]], int]: ...
    def borrower(self, borrower_no: str) -> dict[str, Any] | None: ...
    def scoped_loan_ids(self, principal: Any, loan_ids: list[int]) -> set[int]: ...
    def loan_nos_in_scope(self, principal: Any, loan_nos: list[str]) -> set[str]: ...
    def scope_samples(self) -> dict[str, Any]: ...
    def cases_page(
        self, principal: Any, status: str | None, page: int, size: int
    ) -> tuple[list[dict[str, Any]], int]: ...

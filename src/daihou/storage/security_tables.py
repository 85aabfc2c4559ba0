"""Security tables: users, sessions, tokens, audit log, login attempts, idempotency keys.

Part of the one schema in `daihou.storage.tables`. Secrets are never stored: passwords as argon2id
hashes, session and API tokens as SHA-256 digests of random tokens. `audit_log` is append-only (on
PostgreSQL a trigger refuses UPDATE and DELETE; see migration 0009).
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, ForeignKey, Index, Integer, String, Table, Text, UniqueConstraint

from daihou.storage.tables import _created, _id, metadata

users = Table(
    "users",
    metadata,
    _id(),
    Column("username", String(64), nullable=False, unique=True),
    Column("display_name", String(100), nullable=False),
    Column("role", String(32), nullable=False),
    Column("password_hash", String(200), nullable=False),
    Column("active", Boolean, nullable=False, default=True),
    # data scope: an agency's users carry its id; a borrower's login carries the borrower
    Column("agency_id", Integer),
    Column("borrower_id", ForeignKey("borrowers.id"), index=True),
    Column("password_changed_at", DateTime(timezone=True), nullable=False),
    _created(),
)

user_sessions = Table(
    "user_sessions",
    metadata,
    _id(),
    Column("token_sha256", String(64), nullable=False, unique=True),
    Column("user_id", ForeignKey("users.id"), nullable=False, index=True),
    Column("csrf_token", String(64), nullable=False),
    Column("ip", String(64)),
    _created(),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True)),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    _id(),
    Column("token_sha256", String(64), nullable=False, unique=True),
    Column("name", String(100), nullable=False),
    Column("user_id", ForeignKey("users.id"), nullable=False, index=True),
    Column("role", String(32), nullable=False),
    _created(),
    Column("expires_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
)

login_attempts = Table(
    "login_attempts",
    metadata,
    _id(),
    Column("username", String(64), nullable=False),
    Column("ip", String(64), nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("attempted_at", DateTime(timezone=True), nullable=False),
)
Index(
    "ix_login_attempts_username_ip_attempted_at",
    login_attempts.c.username,
    login_attempts.c.ip,
    login_attempts.c.attempted_at,
)

audit_log = Table(
    "audit_log",
    metadata,
    _id(),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
    Column("actor", String(64), nullable=False, index=True),  # username, or "system"
    Column("actor_role", String(32), nullable=False),
    Column("action", String(64), nullable=False),  # e.g. payment.post, pii.reveal, user.add
    Column("entity", String(32), nullable=False),  # loan, borrower, user, case, …
    Column("entity_id", String(64), nullable=False),
    Column("before_json", Text),
    Column("after_json", Text),
    Column("ip", String(64)),
)
Index("ix_audit_log_entity_entity_id", audit_log.c.entity, audit_log.c.entity_id)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    _id(),
    Column("actor", String(64), nullable=False),
    Column("key", String(200), nullable=False),
    Column("request_sha256", String(64), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("response_json", Text, nullable=False),
    _created(),
    UniqueConstraint("actor", "key"),
)

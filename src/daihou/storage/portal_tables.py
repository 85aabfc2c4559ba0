"""Borrower-portal tables: accounts, SMS codes, sessions, payment orders, uploads, requests; and the
staff dashboard's precomputed figures (one row per closed business day).

Part of the one schema in `daihou.storage.tables`. Times are stored in UTC.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Date, DateTime, ForeignKey, Integer, String, Table, Text

from daihou.storage.tables import _created, _id, metadata

portal_accounts = Table(
    "portal_accounts",
    metadata,
    _id(),
    Column("borrower_id", ForeignKey("borrowers.id"), nullable=False, unique=True),
    Column("mobile", String(20), nullable=False, unique=True),  # the login name
    Column("password_hash", String(200), nullable=False),  # argon2id
    Column("failed_logins", Integer, nullable=False, default=0),
    Column("locked_until", DateTime(timezone=True)),
    Column("last_login_at", DateTime(timezone=True)),
    _created(),
)

portal_sms_codes = Table(
    "portal_sms_codes",
    metadata,
    _id(),
    Column("account_id", ForeignKey("portal_accounts.id"), nullable=False, index=True),
    Column("challenge", String(64), nullable=False, unique=True),  # random id the browser holds between steps
    Column("code_hash", String(64), nullable=False),  # sha256(salt + code), never the code
    Column("salt", String(32), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("used_at", DateTime(timezone=True)),
    Column("send_code", String(64)),  # the gateway's answer: "sent" or its failure code
    _created(),
)

portal_sessions = Table(
    "portal_sessions",
    metadata,
    _id(),
    Column("token_hash", String(64), nullable=False, unique=True),  # sha256 of the cookie value
    Column("account_id", ForeignKey("portal_accounts.id"), nullable=False, index=True),
    Column("csrf_token", String(64), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    _created(),
)

payment_orders = Table(
    "payment_orders",
    metadata,
    _id(),
    Column("order_no", String(64), nullable=False, unique=True),
    Column("loan_id", ForeignKey("loans.id"), nullable=False, index=True),
    Column("account_id", ForeignKey("portal_accounts.id"), nullable=False, index=True),
    Column("amount_fen", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),  # created, paid, failed, rejected
    Column("gateway_txn_id", String(128), unique=True),  # the gateway's transaction id: callbacks are idempotent on it
    Column("outcome_code", String(32)),  # the ledger's answer (accepted, duplicate, loan_closed, …)
    Column("outcome_message", String(400)),
    _created(),
    Column("paid_at", DateTime(timezone=True)),
)

portal_uploads = Table(
    "portal_uploads",
    metadata,
    _id(),
    Column("borrower_id", ForeignKey("borrowers.id"), nullable=False, index=True),
    Column("loan_id", ForeignKey("loans.id")),
    Column("kind", String(32), nullable=False),  # income_proof, hardship_evidence, id_copy, other
    Column("filename", String(200), nullable=False),
    Column("content_type", String(100), nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False, index=True),  # stored at data_dir/uploads/<sha256>
    _created(),
)

portal_requests = Table(
    "portal_requests",
    metadata,
    _id(),
    Column("borrower_id", ForeignKey("borrowers.id"), nullable=False, index=True),
    Column("loan_id", ForeignKey("loans.id"), nullable=False, index=True),
    Column("kind", String(16), nullable=False),  # extension | hardship
    Column("months", Integer),
    Column("reason", Text, nullable=False),
    Column("status", String(16), nullable=False),  # received (kept here) | forwarded (to recovery)
    Column("forwarded_ref", String(64)),  # the recovery request's id when forwarded
    _created(),
)

dashboard_figures = Table(
    "dashboard_figures",
    metadata,
    _id(),
    Column("business_date", Date, nullable=False, unique=True),
    Column("payload", Text, nullable=False),  # JSON: every figure and chart series of the day
    Column("computed_at", DateTime(timezone=True), nullable=False),
    Column("elapsed_ms", Integer, nullable=False),
)

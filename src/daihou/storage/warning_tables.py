"""Early-warning tables (风险预警): alerts and their steps, imported external signals, loan actions.

Part of the one schema in `daihou.storage.tables`.

At most one alert per (loan, rule) is not closed: `alerts.active_rule` holds the rule code while the
alert is open, acknowledged or actioned and NULL once it is closed, under a unique constraint on
(loan_id, active_rule) — NULLs never collide, so closed alerts pile up freely while a second live
alert is refused by the database itself, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from daihou.storage.tables import _created, _id, metadata

alerts = Table(
    "alerts",
    metadata,
    _id(),
    Column("loan_id", ForeignKey("loans.id"), nullable=False),
    Column("rule_code", String(64), nullable=False),
    Column("rule_kind", String(32), nullable=False),
    Column("rule_effective", Date, nullable=False),  # the version of the rule that fired
    Column("severity", String(16), nullable=False),  # low, medium, high, critical
    Column("owner_role", String(32), nullable=False),
    Column("status", String(16), nullable=False),  # open, acknowledged, actioned, closed
    Column("active_rule", String(64)),  # = rule_code until closed, then NULL (see the module docstring)
    Column("opened_on", Date, nullable=False),  # the business date the rule fired
    Column("evidence", Text, nullable=False),  # JSON: what the rule saw
    Column("outcome", String(32)),  # risk_cleared, mitigated, escalated, recalled, false_alarm
    Column("closed_on", Date),
    Column("version", Integer, nullable=False, default=1),  # optimistic locking of the workflow
    _created(),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("loan_id", "active_rule"),
)

alert_steps = Table(
    "alert_steps",
    metadata,
    _id(),
    Column("alert_id", ForeignKey("alerts.id"), nullable=False, index=True),
    Column("from_status", String(16)),  # NULL for the step that opened the alert
    Column("to_status", String(16), nullable=False),
    Column("user", String(64), nullable=False),  # "system:cob" / "system:event" when a rule opened it
    Column("at", DateTime(timezone=True), nullable=False),
    Column("comment", Text, nullable=False),
    Column("action", String(32)),  # the action taken at an `action` step
    Column("outcome", String(32)),  # at the closing step
)

external_signals = Table(
    "external_signals",
    metadata,
    _id(),
    Column("subject_id_number", String(32), nullable=False, index=True),  # resident ID or USCC
    Column("borrower_id", ForeignKey("borrowers.id"), index=True),  # matched at import; NULL: not ours
    Column("kind", String(32), nullable=False),  # lawsuit, enforcement, business_anomaly, …
    Column("source", String(200), nullable=False),  # e.g. 中国裁判文书网, 全国法院被执行人信息, 企业信用信息公示系统
    Column("observed_on", Date, nullable=False),
    Column("detail", Text),
    Column("imported_on", Date, nullable=False),  # business date of the import (what the rule's lookback counts)
    Column("imported_at", DateTime(timezone=True), nullable=False),
    Column("file_sha256", String(64), nullable=False),
    Column("row_no", Integer, nullable=False),  # in that file, header = 1
    # the same fact from the same source is one signal: a re-import changes nothing
    UniqueConstraint("subject_id_number", "kind", "source", "observed_on"),
)

loan_actions = Table(
    "loan_actions",
    metadata,
    _id(),
    Column("loan_id", ForeignKey("loans.id"), nullable=False, index=True),
    Column("alert_id", ForeignKey("alerts.id"), index=True),
    Column("kind", String(32), nullable=False),  # require_more_security, recall_early, freeze_line, cut_line, …
    Column("status", String(16), nullable=False),  # decided (recorded), done (carried out by the workflow it calls)
    Column("decided_on", Date, nullable=False),
    Column("decided_by", String(64), nullable=False),
    Column("amount_due_fen", BigInteger),  # recall_early: the payoff amount from the ledger on decided_on
    Column("detail", Text),  # JSON
    _created(),
)

Index("ix_alerts_loan_rule", alerts.c.loan_id, alerts.c.rule_code, alerts.c.opened_on)
Index("ix_alerts_status_severity", alerts.c.status, alerts.c.severity)
Index("ix_alerts_rule_opened", alerts.c.rule_code, alerts.c.opened_on)

"""Recovery tables: restructuring/settlement requests, legal matters, agencies, write-off.

Part of the one schema in `daihou.storage.tables`. Money is integer fen, rates integer millionths.
A request (`recovery_requests`) is made by a maker and decided by checkers (`recovery_decisions`);
when approved its change goes through the ledger as a transaction, and `restructurings` /
`write_offs` keep the figures of that transaction (the store rebuilds a `Restructure` event from
its row when the ledger replays a loan's history).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
)

from daihou.storage.tables import _created, _id, metadata

recovery_requests = Table(
    "recovery_requests",
    metadata,
    _id(),
    Column("loan_id", ForeignKey("loans.id"), nullable=False, index=True),
    Column("kind", String(16), nullable=False),  # waiver, extension, reschedule, plan, writeoff
    Column("status", String(16), nullable=False, index=True),  # pending, approved, rejected
    Column("component", String(16)),  # waiver: penalty, compound, interest, principal, fee, cost
    Column("amount_fen", BigInteger, nullable=False),  # waived, restructured or written off (what limits read)
    Column("share_ppm", BigInteger),  # waiver: the share of the component outstanding, in millionths
    Column("periods", Integer),  # reschedule/plan: new periods; extension: added months
    Column("rate_annual_ppm", BigInteger),
    Column("method", String(32)),
    Column("arrears", String(16)),  # keep | capitalise
    Column("first_due_on", Date),
    Column("reason", String(400), nullable=False),
    Column("maker", String(64), nullable=False),
    Column("maker_role", String(32), nullable=False),
    Column("tier", String(64), nullable=False),  # the approval tier the amount falls in
    Column("approvals_required", Integer, nullable=False),
    Column("reference", String(128)),  # the ledger transaction once applied
    _created(),
    Column("decided_at", DateTime(timezone=True)),
)

recovery_decisions = Table(
    "recovery_decisions",
    metadata,
    _id(),
    Column("request_id", ForeignKey("recovery_requests.id"), nullable=False, index=True),
    Column("user_name", String(64), nullable=False),
    Column("role", String(32), nullable=False),
    Column("approve", Boolean, nullable=False),
    Column("comment", String(400)),
    Column("decided_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("request_id", "user_name"),
)

restructurings = Table(
    "restructurings",
    metadata,
    _id(),
    Column("transaction_id", ForeignKey("transactions.id"), nullable=False, unique=True),
    Column("loan_id", ForeignKey("loans.id"), nullable=False, index=True),
    Column("request_id", ForeignKey("recovery_requests.id")),
    Column("kind", String(16), nullable=False),  # extension, reschedule, plan
    Column("periods", Integer, nullable=False),
    Column("rate_annual_ppm", BigInteger, nullable=False),
    Column("method", String(32), nullable=False),
    Column("arrears", String(16), nullable=False),
    Column("first_due_on", Date),
    Column("principal_before_fen", BigInteger, nullable=False),
    Column("capitalised_fen", BigInteger, nullable=False),
    Column("new_principal_fen", BigInteger, nullable=False),
    Column("observation_until", Date, nullable=False),
    Column("floor_grade", String(16), nullable=False),
    _created(),
)

write_offs = Table(
    "write_offs",
    metadata,
    _id(),
    Column("transaction_id", ForeignKey("transactions.id"), nullable=False, unique=True),
    Column("loan_id", ForeignKey("loans.id"), nullable=False, unique=True),
    Column("request_id", ForeignKey("recovery_requests.id")),
    Column("written_off_on", Date, nullable=False),
    Column("principal_fen", BigInteger, nullable=False),
    Column("interest_fen", BigInteger, nullable=False),
    Column("penalty_fen", BigInteger, nullable=False),  # penalty and compound interest
    Column("fee_fen", BigInteger, nullable=False),
    Column("cost_fen", BigInteger, nullable=False),
    Column("total_fen", BigInteger, nullable=False),
    _created(),
)

legal_matters = Table(
    "legal_matters",
    metadata,
    _id(),
    Column("loan_id", ForeignKey("loans.id"), nullable=False, index=True),
    Column("stage", String(16), nullable=False),  # lawyer_letter, litigation, enforcement, closed
    Column("lawyer", String(100)),
    Column("court", String(200)),
    Column("case_no", String(100)),  # (2026)沪0101民初123号
    Column("filed_on", Date),
    Column("claim_fen", BigInteger),
    Column("judgment_on", Date),
    Column("judgment_fen", BigInteger),
    Column("judgment_summary", String(400)),
    Column("enforcement_case_no", String(100)),
    Column("enforcement_filed_on", Date),
    Column("opened_on", Date, nullable=False),
    Column("closed_on", Date),
    Column("opened_by", String(64), nullable=False),
    Column("version", Integer, nullable=False, default=1),
    _created(),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

legal_events = Table(
    "legal_events",
    metadata,
    _id(),
    Column("matter_id", ForeignKey("legal_matters.id"), nullable=False, index=True),
    Column("kind", String(16), nullable=False),  # opened, stage, hearing, judgment, enforcement, cost, note
    Column("on_date", Date, nullable=False),
    Column("text", String(400)),
    Column("amount_fen", BigInteger),  # costs: posted to the ledger as a collection cost
    Column("reference", String(128)),  # the ledger charge of a cost
    Column("by_user", String(64), nullable=False),
    _created(),
)

agencies = Table(
    "agencies",
    metadata,
    _id(),
    Column("code", String(32), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("contact", String(200)),
    Column("active", Boolean, nullable=False, default=True),
    _created(),
)

agency_evaluations = Table(
    "agency_evaluations",
    metadata,
    _id(),
    Column("agency_id", ForeignKey("agencies.id"), nullable=False, index=True),
    Column("score", Integer, nullable=False),  # 0–100
    Column("evaluated_on", Date, nullable=False),
    Column("valid_until", Date, nullable=False),
    Column("evaluator", String(64), nullable=False),
    Column("notes", String(400)),
    _created(),
)

agency_placements = Table(
    "agency_placements",
    metadata,
    _id(),
    Column("agency_id", ForeignKey("agencies.id"), nullable=False, index=True),
    Column("loan_id", ForeignKey("loans.id"), nullable=False, index=True),
    Column("case_id", BigInteger),  # collection_cases.id when the loan had an open case
    Column("stage", String(16), nullable=False),  # the DPD bucket at placement: what commission reads
    Column("balance_fen", BigInteger, nullable=False),  # outstanding at placement
    Column("placed_on", Date, nullable=False),
    Column("recall_on", Date, nullable=False),  # planned end of the placement
    Column("recalled_on", Date),
    Column("status", String(16), nullable=False),  # active, recalled
    Column("placed_by", String(64), nullable=False),
    Column("recall_reason", String(200)),
    _created(),
)

recovery_receipts = Table(
    "recovery_receipts",
    metadata,
    _id(),
    Column("loan_id", ForeignKey("loans.id"), nullable=False, index=True),
    Column("source", String(16), nullable=False),  # guarantor, collateral
    Column("source_id", BigInteger, nullable=False),  # guarantors.id or collateral.id
    Column("reference", String(128), nullable=False, unique=True),  # the ledger payment
    Column("received_on", Date, nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    _created(),
)

guarantor_demands = Table(
    "guarantor_demands",
    metadata,
    _id(),
    Column("loan_id", ForeignKey("loans.id"), nullable=False, index=True),
    Column("guarantor_id", ForeignKey("guarantors.id"), nullable=False, index=True),
    Column("demanded_on", Date, nullable=False),
    Column("amount_fen", BigInteger, nullable=False),  # owed on the day, capped at the guarantee
    Column("by_user", String(64), nullable=False),
    _created(),
)

collateral_disposals = Table(
    "collateral_disposals",
    metadata,
    _id(),
    Column("collateral_id", ForeignKey("collateral.id"), nullable=False, unique=True),
    Column("loan_id", ForeignKey("loans.id"), nullable=False, index=True),
    Column("valued_on", Date, nullable=False),
    Column("valuation_fen", BigInteger, nullable=False),
    Column("sold_on", Date, nullable=False),
    Column("proceeds_fen", BigInteger, nullable=False),
    Column("costs_fen", BigInteger, nullable=False),  # disposal costs, charged as a collection cost
    Column("buyer", String(200)),
    Column("reference", String(128), nullable=False, unique=True),  # the ledger payment of the proceeds
    Column("surplus_fen", BigInteger, nullable=False),  # proceeds beyond what was owed: held for the owner
    Column("by_user", String(64), nullable=False),
    _created(),
)

Index("ix_agency_placements_status", agency_placements.c.status, agency_placements.c.loan_id)

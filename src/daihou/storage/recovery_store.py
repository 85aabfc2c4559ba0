"""The recovery store (SQLAlchemy Core): requests and decisions, restructurings, write-offs, legal
matters, agencies and placements, guarantor demands, collateral disposals.

It runs on the unit of work's connection (`SqlRecoveryUnitOfWork`), so a request's approval, the
ledger event it applies and the recovery records commit or roll back together. Reports (placements
with the money recovered while placed, recoveries after write-off) are single set-based queries.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any, Self

from sqlalchemy import Connection, and_, func, insert, literal, select, update

from daihou.domain.parties import GuaranteeType, Guarantor, PartyKind
from daihou.service.ports import (
    AgencyRecord,
    Clock,
    LegalMatter,
    PlacementRecord,
    RecoveryDecision,
    RecoveryRequest,
)
from daihou.storage import recovery_tables as rt
from daihou.storage import tables as t
from daihou.storage.repository import SqlUnitOfWork, insert_id

PAYMENT_KINDS = ("payment", "prepayment")


class SqlRecoveryStore:
    def __init__(self, conn: Connection, clock: Clock) -> None:
        self.conn, self.clock = conn, clock

    def _loan_id(self, loan_no: str) -> int:
        return int(self.conn.execute(select(t.loans.c.id).where(t.loans.c.loan_no == loan_no)).scalar_one())

    # ------------------------------------------------------------ requests

    def add_request(self, loan_no: str, values: dict[str, object]) -> int:
        row = {**values, "loan_id": self._loan_id(loan_no), "status": "pending", "created_at": self.clock.now()}
        return insert_id(self.conn, rt.recovery_requests, row)

    def _request_query(self) -> Any:
        r = rt.recovery_requests
        return select(r, t.loans.c.loan_no).join(t.loans, t.loans.c.id == r.c.loan_id)

    @staticmethod
    def _request(row: Any) -> RecoveryRequest:
        m = row._mapping
        return RecoveryRequest(
            m["id"],
            m["loan_no"],
            m["kind"],
            m["status"],
            m["amount_fen"],
            m["component"],
            m["share_ppm"],
            m["periods"],
            m["rate_annual_ppm"],
            m["method"],
            m["arrears"],
            m["first_due_on"],
            m["reason"],
            m["maker"],
            m["maker_role"],
            m["tier"],
            m["approvals_required"],
            m["reference"],
            m["created_at"],
        )

    def get_request(self, request_id: int) -> RecoveryRequest | None:
        row = self.conn.execute(self._request_query().where(rt.recovery_requests.c.id == request_id)).first()
        return None if row is None else self._request(row)

    def requests(self, status: str | None, kinds: Iterable[str] | None, limit: int) -> list[RecoveryRequest]:
        r = rt.recovery_requests
        q = self._request_query()
        if status:
            q = q.where(r.c.status == status)
        if kinds is not None:
            q = q.where(r.c.kind.in_(list(kinds)))
        return [self._request(row) for row in self.conn.execute(q.order_by(r.c.id).limit(limit))]

    def add_decision(self, request_id: int, d: RecoveryDecision) -> None:
        self.conn.execute(
            insert(rt.recovery_decisions).values(
                request_id=request_id,
                user_name=d.user,
                role=d.role,
                approve=d.approve,
                comment=d.comment or None,
                decided_at=d.at,
            )
        )

    def decisions(self, request_id: int) -> list[RecoveryDecision]:
        d = rt.recovery_decisions
        q = select(d).where(d.c.request_id == request_id).order_by(d.c.id)
        return [
            RecoveryDecision(r.user_name, r.role, r.approve, r.comment or "", r.decided_at)
            for r in self.conn.execute(q)
        ]

    def close_request(self, request_id: int, status: str, reference: str | None, at: datetime) -> None:
        r = rt.recovery_requests
        self.conn.execute(
            update(r)
            .where(r.c.id == request_id, r.c.status == "pending")
            .values(status=status, reference=reference, decided_at=at)
        )

    # ------------------------------------------------------------ restructurings and write-offs

    def _txn_id(self, reference: str) -> int:
        q = select(t.transactions.c.id).where(t.transactions.c.reference == reference)
        return int(self.conn.execute(q).scalar_one())

    def add_restructuring(self, reference: str, request_id: int | None, values: dict[str, object]) -> None:
        txn_id = self._txn_id(reference)
        loan_id = self.conn.execute(select(t.transactions.c.loan_id).where(t.transactions.c.id == txn_id)).scalar_one()
        self.conn.execute(
            insert(rt.restructurings).values(
                transaction_id=txn_id, loan_id=loan_id, request_id=request_id, created_at=self.clock.now(), **values
            )
        )

    def mark_restructured(self, loan_no: str, until: date, floor: str) -> None:
        self.conn.execute(
            update(t.loans)
            .where(t.loans.c.loan_no == loan_no)
            .values(restructured_until=until, restructure_floor=floor)
        )

    def add_write_off(self, reference: str, request_id: int | None, values: dict[str, object]) -> None:
        txn_id = self._txn_id(reference)
        loan_id = self.conn.execute(select(t.transactions.c.loan_id).where(t.transactions.c.id == txn_id)).scalar_one()
        self.conn.execute(
            insert(rt.write_offs).values(
                transaction_id=txn_id, loan_id=loan_id, request_id=request_id, created_at=self.clock.now(), **values
            )
        )

    def mark_written_off(self, loan_no: str) -> None:
        """A written-off loan is 损失 (loss): the close of business no longer classifies it."""
        self.conn.execute(update(t.loans).where(t.loans.c.loan_no == loan_no).values(classification="loss"))

    def write_offs(self) -> list[dict[str, object]]:
        w = rt.write_offs
        q = select(w, t.loans.c.loan_no).join(t.loans, t.loans.c.id == w.c.loan_id).order_by(w.c.written_off_on, w.c.id)
        return [dict(r._mapping) for r in self.conn.execute(q)]

    def recoveries(self, since: date | None, until: date | None) -> list[dict[str, object]]:
        """Money booked as recovery income after write-off, per loan (journal lines, net of reversals)."""
        jl, je, w = t.journal_lines, t.journal_entries, rt.write_offs
        cond = [jl.c.account == "recovery_income"]
        if since is not None:
            cond.append(je.c.booked_on >= since)
        if until is not None:
            cond.append(je.c.booked_on <= until)
        q = (
            select(
                t.loans.c.loan_no,
                w.c.written_off_on,
                w.c.total_fen.label("written_off_fen"),
                (-func.sum(jl.c.amount_fen)).label("recovered_fen"),
                func.max(je.c.booked_on).label("last_recovery_on"),
            )
            .select_from(jl)
            .join(je, je.c.id == jl.c.entry_id)
            .join(t.loans, t.loans.c.id == jl.c.loan_id)
            .outerjoin(w, w.c.loan_id == jl.c.loan_id)
            .where(and_(*cond))
            .group_by(t.loans.c.loan_no, w.c.written_off_on, w.c.total_fen)
            .order_by(t.loans.c.loan_no)
        )
        return [dict(r._mapping) for r in self.conn.execute(q)]

    # ------------------------------------------------------------ legal matters

    def add_matter(self, loan_no: str, values: dict[str, object]) -> int:
        now = self.clock.now()
        row = {**values, "loan_id": self._loan_id(loan_no), "version": 1, "created_at": now, "updated_at": now}
        return insert_id(self.conn, rt.legal_matters, row)

    def _matter_query(self) -> Any:
        m = rt.legal_matters
        return select(m, t.loans.c.loan_no).join(t.loans, t.loans.c.id == m.c.loan_id)

    @staticmethod
    def _matter(row: Any) -> LegalMatter:
        m = row._mapping
        return LegalMatter(
            m["id"],
            m["loan_no"],
            m["stage"],
            m["lawyer"],
            m["court"],
            m["case_no"],
            m["filed_on"],
            m["claim_fen"],
            m["judgment_on"],
            m["judgment_fen"],
            m["judgment_summary"],
            m["enforcement_case_no"],
            m["enforcement_filed_on"],
            m["opened_on"],
            m["closed_on"],
        )

    def get_matter(self, matter_id: int) -> LegalMatter | None:
        row = self.conn.execute(self._matter_query().where(rt.legal_matters.c.id == matter_id)).first()
        return None if row is None else self._matter(row)

    def update_matter(self, matter_id: int, values: dict[str, object]) -> None:
        m = rt.legal_matters
        self.conn.execute(
            update(m).where(m.c.id == matter_id).values(**values, version=m.c.version + 1, updated_at=self.clock.now())
        )

    def add_legal_event(self, matter_id: int, values: dict[str, object]) -> None:
        self.conn.execute(insert(rt.legal_events).values(matter_id=matter_id, created_at=self.clock.now(), **values))

    def matters(self, loan_no: str | None) -> list[LegalMatter]:
        q = self._matter_query()
        if loan_no:
            q = q.where(t.loans.c.loan_no == loan_no)
        return [self._matter(r) for r in self.conn.execute(q.order_by(rt.legal_matters.c.id))]

    def legal_events(self, matter_id: int) -> list[dict[str, object]]:
        e = rt.legal_events
        q = select(e).where(e.c.matter_id == matter_id).order_by(e.c.on_date, e.c.id)
        return [dict(r._mapping) for r in self.conn.execute(q)]

    # ------------------------------------------------------------ agencies

    def add_agency(self, code: str, name: str, contact: str) -> int:
        return insert_id(
            self.conn,
            rt.agencies,
            {"code": code, "name": name, "contact": contact or None, "active": True, "created_at": self.clock.now()},
        )

    def agency(self, code: str) -> AgencyRecord | None:
        r = self.conn.execute(select(rt.agencies).where(rt.agencies.c.code == code)).first()
        return None if r is None else AgencyRecord(r.id, r.code, r.name, r.contact or "", r.active)

    def add_evaluation(self, agency_id: int, values: dict[str, object]) -> None:
        self.conn.execute(
            insert(rt.agency_evaluations).values(agency_id=agency_id, created_at=self.clock.now(), **values)
        )

    def evaluations(self, agency_id: int) -> list[tuple[int, date, date]]:
        e = rt.agency_evaluations
        q = select(e.c.score, e.c.evaluated_on, e.c.valid_until).where(e.c.agency_id == agency_id).order_by(e.c.id)
        return [(r.score, r.evaluated_on, r.valid_until) for r in self.conn.execute(q)]

    def _placement_query(self, as_of: date | None = None) -> Any:
        p, tx = rt.agency_placements, t.transactions
        recovered: Any = literal(0)
        if as_of is not None:
            # Money received on the loan while it was placed: one correlated sum per placement row.
            end = func.coalesce(p.c.recalled_on, as_of)
            recovered = (
                select(func.coalesce(func.sum(tx.c.amount_fen), 0))
                .where(
                    tx.c.loan_id == p.c.loan_id,
                    tx.c.kind.in_(PAYMENT_KINDS),
                    tx.c.reversed.is_(False),
                    tx.c.value_date >= p.c.placed_on,
                    tx.c.value_date <= end,
                    tx.c.value_date <= as_of,
                )
                .scalar_subquery()
            )
        return (
            select(p, rt.agencies.c.code.label("agency_code"), t.loans.c.loan_no, recovered.label("recovered_fen"))
            .join(rt.agencies, rt.agencies.c.id == p.c.agency_id)
            .join(t.loans, t.loans.c.id == p.c.loan_id)
        )

    @staticmethod
    def _placement(r: Any) -> PlacementRecord:
        return PlacementRecord(
            r.id,
            r.agency_code,
            r.loan_no,
            r.stage,
            r.balance_fen,
            r.placed_on,
            r.recall_on,
            r.recalled_on,
            r.status,
            int(r.recovered_fen or 0),
        )

    def active_placement(self, loan_no: str) -> PlacementRecord | None:
        p = rt.agency_placements
        q = self._placement_query().where(t.loans.c.loan_no == loan_no, p.c.status == "active")
        r = self.conn.execute(q).first()
        return None if r is None else self._placement(r)

    def place(self, agency_id: int, loan_no: str, values: dict[str, object]) -> int:
        loan_id = self._loan_id(loan_no)
        cc = _case_table()
        case_id = None
        if cc is not None:
            case_id = self.conn.execute(select(cc.c.id).where(cc.c.loan_id == loan_id, cc.c.status == "open")).scalar()
        row = {
            **values,
            "agency_id": agency_id,
            "loan_id": loan_id,
            "case_id": case_id,
            "status": "active",
            "created_at": self.clock.now(),
        }
        return insert_id(self.conn, rt.agency_placements, row)

    def recall(self, placement_id: int, on: date, reason: str) -> None:
        p = rt.agency_placements
        self.conn.execute(
            update(p)
            .where(p.c.id == placement_id, p.c.status == "active")
            .values(status="recalled", recalled_on=on, recall_reason=reason or None)
        )

    def placements(self, agency_code: str | None, as_of: date) -> list[PlacementRecord]:
        p = rt.agency_placements
        q = self._placement_query(as_of).where(p.c.placed_on <= as_of)
        if agency_code:
            q = q.where(rt.agencies.c.code == agency_code)
        return [self._placement(r) for r in self.conn.execute(q.order_by(p.c.id))]

    def set_case_agency(self, loan_no: str, agency_id: int | None) -> int:
        """Point the loan's open collection case at the agency (or at none); the rows changed."""
        cc = _case_table()
        if cc is None:
            return 0
        done = self.conn.execute(
            update(cc)
            .where(cc.c.loan_id == self._loan_id(loan_no), cc.c.status == "open")
            .values(placement_agency_id=agency_id)
        )
        return int(done.rowcount or 0)

    # ------------------------------------------------------------ guarantors and collateral

    def guarantors(self, loan_no: str) -> list[tuple[int, Guarantor]]:
        g = t.guarantors
        q = select(g).where(g.c.loan_id == self._loan_id(loan_no)).order_by(g.c.id)
        return [
            (
                r.id,
                Guarantor(
                    PartyKind(r.kind),
                    r.name,
                    r.id_number,
                    r.mobile or "",
                    GuaranteeType(r.guarantee_type),
                    r.amount_fen,
                ),
            )
            for r in self.conn.execute(q)
        ]

    def add_demand(self, loan_no: str, guarantor_id: int, on: date, amount_fen: int, by: str) -> int:
        return insert_id(
            self.conn,
            rt.guarantor_demands,
            {
                "loan_id": self._loan_id(loan_no),
                "guarantor_id": guarantor_id,
                "demanded_on": on,
                "amount_fen": amount_fen,
                "by_user": by,
                "created_at": self.clock.now(),
            },
        )

    def add_receipt(self, loan_no: str, source: str, source_id: int, reference: str, on: date, amount_fen: int) -> None:
        self.conn.execute(
            insert(rt.recovery_receipts).values(
                loan_id=self._loan_id(loan_no),
                source=source,
                source_id=source_id,
                reference=reference,
                received_on=on,
                amount_fen=amount_fen,
                created_at=self.clock.now(),
            )
        )

    def collateral_loan(self, collateral_id: int) -> str | None:
        q = (
            select(t.loans.c.loan_no)
            .join(t.collateral, t.collateral.c.loan_id == t.loans.c.id)
            .where(t.collateral.c.id == collateral_id)
        )
        loan_no: str | None = self.conn.execute(q).scalar()
        return loan_no

    def add_disposal(self, collateral_id: int, loan_no: str, values: dict[str, object]) -> None:
        self.conn.execute(
            insert(rt.collateral_disposals).values(
                collateral_id=collateral_id, loan_id=self._loan_id(loan_no), created_at=self.clock.now(), **values
            )
        )

    # ------------------------------------------------------------ letters

    def borrower_letter_facts(self, loan_no: str) -> dict[str, object] | None:
        """The borrower, the first contact person and the close-of-business figures a letter needs."""
        b, lo = t.borrowers, t.loans
        q = (
            select(
                lo.c.id.label("loan_id"),
                lo.c.loan_no,
                lo.c.contract_no,
                lo.c.dpd,
                lo.c.status,
                b.c.id.label("borrower_id"),
                b.c.name,
                b.c.address,
                b.c.mobile,
            )
            .join(b, b.c.id == lo.c.borrower_id)
            .where(lo.c.loan_no == loan_no)
        )
        row = self.conn.execute(q).first()
        if row is None:
            return None
        facts = dict(row._mapping)
        c = t.borrower_contacts
        contact = self.conn.execute(
            select(c.c.name, c.c.relation).where(c.c.borrower_id == facts["borrower_id"]).order_by(c.c.id).limit(1)
        ).first()
        facts["contact_name"] = contact.name if contact else None
        facts["contact_relation"] = contact.relation if contact else None
        return facts


def _case_table() -> Any:
    """The collections helper's `collection_cases` table, when that capability is installed."""
    return t.metadata.tables.get("collection_cases")


class SqlRecoveryUnitOfWork(SqlUnitOfWork):
    """The ledger's unit of work plus the recovery store, on one transaction."""

    recovery: SqlRecoveryStore

    def __enter__(self) -> Self:
        super().__enter__()
        self.recovery = SqlRecoveryStore(self.connection, self.clock)
        return self

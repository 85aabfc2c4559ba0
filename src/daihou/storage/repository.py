"""Repositories and the unit of work over SQLAlchemy Core; they implement `daihou.service.ports`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import date
from types import TracebackType
from typing import Any, Self

from sqlalchemy import Connection, Engine, Row, Table, func, insert, select, update

from daihou.domain.calendar import DayCount, Frequency
from daihou.domain.journal import JournalEntry
from daihou.domain.loan import Installment, Loan, LoanStatus, LoanTerms, Owed, terms_from_columns
from daihou.domain.money import rate_from_ppm, rate_ppm
from daihou.domain.parties import (
    Borrower,
    Collateral,
    CollateralKind,
    Contact,
    CustodyStatus,
    GuaranteeType,
    Guarantor,
    PartyKind,
    Valuation,
)
from daihou.domain.products import AllocationMode, AllocationRule, Component, Product, RepaymentMethod
from daihou.domain.restructuring import restructure_from_columns, restructured_terms
from daihou.domain.servicing import Charge, Event, Payment, Prepayment, PrepaymentMode, Waiver
from daihou.domain.writeoff import WriteOff
from daihou.service.ports import (
    Clock,
    ConcurrencyError,
    LoanInfo,
    NewTransaction,
    OverrideRecord,
    TransactionRecord,
)
from daihou.storage import recovery_tables as rt
from daihou.storage import tables as t

CHUNK = 500  # keys per IN (...) query: far below SQLite's and PostgreSQL's parameter limits


def chunks(items: Sequence[str], size: int = CHUNK) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


ppm_rate = rate_from_ppm


def insert_id(conn: Connection, table: Table, values: dict[str, Any]) -> int:
    return int(conn.execute(insert(table).values(values).returning(table.c.id)).scalar_one())


def _owed(row: Row[Any] | dict[str, Any], name: str) -> Owed:
    m = row._mapping if isinstance(row, Row) else row
    return Owed(m[f"{name}_due_fen"], m[f"{name}_paid_fen"], m[f"{name}_waived_fen"])


def _owed_cols(name: str, owed: Owed) -> dict[str, int]:
    return {f"{name}_due_fen": owed.due, f"{name}_paid_fen": owed.paid, f"{name}_waived_fen": owed.waived}


def _allocation(order: str, mode: str) -> AllocationRule:
    return AllocationRule(tuple(Component(c) for c in order.split(",")), AllocationMode(mode))


def installment_values(loan_id: int, version: int, i: Installment) -> dict[str, Any]:
    return {
        "loan_id": loan_id,
        "schedule_version": version,
        "no": i.no,
        "start_date": i.start_date,
        "due_date": i.due_date,
        **_owed_cols("principal", i.principal),
        **_owed_cols("interest", i.interest),
        **_owed_cols("penalty", i.penalty),
        **_owed_cols("compound", i.compound),
        "interest_accrued_fen": i.interest_accrued_fen,
    }


def _installment(row: Row[Any]) -> Installment:
    m = row._mapping
    return Installment(
        m["no"],
        m["start_date"],
        m["due_date"],
        _owed(row, "principal"),
        _owed(row, "interest"),
        _owed(row, "penalty"),
        _owed(row, "compound"),
        m["interest_accrued_fen"],
    )


terms_from_row = terms_from_columns


def loan_state_values(loan: Loan) -> dict[str, Any]:
    return {
        "status": loan.status.value,
        **_owed_cols("cost", loan.cost),
        **_owed_cols("fee", loan.fee),
        "credit_fen": loan.credit_fen,
        "received_fen": loan.received_fen,
        "accrued_through": loan.accrued_through,
        "schedule_version": loan.schedule_version,
    }


def loan_terms_values(terms: LoanTerms) -> dict[str, Any]:
    return {
        "loan_no": terms.loan_no,
        "principal_fen": terms.principal_fen,
        "rate_annual_ppm": rate_ppm(terms.rate_annual),
        "penalty_rate_annual_ppm": rate_ppm(terms.penalty_rate_annual),
        "periods": terms.periods,
        "method": terms.method.value,
        "frequency": terms.frequency.value,
        "day_count": terms.day_count.value,
        "disbursed_on": terms.disbursed_on,
        "first_due_on": terms.first_due_on,
        "grace_days": terms.grace_days,
        "dpd_tolerance_fen": terms.dpd_tolerance_fen,
        "compound_interest": terms.compound_interest,
        "allocation_order": ",".join(c.value for c in terms.allocation.order),
        "allocation_mode": terms.allocation.mode.value,
    }


class SqlLoans:
    def __init__(self, conn: Connection, clock: Clock) -> None:
        self.conn, self.clock = conn, clock
        self._seen: dict[str, tuple[int, int, Loan]] = {}  # loan_no -> (id, version, state as read)

    def _row(self, loan_no: str) -> Row[Any] | None:
        return self.conn.execute(select(t.loans).where(t.loans.c.loan_no == loan_no)).first()

    def _installments(self, loan_id: int, version: int) -> tuple[Installment, ...]:
        rows = self.conn.execute(
            select(t.installments)
            .where(t.installments.c.loan_id == loan_id, t.installments.c.schedule_version == version)
            .order_by(t.installments.c.no)
        )
        return tuple(_installment(r) for r in rows)

    def get(self, loan_no: str) -> Loan | None:
        row = self._row(loan_no)
        if row is None:
            return None
        m = row._mapping
        loan = Loan(
            self._current_terms(m),
            self._installments(m["id"], m["schedule_version"]),
            LoanStatus(m["status"]),
            _owed(row, "cost"),
            _owed(row, "fee"),
            m["credit_fen"],
            m["received_fen"],
            m["accrued_through"],
            m["schedule_version"],
        )
        self._seen[loan_no] = (m["id"], m["version"], loan)
        return loan

    def _current_terms(self, m: Any) -> LoanTerms:
        """The booked terms, or those of the latest restructuring (the booked row keeps the original
        terms, which a replay from the opening needs)."""
        rs, tx = rt.restructurings, t.transactions
        q = (
            select(*_RESTRUCTURE_COLUMNS, tx.c.value_date, tx.c.reference, tx.c.reason)
            .join(tx, tx.c.id == rs.c.transaction_id)
            .where(rs.c.loan_id == m["id"], tx.c.reversed.is_(False))
            .order_by(tx.c.value_date.desc(), tx.c.id.desc())
            .limit(1)
        )
        latest = self.conn.execute(q).first()
        terms = terms_from_row(m)
        return terms if latest is None else restructured_terms(terms, restructure_from_columns(latest._mapping))

    def info(self, loan_no: str) -> LoanInfo | None:
        q = (
            select(
                t.loans.c.loan_no,
                t.borrowers.c.borrower_no,
                t.products.c.code,
                t.loans.c.officer,
                t.loans.c.purpose,
                t.loans.c.contract_no,
            )
            .join(t.borrowers, t.borrowers.c.id == t.loans.c.borrower_id)
            .join(t.products, t.products.c.id == t.loans.c.product_id)
            .where(t.loans.c.loan_no == loan_no)
        )
        row = self.conn.execute(q).first()
        if row is None:
            return None
        return LoanInfo(row[0], row[1], row[2], row[3] or "", row[4] or "", row[5] or "")

    def add(self, loan: Loan, info: LoanInfo) -> None:
        now = self.clock.now()
        borrower_id = self.conn.execute(
            select(t.borrowers.c.id).where(t.borrowers.c.borrower_no == info.borrower_no)
        ).scalar_one()
        product_id = self.conn.execute(
            select(t.products.c.id).where(t.products.c.code == info.product_code)
        ).scalar_one()
        values = {
            **loan_terms_values(loan.terms),
            **loan_state_values(loan),
            "borrower_id": borrower_id,
            "product_id": product_id,
            "officer": info.officer or None,
            "purpose": info.purpose or None,
            "contract_no": info.contract_no or None,
            "version": 1,
            "created_at": now,
            "updated_at": now,
        }
        loan_id = insert_id(self.conn, t.loans, values)
        self._new_version(loan_id, loan, "disbursement", loan.terms.disbursed_on)
        self._seen[loan.loan_no] = (loan_id, 1, loan)

    def _new_version(self, loan_id: int, loan: Loan, reason: str, on: date) -> None:
        self.conn.execute(
            insert(t.schedule_versions).values(
                loan_id=loan_id,
                version=loan.schedule_version,
                reason=reason,
                effective_on=on,
                created_at=self.clock.now(),
            )
        )
        self.conn.execute(
            insert(t.installments), [installment_values(loan_id, loan.schedule_version, i) for i in loan.installments]
        )

    def save(self, loan: Loan, reason: str, on: date) -> None:
        loan_id, version, before = self._seen[loan.loan_no]
        done = self.conn.execute(
            update(t.loans)
            .where(t.loans.c.id == loan_id, t.loans.c.version == version)
            .values(**loan_state_values(loan), version=version + 1, updated_at=self.clock.now())
        )
        if done.rowcount != 1:
            raise ConcurrencyError(f"loan {loan.loan_no} was changed by someone else; try again")
        if loan.schedule_version != before.schedule_version:
            self._new_version(loan_id, loan, reason, on)
        else:
            old = {i.no: i for i in before.installments}
            for inst in loan.installments:
                if old.get(inst.no) != inst:
                    values = installment_values(loan_id, loan.schedule_version, inst)
                    self.conn.execute(
                        update(t.installments)
                        .where(
                            t.installments.c.loan_id == loan_id,
                            t.installments.c.schedule_version == loan.schedule_version,
                            t.installments.c.no == inst.no,
                        )
                        .values(values)
                    )
        self._seen[loan.loan_no] = (loan_id, version + 1, loan)

    def opening(self, loan_no: str) -> Loan:
        row = self._row(loan_no)
        assert row is not None
        m = row._mapping
        first = self._installments(m["id"], 1)
        fresh = tuple(
            Installment(i.no, i.start_date, i.due_date, Owed(i.principal.due), Owed(i.interest.due)) for i in first
        )
        return Loan(terms_from_row(m), fresh, accrued_through=m["disbursed_on"])

    def events(self, loan_no: str) -> list[tuple[int, Event]]:
        q = (
            select(t.transactions, *_RESTRUCTURE_COLUMNS)
            .join(t.loans, t.loans.c.id == t.transactions.c.loan_id)
            .outerjoin(rt.restructurings, rt.restructurings.c.transaction_id == t.transactions.c.id)
            .where(
                t.loans.c.loan_no == loan_no,
                t.transactions.c.reversed.is_(False),
                t.transactions.c.kind.in_(EVENT_KINDS),
            )
            .order_by(t.transactions.c.value_date, t.transactions.c.id)
        )
        return [(r.id, _event(r)) for r in self.conn.execute(q)]

    def existing(self, loan_nos: Iterable[str]) -> set[str]:
        found: set[str] = set()
        for part in chunks(sorted(set(loan_nos))):
            found.update(self.conn.execute(select(t.loans.c.loan_no).where(t.loans.c.loan_no.in_(part))).scalars())
        return found


EVENT_KINDS = ("payment", "prepayment", "waiver", "charge", "restructure", "write_off")
_RESTRUCTURE_COLUMNS = tuple(
    rt.restructurings.c[name].label(f"rs_{name}")
    for name in ("kind", "periods", "rate_annual_ppm", "method", "arrears", "first_due_on")
)


def _event(r: Row[Any]) -> Event:
    m = r._mapping
    if m["kind"] == "restructure":
        return restructure_from_columns(m)
    if m["kind"] == "write_off":
        return WriteOff(m["value_date"], m["reference"], m["reason"] or "")
    if m["kind"] == "payment":
        return Payment(m["value_date"], m["amount_fen"], m["reference"])
    if m["kind"] == "prepayment":
        return Prepayment(m["value_date"], m["amount_fen"], m["reference"], PrepaymentMode(m["mode"]))
    if m["kind"] == "waiver":
        return Waiver(m["value_date"], Component(m["component"]), m["amount_fen"], m["reference"], m["reason"] or "")
    return Charge(m["value_date"], Component(m["component"]), m["amount_fen"], m["reference"], m["reason"] or "")


class SqlTransactions:
    def __init__(self, conn: Connection, clock: Clock) -> None:
        self.conn, self.clock = conn, clock

    def by_reference(self, reference: str) -> TransactionRecord | None:
        tx = t.transactions
        q = select(tx, t.loans.c.loan_no).join(t.loans, t.loans.c.id == tx.c.loan_id).where(tx.c.reference == reference)
        r = self.conn.execute(q).first()
        if r is None:
            return None
        m = r._mapping
        return TransactionRecord(
            m["id"],
            m["loan_no"],
            m["kind"],
            m["reference"],
            m["value_date"],
            m["amount_fen"],
            m["reversed"],
            m["result"] or "{}",
        )

    def existing(self, references: Iterable[str]) -> set[str]:
        found: set[str] = set()
        for part in chunks(sorted(set(references))):
            q = select(t.transactions.c.reference).where(t.transactions.c.reference.in_(part))
            found.update(self.conn.execute(q).scalars())
        return found

    def add(self, loan_no: str, txn: NewTransaction) -> int:
        loan_id = self.conn.execute(select(t.loans.c.id).where(t.loans.c.loan_no == loan_no)).scalar_one()
        values = {
            "loan_id": loan_id,
            "kind": txn.kind,
            "reference": txn.reference,
            "value_date": txn.value_date,
            "amount_fen": txn.amount_fen,
            "component": txn.component,
            "mode": txn.mode,
            "reason": txn.reason,
            "reverses_id": txn.reverses_id,
            "reversed": False,
            "result": txn.result,
            "created_at": self.clock.now(),
        }
        return insert_id(self.conn, t.transactions, values)

    def mark_reversed(self, txn_id: int) -> None:
        self.conn.execute(update(t.transactions).where(t.transactions.c.id == txn_id).values(reversed=True))


class SqlJournal:
    def __init__(self, conn: Connection, clock: Clock) -> None:
        self.conn, self.clock = conn, clock

    def add(self, loan_no: str, entries: Sequence[JournalEntry], transaction_id: int | None) -> None:
        if not entries:
            return
        loan_id = self.conn.execute(select(t.loans.c.id).where(t.loans.c.loan_no == loan_no)).scalar_one()
        for e in entries:
            entry_id = insert_id(
                self.conn,
                t.journal_entries,
                {
                    "loan_id": loan_id,
                    "transaction_id": transaction_id,
                    "kind": e.kind.value,
                    "booked_on": e.booked_on,
                    "memo": e.memo[:200],
                    "created_at": self.clock.now(),
                },
            )
            self.conn.execute(
                insert(t.journal_lines),
                [
                    {"entry_id": entry_id, "loan_id": loan_id, "account": ln.account.value, "amount_fen": ln.amount_fen}
                    for ln in e.lines
                ],
            )

    def balances(self, loan_no: str) -> dict[str, int]:
        jl = t.journal_lines
        q = (
            select(jl.c.account, func.sum(jl.c.amount_fen))
            .join(t.loans, t.loans.c.id == jl.c.loan_id)
            .where(t.loans.c.loan_no == loan_no)
            .group_by(jl.c.account)
        )
        return {account: int(total) for account, total in self.conn.execute(q)}


class SqlBorrowers:
    def __init__(self, conn: Connection, clock: Clock) -> None:
        self.conn, self.clock = conn, clock

    def get(self, borrower_no: str) -> Borrower | None:
        r = self.conn.execute(select(t.borrowers).where(t.borrowers.c.borrower_no == borrower_no)).first()
        if r is None:
            return None
        m = r._mapping
        contacts = tuple(
            Contact(c.name, c.relation, c.mobile)
            for c in self.conn.execute(
                select(t.borrower_contacts)
                .where(t.borrower_contacts.c.borrower_id == m["id"])
                .order_by(t.borrower_contacts.c.id)
            )
        )
        return Borrower(
            m["borrower_no"],
            PartyKind(m["kind"]),
            m["name"],
            m["id_number"],
            m["mobile"] or "",
            m["address"] or "",
            m["employer"] or "",
            m["legal_representative"] or "",
            contacts,
        )

    def add(self, b: Borrower) -> None:
        values = {
            "borrower_no": b.borrower_no,
            "kind": b.kind.value,
            "name": b.name,
            "id_number": b.id_number,
            "mobile": b.mobile or None,
            "address": b.address or None,
            "employer": b.employer or None,
            "legal_representative": b.legal_representative or None,
            "version": 1,
            "created_at": self.clock.now(),
        }
        bid = insert_id(self.conn, t.borrowers, values)
        if b.contacts:
            self.conn.execute(
                insert(t.borrower_contacts),
                [{"borrower_id": bid, "name": c.name, "relation": c.relation, "mobile": c.mobile} for c in b.contacts],
            )

    def existing(self, borrower_nos: Iterable[str]) -> set[str]:
        found: set[str] = set()
        for part in chunks(sorted(set(borrower_nos))):
            q = select(t.borrowers.c.borrower_no).where(t.borrowers.c.borrower_no.in_(part))
            found.update(self.conn.execute(q).scalars())
        return found


def product_values(p: Product) -> dict[str, Any]:
    return {
        "code": p.code,
        "name": p.name,
        "method": p.method.value,
        "frequency": p.frequency.value,
        "day_count": p.day_count.value,
        "penalty_multiplier_ppm": rate_ppm(p.penalty_multiplier),
        "compound_interest": p.compound_interest,
        "grace_days": p.grace_days,
        "dpd_tolerance_fen": p.dpd_tolerance_fen,
        "allocation_order": ",".join(c.value for c in p.allocation.order),
        "allocation_mode": p.allocation.mode.value,
        "cap_profile": p.cap_profile,
    }


class SqlProducts:
    def __init__(self, conn: Connection, clock: Clock) -> None:
        self.conn, self.clock = conn, clock

    @staticmethod
    def _product(m: Any) -> Product:
        return Product(
            m["code"],
            m["name"],
            RepaymentMethod(m["method"]),
            Frequency(m["frequency"]),
            DayCount(m["day_count"]),
            ppm_rate(m["penalty_multiplier_ppm"]),
            m["compound_interest"],
            m["grace_days"],
            m["dpd_tolerance_fen"],
            _allocation(m["allocation_order"], m["allocation_mode"]),
            m["cap_profile"],
        )

    def get(self, code: str) -> Product | None:
        r = self.conn.execute(select(t.products).where(t.products.c.code == code)).first()
        return None if r is None else self._product(r._mapping)

    def add(self, product: Product) -> None:
        self.conn.execute(insert(t.products).values(**product_values(product), created_at=self.clock.now()))

    def all(self) -> list[Product]:
        return [self._product(r._mapping) for r in self.conn.execute(select(t.products).order_by(t.products.c.code))]


class SqlUnitOfWork:
    """One database transaction. Leaving the block without `commit()` rolls everything back."""

    loans: SqlLoans
    transactions: SqlTransactions
    journal: SqlJournal
    borrowers: SqlBorrowers
    products: SqlProducts
    securities: SqlSecurities
    overrides: SqlOverrides

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine, self.clock = engine, clock
        self._conn: Connection | None = None

    def __enter__(self) -> Self:
        conn = self._conn = self.engine.connect()
        conn.begin()
        self.loans = SqlLoans(conn, self.clock)
        self.transactions = SqlTransactions(conn, self.clock)
        self.journal = SqlJournal(conn, self.clock)
        self.borrowers = SqlBorrowers(conn, self.clock)
        self.products = SqlProducts(conn, self.clock)
        self.securities = SqlSecurities(conn, self.clock)
        self.overrides = SqlOverrides(conn, self.clock)
        return self

    @property
    def connection(self) -> Connection:
        assert self._conn is not None, "use the unit of work in a with block"
        return self._conn

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            if conn.in_transaction():
                conn.rollback()
            conn.close()

    def commit(self) -> None:
        conn = self.connection
        conn.commit()
        conn.begin()

    def rollback(self) -> None:
        conn = self.connection
        conn.rollback()
        conn.begin()


class SqlSecurities:
    def __init__(self, conn: Connection, clock: Clock) -> None:
        self.conn, self.clock = conn, clock

    def _loan_id(self, loan_no: str) -> int:
        return int(self.conn.execute(select(t.loans.c.id).where(t.loans.c.loan_no == loan_no)).scalar_one())

    def add_guarantor(self, loan_no: str, g: Guarantor) -> int:
        return insert_id(
            self.conn,
            t.guarantors,
            {
                "loan_id": self._loan_id(loan_no),
                "kind": g.kind.value,
                "name": g.name,
                "id_number": g.id_number,
                "mobile": g.mobile or None,
                "guarantee_type": g.guarantee_type.value,
                "amount_fen": g.amount_fen,
            },
        )

    def guarantors(self, loan_no: str) -> list[Guarantor]:
        q = select(t.guarantors).where(t.guarantors.c.loan_id == self._loan_id(loan_no)).order_by(t.guarantors.c.id)
        return [
            Guarantor(
                PartyKind(r.kind), r.name, r.id_number, r.mobile or "", GuaranteeType(r.guarantee_type), r.amount_fen
            )
            for r in self.conn.execute(q)
        ]

    def add_collateral(self, loan_no: str, c: Collateral) -> int:
        cid = insert_id(
            self.conn,
            t.collateral,
            {
                "loan_id": self._loan_id(loan_no),
                "kind": c.kind.value,
                "description": c.description,
                "owner": c.owner or None,
                "registration_no": c.registration_no or None,
                "custody_status": c.custody_status.value,
                "created_at": self.clock.now(),
            },
        )
        for v in c.valuations:
            self.add_valuation(cid, v)
        return cid

    def _collateral(self, row: Row[Any]) -> Collateral:
        vq = (
            select(t.collateral_valuations)
            .where(t.collateral_valuations.c.collateral_id == row.id)
            .order_by(t.collateral_valuations.c.valued_on, t.collateral_valuations.c.id)
        )
        valuations = tuple(
            Valuation(v.valued_on, v.value_fen, v.appraiser or "", v.method or "") for v in self.conn.execute(vq)
        )
        return Collateral(
            CollateralKind(row.kind),
            row.description,
            row.owner or "",
            row.registration_no or "",
            CustodyStatus(row.custody_status),
            valuations,
        )

    def collateral(self, loan_no: str) -> list[tuple[int, Collateral]]:
        q = select(t.collateral).where(t.collateral.c.loan_id == self._loan_id(loan_no)).order_by(t.collateral.c.id)
        return [(r.id, self._collateral(r)) for r in self.conn.execute(q)]

    def get_collateral(self, collateral_id: int) -> Collateral | None:
        r = self.conn.execute(select(t.collateral).where(t.collateral.c.id == collateral_id)).first()
        return None if r is None else self._collateral(r)

    def add_valuation(self, collateral_id: int, v: Valuation) -> None:
        self.conn.execute(
            insert(t.collateral_valuations).values(
                collateral_id=collateral_id,
                valued_on=v.valued_on,
                value_fen=v.value_fen,
                appraiser=v.appraiser or None,
                method=v.method or None,
            )
        )

    def set_custody(self, collateral_id: int, status: CustodyStatus) -> None:
        self.conn.execute(
            update(t.collateral).where(t.collateral.c.id == collateral_id).values(custody_status=status.value)
        )


class SqlOverrides:
    def __init__(self, conn: Connection, clock: Clock) -> None:
        self.conn, self.clock = conn, clock

    def add(self, loan_no: str, grade: str, reason: str, maker: str, status: str, effective_on: date) -> int:
        loan_id = self.conn.execute(select(t.loans.c.id).where(t.loans.c.loan_no == loan_no)).scalar_one()
        now = self.clock.now()
        return insert_id(
            self.conn,
            t.classification_overrides,
            {
                "loan_id": loan_id,
                "grade": grade,
                "reason": reason,
                "maker": maker,
                "status": status,
                "effective_on": effective_on,
                "created_at": now,
                "decided_at": now if status == "approved" else None,
            },
        )

    def _record(self, r: Row[Any]) -> OverrideRecord:
        return OverrideRecord(r.id, r.loan_no, r.grade, r.reason, r.maker, r.checker, r.status, r.effective_on)

    def _query(self) -> Any:
        o = t.classification_overrides
        return select(o, t.loans.c.loan_no).join(t.loans, t.loans.c.id == o.c.loan_id)

    def get(self, override_id: int) -> OverrideRecord | None:
        r = self.conn.execute(self._query().where(t.classification_overrides.c.id == override_id)).first()
        return None if r is None else self._record(r)

    def decide(self, override_id: int, status: str, checker: str | None) -> None:
        o = t.classification_overrides
        self.conn.execute(
            update(o).where(o.c.id == override_id).values(status=status, checker=checker, decided_at=self.clock.now())
        )

    def supersede(self, loan_no: str, keep_id: int) -> None:
        o = t.classification_overrides
        loan_id = select(t.loans.c.id).where(t.loans.c.loan_no == loan_no).scalar_subquery()
        self.conn.execute(
            update(o)
            .where(o.c.loan_id == loan_id, o.c.id != keep_id, o.c.status == "approved")
            .values(status="superseded")
        )

    def pending(self) -> list[OverrideRecord]:
        q = self._query().where(t.classification_overrides.c.status == "pending")
        return [self._record(r) for r in self.conn.execute(q.order_by(t.classification_overrides.c.id))]

    def current_grade(self, loan_no: str) -> str | None:
        q = select(t.loans.c.classification).where(t.loans.c.loan_no == loan_no)
        grade: str | None = self.conn.execute(q).scalar()
        return grade

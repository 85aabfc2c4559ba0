"""`build_demo_book`: generate the demo book and bulk-load it into an initialised, loan-free book.

The book is written in one database transaction on one raw DBAPI connection, in foreign-key
order, with IDs assigned here (after any rows already present):

- SQLite: `executemany` with tuples; for the load only, that connection runs with
  `synchronous=OFF`, a large page cache and foreign-key checks off (the rows are built in key
  order), and its settings are restored afterwards;
- PostgreSQL: COPY FROM STDIN (psycopg 3), then the ID sequences are moved past the IDs used, so
  that rows the application inserts later get fresh IDs.

Rows are what the repositories would have written (`storage.repository`: `loan_terms_values`,
`loan_state_values`, `installment_values`): loading a loan back through the unit of work gives the
loan the domain computes from its opening and its payments.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import islice, repeat
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Engine, Table, func, select
from sqlalchemy.engine.interfaces import DBAPIConnection

from daihou.demo.behaviour import Behaviour, Status
from daihou.demo.generate import (
    ACCOUNTS,
    ENTRY_ACCRUAL,
    ENTRY_DISBURSEMENT,
    PRODUCT_MIX,
    DemoBook,
    ProductRef,
    generate_book,
)
from daihou.domain.journal import EntryKind
from daihou.storage import tables as t
from daihou.storage.repository import SqlProducts

Progress = Callable[[str, int, int], None]
Obj = npt.NDArray[np.object_]
CHUNK = 100_000  # rows per executemany call / progress report
ACCRUAL_MEMO = "opening accruals of the demo book"
PAYMENT_RESULT = '{"demo": true}'
DISBURSEMENT_RESULT = "{}"  # as the service records a booking
SQLITE_CACHE_KIB = 1_048_576  # 1 GiB of page cache while loading


@dataclass(frozen=True, slots=True)
class DemoSummary:
    borrowers: int
    contacts: int
    loans: int
    schedule_versions: int
    installments: int
    transactions: int
    journal_entries: int
    journal_lines: int
    loans_by_status: dict[str, int] = field(default_factory=dict)
    loans_by_behaviour: dict[str, int] = field(default_factory=dict)
    loans_by_product: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    seconds_by_stage: dict[str, float] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return (
            self.borrowers
            + self.contacts
            + self.loans
            + self.schedule_versions
            + self.installments
            + self.transactions
            + self.journal_entries
            + self.journal_lines
        )


def build_demo_book(
    engine: Engine,
    *,
    loans: int,
    seed: int,
    as_of: date,
    now: datetime,
    progress: Progress | None = None,
) -> DemoSummary:
    """Fill an initialised book that has no loans with a synthetic book of `loans` loans.

    Raises ValueError when the book already has loans or lacks the default products.
    """
    started = time.perf_counter()
    tell = progress or (lambda stage, done, total: None)
    products, next_ids = _read_book(engine)
    stages = {"check": time.perf_counter() - started}
    raw = engine.raw_connection()
    try:
        dbapi = raw.driver_connection
        assert dbapi is not None
        writer: _Writer
        if engine.dialect.name == "postgresql":
            writer = _PostgresWriter(dbapi, now)
        else:
            writer = _SqliteWriter(dbapi, _sqlite_timestamp(engine, now))
        with writer:
            mark = time.perf_counter()
            book = generate_book(products, loans=loans, seed=seed, as_of=as_of, progress=tell)
            stages["generate"] = time.perf_counter() - mark
            mark = time.perf_counter()
            summary = _write_book(writer, book, next_ids, tell)
            stages["write"] = time.perf_counter() - mark
    finally:
        raw.close()
    stages["total"] = time.perf_counter() - started
    return _with_time(summary, stages)


def _with_time(summary: DemoSummary, stages: dict[str, float]) -> DemoSummary:
    fields = {f: getattr(summary, f) for f in DemoSummary.__dataclass_fields__}
    fields.update(seconds=stages["total"], seconds_by_stage=stages)
    return DemoSummary(**fields)


# ---------------------------------------------------------------- reading what is there


def _read_book(engine: Engine) -> tuple[list[ProductRef], dict[str, int]]:
    with engine.connect() as conn:
        loans = conn.execute(select(func.count()).select_from(t.loans)).scalar_one()
        if loans:
            raise ValueError(f"the book already has {loans} loans; the demo book is built into an empty book")
        stored = {p.code: p for p in SqlProducts(conn, _NoClock()).all()}
        ids = dict(conn.execute(select(t.products.c.code, t.products.c.id)).tuples().all())
        missing = [m.code for m in PRODUCT_MIX if m.code not in stored]
        if missing:
            raise ValueError(f"the book lacks the default products {missing}; run `daihou init` first")
        next_ids = {
            table.name: int(conn.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one()) + 1
            for table in _TABLES
        }
    return [ProductRef(int(ids[m.code]), stored[m.code]) for m in PRODUCT_MIX], next_ids


class _NoClock:
    def now(self) -> datetime:
        raise AssertionError("reading products needs no clock")


_TABLES: tuple[Table, ...] = (
    t.borrowers,
    t.borrower_contacts,
    t.loans,
    t.schedule_versions,
    t.installments,
    t.transactions,
    t.journal_entries,
    t.journal_lines,
)


# ---------------------------------------------------------------- rows


@dataclass(frozen=True, slots=True)
class Const:
    """The same value in every row (a literal in the SQLite statement)."""

    value: Any


Column = npt.NDArray[Any] | Const  # one element per row


def _write_book(writer: _Writer, book: DemoBook, next_ids: dict[str, int], tell: Progress) -> DemoSummary:
    counts = {}
    for table, columns in _rows(book, next_ids, writer.now):
        counts[table.name] = writer.write(table, columns, tell)
    writer.finish(next_ids, counts)
    o = book.outcome
    return DemoSummary(
        borrowers=counts["borrowers"],
        contacts=counts["borrower_contacts"],
        loans=counts["loans"],
        schedule_versions=counts["schedule_versions"],
        installments=counts["installments"],
        transactions=counts["transactions"],
        journal_entries=counts["journal_entries"],
        journal_lines=counts["journal_lines"],
        loans_by_status=_tally(o.status, [s.value for s in Status], lambda k: Status(k).label),
        loans_by_behaviour=_tally(o.behaviour, [b.value for b in Behaviour], lambda k: Behaviour(k).label),
        loans_by_product=_tally(book.loans.product, list(range(len(PRODUCT_MIX))), lambda k: PRODUCT_MIX[k].code),
    )


def _tally(values: npt.NDArray[Any], codes: list[int], label: Callable[[int], str]) -> dict[str, int]:
    counts = np.bincount(values.astype(np.int64), minlength=max(codes) + 1)
    return {label(k): int(counts[k]) for k in codes}


def _rows(book: DemoBook, next_ids: dict[str, int], now: Any) -> Iterator[tuple[Table, dict[str, Column]]]:
    """Each table's columns, in foreign-key order; built lazily so only one table's lists live at once."""
    parties, loans, o, ledger = book.parties, book.loans, book.outcome, book.ledger
    n_b, n = len(parties), len(loans)
    borrower_id = next_ids["borrowers"] + np.arange(n_b)
    loan_id = next_ids["loans"] + np.arange(n)
    kind = np.where(parties.enterprise, "enterprise", "individual").astype(object)
    yield (
        t.borrowers,
        {
            "id": borrower_id,
            "borrower_no": book.borrower_no,
            "kind": kind,
            "name": parties.name,
            "id_number": parties.id_number,
            "mobile": parties.mobile,
            "address": parties.address,
            "employer": parties.employer,
            "legal_representative": parties.legal_representative,
            "version": Const(1),
            "created_at": Const(now),
        },
    )
    yield (
        t.borrower_contacts,
        {
            "id": (next_ids["borrower_contacts"] + np.arange(parties.contact_borrower.shape[0])),
            "borrower_id": borrower_id[parties.contact_borrower],
            "name": parties.contact_name,
            "relation": parties.contact_relation,
            "mobile": parties.contact_mobile,
        },
    )

    refs = [r.product for r in book.products]
    per_product = {
        "product_id": [r.id for r in book.products],
        "method": [p.method.value for p in refs],
        "frequency": [p.frequency.value for p in refs],
        "day_count": [p.day_count.value for p in refs],
        "grace_days": [p.grace_days for p in refs],
        "dpd_tolerance_fen": [p.dpd_tolerance_fen for p in refs],
        "compound_interest": [p.compound_interest for p in refs],
        "allocation_order": [",".join(c.value for c in p.allocation.order) for p in refs],
        "allocation_mode": [p.allocation.mode.value for p in refs],
    }
    statuses = np.array([Status(k).label for k in range(len(Status))], dtype=object)
    first_due = np.full(n, None, dtype=object)
    broken = loans.first_due >= 0
    first_due[broken] = _day_texts(loans.first_due[broken])
    yield (
        t.loans,
        {
            "id": loan_id,
            "loan_no": loans.loan_no,
            "contract_no": np.array(["HT" + no[2:] for no in loans.loan_no.tolist()], dtype=object),
            "borrower_id": borrower_id[loans.borrower],
            **{name: np.array(values, dtype=object)[loans.product] for name, values in per_product.items()},
            "officer": loans.officer,
            "purpose": loans.purpose,
            "principal_fen": loans.principal_fen,
            "rate_annual_ppm": loans.rate_ppm,
            "penalty_rate_annual_ppm": loans.penalty_ppm,
            "periods": loans.periods,
            "disbursed_on": _day_texts(loans.disbursed),
            "first_due_on": first_due,
            "status": statuses[o.status],
            **{f"{part}_{state}_fen": Const(0) for part in ("cost", "fee") for state in ("due", "paid", "waived")},
            "credit_fen": Const(0),
            "received_fen": o.received_fen,
            "accrued_through": Const(book.as_of.isoformat()),
            "schedule_version": o.schedule_version,
            "version": Const(1),
            "created_at": Const(now),
            "updated_at": Const(now),
        },
    )

    paid_off = np.flatnonzero(o.payoff_day >= 0)
    sv_loan = np.concatenate([np.arange(n), paid_off])
    sv_version = np.concatenate([np.ones(n, dtype=np.int64), np.full(paid_off.shape[0], 2)])
    sv_day = np.concatenate([loans.disbursed, o.payoff_day[paid_off]])
    sv_reason = np.array(["disbursement", "payment"], dtype=object)[sv_version - 1]
    yield (
        t.schedule_versions,
        {
            "id": (next_ids["schedule_versions"] + np.arange(sv_loan.shape[0])),
            "loan_id": loan_id[sv_loan],
            "version": sv_version,
            "reason": sv_reason,
            "effective_on": _day_texts(sv_day),
            "created_at": Const(now),
        },
    )

    inst = o.installments
    yield (
        t.installments,
        {
            "id": (next_ids["installments"] + np.arange(len(inst))),
            "loan_id": loan_id[inst.loan],
            "schedule_version": inst.version,
            "no": inst.no,
            "start_date": _day_texts(inst.start),
            "due_date": _day_texts(inst.due),
            "principal_due_fen": inst.principal_due,
            "principal_paid_fen": inst.principal_paid,
            "principal_waived_fen": Const(0),
            "interest_due_fen": inst.interest_due,
            "interest_paid_fen": inst.interest_paid,
            "interest_waived_fen": Const(0),
            "penalty_due_fen": inst.penalty_due,
            "penalty_paid_fen": inst.penalty_paid,
            "penalty_waived_fen": Const(0),
            "compound_due_fen": inst.compound_due,
            "compound_paid_fen": inst.compound_paid,
            "compound_waived_fen": Const(0),
            "interest_accrued_fen": inst.interest_accrued,
        },
    )

    pay = o.payments
    loan_nos = loans.loan_no
    references = [f"DEMO-{no}-{k:03d}" for no, k in zip(loan_nos[pay.loan].tolist(), book.payment_seq.tolist())]
    disbursement_refs = ["DISB:" + no for no in loan_nos.tolist()]
    is_payment = ledger.tx_payment >= 0
    tx_reference = np.empty(ledger.tx_loan.shape[0], dtype=object)
    tx_reference[is_payment] = references
    tx_reference[~is_payment] = disbursement_refs
    tx_kind = np.where(is_payment, "payment", "disbursement").astype(object)
    tx_result = np.where(is_payment, PAYMENT_RESULT, DISBURSEMENT_RESULT).astype(object)
    tx_id = next_ids["transactions"] + np.arange(ledger.tx_loan.shape[0])
    yield (
        t.transactions,
        {
            "id": tx_id,
            "loan_id": loan_id[ledger.tx_loan],
            "kind": tx_kind,
            "reference": tx_reference,
            "value_date": _day_texts(ledger.tx_day),
            "amount_fen": ledger.tx_amount,
            "reversed": Const(False),
            "result": tx_result,
            "created_at": Const(now),
        },
    )

    kinds = {ENTRY_DISBURSEMENT: EntryKind.DISBURSEMENT, ENTRY_ACCRUAL: EntryKind.ACCRUAL}
    entry_kind = np.array([kinds.get(k, EntryKind.PAYMENT).value for k in range(3)], dtype=object)
    memo = tx_reference[np.maximum(ledger.entry_tx, 0)]
    memo[ledger.entry_kind == ENTRY_DISBURSEMENT] = loan_nos[ledger.entry_loan[ledger.entry_kind == ENTRY_DISBURSEMENT]]
    memo[ledger.entry_kind == ENTRY_ACCRUAL] = ACCRUAL_MEMO
    entry_tx = np.where(ledger.entry_tx >= 0, tx_id[np.maximum(ledger.entry_tx, 0)], -1).astype(object)
    entry_tx[ledger.entry_tx < 0] = None
    entry_id = next_ids["journal_entries"] + np.arange(ledger.entry_loan.shape[0])
    yield (
        t.journal_entries,
        {
            "id": entry_id,
            "loan_id": loan_id[ledger.entry_loan],
            "transaction_id": entry_tx,
            "kind": entry_kind[ledger.entry_kind],
            "booked_on": _day_texts(ledger.entry_day),
            "memo": memo,
            "created_at": Const(now),
        },
    )

    accounts = np.array([a.value for a in ACCOUNTS], dtype=object)
    yield (
        t.journal_lines,
        {
            "id": (next_ids["journal_lines"] + np.arange(ledger.line_entry.shape[0])),
            "entry_id": entry_id[ledger.line_entry],
            "loan_id": loan_id[ledger.line_loan],
            "account": accounts[ledger.line_account],
            "amount_fen": ledger.line_amount,
        },
    )


def _day_texts(days: npt.NDArray[np.int64]) -> Obj:
    """ISO dates ('2026-11-22') of days since 1970, through a table of the days spanned."""
    if not days.shape[0]:
        return np.empty(0, dtype=object)
    lo, hi = int(days.min()), int(days.max())
    table = np.arange(lo, hi + 1).astype("datetime64[D]").astype(str).astype(object)
    texts: Obj = table[days - lo]
    return texts


# ---------------------------------------------------------------- writers


class _Writer:
    now: Any

    def __enter__(self) -> _Writer:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        raise NotImplementedError

    def write(self, table: Table, columns: dict[str, Column], tell: Progress) -> int:
        raise NotImplementedError

    def finish(self, next_ids: dict[str, int], counts: dict[str, int]) -> None:
        """Work after the last table, inside the transaction."""


def _check_columns(table: Table, columns: dict[str, Column]) -> int:
    """The number of rows; fails early when the schema has a required column the demo does not fill."""
    unknown = [c for c in columns if c not in table.c]
    missing = [c.name for c in table.c if c.name not in columns and not c.nullable and c.server_default is None]
    if unknown or missing:
        raise ValueError(f"table {table.name}: the demo writes unknown columns {unknown} and misses {missing}")
    lengths = {len(v) for v in columns.values() if not isinstance(v, Const)}
    assert len(lengths) == 1, f"{table.name}: columns of different lengths {lengths}"
    return lengths.pop()


def _tuples(columns: Iterable[Column]) -> Iterator[tuple[Any, ...]]:
    return zip(*(repeat(c.value) if isinstance(c, Const) else c for c in columns))


class _SqliteWriter(_Writer):
    def __init__(self, dbapi: DBAPIConnection, now: str) -> None:
        self.conn, self.now = dbapi, now
        self.cur = dbapi.cursor()
        self.saved: dict[str, Any] = {}

    def __enter__(self) -> _SqliteWriter:
        for pragma in ("synchronous", "cache_size", "foreign_keys", "temp_store"):
            self.saved[pragma] = self.cur.execute(f"PRAGMA {pragma}").fetchone()[0]
        if self.conn.in_transaction:  # type: ignore[attr-defined]
            self.conn.commit()
        self.cur.execute("PRAGMA synchronous=OFF")  # a crash mid-load loses the load, not the book
        self.cur.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        self.cur.execute("PRAGMA foreign_keys=OFF")  # rows are written parents first, IDs assigned here
        self.cur.execute("PRAGMA temp_store=MEMORY")
        self.cur.execute("BEGIN")
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            if exc_type is None:
                self.conn.commit()
            else:
                self.conn.rollback()
        finally:
            for pragma, value in self.saved.items():
                self.cur.execute(f"PRAGMA {pragma}={int(value)}")
            self.cur.close()

    def write(self, table: Table, columns: dict[str, Column], tell: Progress) -> int:
        total = _check_columns(table, columns)
        values = ", ".join(_sqlite_literal(v.value) if isinstance(v, Const) else "?" for v in columns.values())
        sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({values})"
        rows = _tuples(v for v in columns.values() if not isinstance(v, Const))
        done = 0
        tell(f"write {table.name}", 0, total)
        while done < total:
            step = min(CHUNK, total - done)
            self.cur.executemany(sql, islice(rows, step))
            done += step
            tell(f"write {table.name}", done, total)
        return total


def _sqlite_literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool | int):
        return str(int(value))
    assert isinstance(value, str)
    return "'" + value.replace("'", "''") + "'"


def _sqlite_timestamp(engine: Engine, now: datetime) -> str:
    """`now` as SQLAlchemy stores a DateTime on SQLite."""
    dialect = engine.dialect
    process = t.loans.c.created_at.type.dialect_impl(dialect).bind_processor(dialect)
    value = process(now) if process else now
    assert isinstance(value, str)
    return value


class _PostgresWriter(_Writer):
    def __init__(self, dbapi: DBAPIConnection, now: datetime) -> None:
        self.conn, self.now = dbapi, now
        self.cur = dbapi.cursor()

    def __enter__(self) -> _PostgresWriter:
        self.conn.rollback()  # a fresh transaction
        self.cur.execute("SET LOCAL synchronous_commit = off")
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            if exc_type is None:
                self.conn.commit()
                for table in _TABLES:  # fresh statistics for the planner: the tables went from empty to large
                    self.cur.execute(f"ANALYZE {table.name}")
                self.conn.commit()
            else:
                self.conn.rollback()
        finally:
            self.cur.close()

    def write(self, table: Table, columns: dict[str, Column], tell: Progress) -> int:
        total = _check_columns(table, columns)
        rows = _tuples(columns.values())
        tell(f"write {table.name}", 0, total)
        done = 0
        with self.cur.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:  # type: ignore[attr-defined]
            while done < total:
                step = min(CHUNK, total - done)
                for row in islice(rows, step):
                    copy.write_row(row)
                done += step
                tell(f"write {table.name}", done, total)
        return total

    def finish(self, next_ids: dict[str, int], counts: dict[str, int]) -> None:
        """Move each ID sequence past the IDs written, so the application's next insert gets a fresh one."""
        for table in _TABLES:
            if counts.get(table.name):
                last = next_ids[table.name] + counts[table.name] - 1
                self.cur.execute("SELECT setval(pg_get_serial_sequence(%s, 'id'), %s)", (table.name, last))

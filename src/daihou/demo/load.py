"""`build_demo_book`: generate the demo book, then bulk-load it into an initialised book without loans.

The book is generated first (`daihou.demo.generate`: NumPy columns, no database), then written in
one database transaction, in foreign-key order, by a backend writer (`daihou.demo.writers`). Any
failure rolls the whole load back: the book is left as it was.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Engine, func, select

from daihou.demo.behaviour import Behaviour, Status
from daihou.demo.generate import PRODUCT_MIX, DemoBook, ProductRef, generate_book
from daihou.demo.rows import TABLES, Rows
from daihou.demo.writers import PostgresWriter, Progress, SqliteWriter, Writer, sqlite_timestamp
from daihou.storage import tables as t
from daihou.storage.repository import SqlProducts

HELPER_MIN_ROWS = 100_000  # journal rows from which a second process writes the journal (SQLite)
HANDED_OFF = (t.journal_entries, t.journal_lines)  # what that process writes: a third of the rows


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
    seconds_by_stage: dict[str, float] = field(default_factory=dict)  # generate, write

    @property
    def rows(self) -> int:
        return (
            self.borrowers + self.contacts + self.loans + self.schedule_versions + self.installments
            + self.transactions + self.journal_entries + self.journal_lines
        )  # fmt: skip


def build_demo_book(
    engine: Engine,
    *,
    loans: int,
    seed: int,
    as_of: date,
    now: datetime,
    progress: Callable[[str, int, int], None] | None = None,
) -> DemoSummary:
    """Fill an initialised book that has no loans with a synthetic book of `loans` loans.

    `as_of` is the business date the book is brought to (every loan is closed through it), `now`
    the timestamp of the rows written. `progress(stage, done, total)` is called when a stage
    starts (done = 0) and as rows are written. Raises ValueError when the book already has loans
    or lacks the default products; nothing is written then, nor when anything else fails.
    """
    started = time.perf_counter()
    tell = Progress(progress)
    products, next_ids = _read_book(engine)
    book = generate_book(products, loans=loans, seed=seed, as_of=as_of, progress=progress)
    generated = time.perf_counter()
    raw = engine.raw_connection()
    try:
        dbapi = raw.driver_connection
        assert dbapi is not None
        writer: Writer
        if engine.dialect.name == "postgresql":
            writer = PostgresWriter(dbapi, now)
        else:
            helper = book.ledger.line_entry.shape[0] + book.ledger.entry_loan.shape[0] >= HELPER_MIN_ROWS
            writer = SqliteWriter(dbapi, sqlite_timestamp(engine, now), helper=helper)
        with writer:
            summary = _write_book(writer, book, next_ids, tell)
    finally:
        raw.close()
    done = time.perf_counter()
    stages = {"generate": generated - started, "write": done - generated}
    return replace(summary, seconds=done - started, seconds_by_stage=stages)


def _read_book(engine: Engine) -> tuple[list[ProductRef], dict[str, int]]:
    """The default products (in PRODUCT_MIX order) and the next free ID of every table written."""
    with engine.connect() as conn:
        loans = conn.execute(select(func.count()).select_from(t.loans)).scalar_one()
        if loans:
            raise ValueError(f"the book already has {loans} loans; the demo book is built into an empty book")
        stored = {p.code: p for p in SqlProducts(conn, _NoClock()).all()}
        ids = {code: pid for code, pid in conn.execute(select(t.products.c.code, t.products.c.id))}
        missing = [m.code for m in PRODUCT_MIX if m.code not in stored]
        if missing:
            raise ValueError(f"the book lacks the default products {missing}; run `daihou init` first")
        next_ids = {
            table.name: int(conn.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one()) + 1
            for table in TABLES
        }
    return [ProductRef(int(ids[m.code]), stored[m.code]) for m in PRODUCT_MIX], next_ids


class _NoClock:
    def now(self) -> datetime:
        raise AssertionError("reading products needs no clock")


def _write_book(writer: Writer, book: DemoBook, next_ids: dict[str, int], tell: Progress) -> DemoSummary:
    rows = Rows(book, next_ids, writer.now)
    handed = writer.hand_off(HANDED_OFF, rows, tell)
    # built once at the end: indexes that back no constraint (and, on PostgreSQL, foreign keys);
    # one sort and one set-based check are cheaper than an index insert and a lookup per row
    rebuilt = [pair for table in TABLES if table not in handed for pair in writer.rebuilt_after_load(table)]
    for drop, _ in rebuilt:
        writer.execute(drop)
    counts: dict[str, int] = {table.name: 0 for table in TABLES}
    for table in TABLES:
        if table not in handed:
            for columns in rows.of(table):
                counts[table.name] += writer.write(table, columns, tell)
    counts.update(writer.take_back(tell))
    assert counts == {table.name: rows.count(table) for table in TABLES}, counts
    for k, (_, create) in enumerate(reversed(rebuilt)):  # indexes before the foreign keys that use them
        tell("indexes", k, len(rebuilt))
        writer.execute(create)
    writer.finish(next_ids, counts)
    tell("commit", 0, 1)
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

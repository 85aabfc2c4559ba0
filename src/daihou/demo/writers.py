"""Bulk writers: one database transaction on one raw DBAPI connection, per backend.

- SQLite: `executemany` of tuples, one chunk of rows at a time. For the load only, the connection
  runs with `synchronous=OFF`, a larger page cache and foreign-key checks off (parents are written
  before children, with the IDs assigned by `daihou.demo.rows`), and through a rollback journal
  instead of WAL when no other connection has the file open (WAL writes every page twice: to the
  log, then at the checkpoint). Everything is restored afterwards. On a big book the journal
  tables are written by a second process (`fork`) into a scratch file while this one writes the
  rest; SQLite then copies them in whole (`INSERT INTO … SELECT *` into an empty table with the
  same schema copies pages of rows and index entries, the "transfer optimisation").
- PostgreSQL: COPY FROM STDIN (psycopg 3), foreign keys checked once after the load instead of by
  a trigger per row; then the ID sequences are moved past the IDs written and the tables analysed.

Indexes that back no constraint are dropped for the load and built again at its end, inside the
same transaction: one sort is cheaper than an index insert per row.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
import traceback
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from itertools import repeat
from typing import Any, ClassVar

import numpy as np
import psycopg
from sqlalchemy import Engine, Table
from sqlalchemy.engine.interfaces import DBAPIConnection

from daihou.demo.rows import TABLES, Column, Columns, Const, Rows
from daihou.storage import tables as t

CHUNK = 100_000  # rows per executemany call or progress report
SQLITE_CACHE_KIB = 262_144  # 256 MiB of page cache while loading
SCRATCH = "demo_scratch"  # schema name of the scratch file attached on SQLite
PG_LOCK_TIMEOUT_S = 10


class Progress:
    """`progress(stage, done, total)` of `build_demo_book`; a no-op when none was given."""

    def __init__(self, report: Any = None) -> None:
        self.report = report

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self.report is not None:
            self.report(stage, done, total)


class Writer:
    """What `load` needs from a backend."""

    now: Any  # the rows' created_at, in the form the driver takes

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        raise NotImplementedError

    def rebuilt_after_load(self, table: Table) -> list[tuple[str, str]]:
        """(DROP, CREATE) statements of what is dropped for the load and made again after it."""
        raise NotImplementedError

    def execute(self, sql: str) -> None:
        raise NotImplementedError

    def write(self, table: Table, columns: Columns, tell: Progress) -> int:
        raise NotImplementedError

    def hand_off(self, tables: Sequence[Table], rows: Rows, tell: Progress) -> tuple[Table, ...]:
        """Start writing `tables` elsewhere while this writer writes the others; returns those taken."""
        return ()

    def take_back(self, tell: Progress) -> dict[str, int]:
        """Wait for the tables handed off and copy them in; their row counts."""
        return {}

    def finish(self, next_ids: dict[str, int], counts: dict[str, int]) -> None:
        """Work after the last table, inside the transaction."""


def check_columns(table: Table, columns: Columns) -> int:
    """The number of rows; fails early when the schema has a required column the demo does not fill."""
    unknown = [c for c in columns if c not in table.c]
    missing = [c.name for c in table.c if c.name not in columns and not c.nullable and c.server_default is None]
    if unknown or missing:
        raise ValueError(f"table {table.name}: the demo writes unknown columns {unknown} and misses {missing}")
    lengths = {len(v) for v in columns.values() if not isinstance(v, Const)}
    assert len(lengths) == 1, f"{table.name}: columns of different lengths {lengths}"
    return lengths.pop()


def chunks(columns: Iterable[Column], total: int) -> Iterator[tuple[int, Iterator[tuple[Any, ...]]]]:
    """(rows so far, rows of the chunk) per CHUNK rows: Python objects exist for one chunk at a time."""
    columns = list(columns)
    for lo in range(0, total, CHUNK):
        hi = min(lo + CHUNK, total)
        values = (repeat(c.value) if isinstance(c, Const) else c[lo:hi].tolist() for c in columns)
        yield hi, zip(*values, strict=False)  # constants repeat without end


# ---------------------------------------------------------------- SQLite


def sqlite_timestamp(engine: Engine, now: datetime) -> str:
    """`now` as SQLAlchemy stores a DateTime on SQLite."""
    dialect = engine.dialect
    process = t.loans.c.created_at.type.dialect_impl(dialect).bind_processor(dialect)
    value = process(now) if process else now
    assert isinstance(value, str)
    return value


def _literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool | int):
        return str(int(value))
    assert isinstance(value, str)
    return "'" + value.replace("'", "''") + "'"


def _insert(cur: sqlite3.Cursor, table: Table, columns: Columns, tell: Progress, number: bool) -> int:
    """executemany in chunks; with `number`, SQLite numbers the rows (max(id) + 1, cheaper than binding).

    The IDs given are consecutive from the table's max(id) + 1, so SQLite's numbering is the
    same; both ends are checked.
    """
    total = check_columns(table, columns)
    if not total:
        return 0
    if number:
        columns = dict(columns)
        ids = columns.pop("id")
        assert isinstance(ids, np.ndarray)
        first, last = int(ids[0]), int(ids[-1])
        assert last - first == total - 1
        before = cur.execute(f"SELECT COALESCE(MAX(id), 0) FROM main.{table.name}").fetchone()[0]
        assert before == first - 1, f"{table.name}: IDs would start at {before + 1}, not {first}"
    values = ", ".join(_literal(v.value) if isinstance(v, Const) else "?" for v in columns.values())
    sql = f"INSERT INTO main.{table.name} ({', '.join(columns)}) VALUES ({values})"
    tell(f"write {table.name}", 0, total)
    for done, rows in chunks((v for v in columns.values() if not isinstance(v, Const)), total):
        cur.executemany(sql, rows)
        tell(f"write {table.name}", done, total)
    if number:
        after = cur.execute(f"SELECT MAX(id) FROM main.{table.name}").fetchone()[0]
        assert after == last, f"{table.name}: SQLite numbered up to {after}, expected {last}"
    return total


class SqliteWriter(Writer):
    PRAGMAS: ClassVar[dict[str, str]] = {
        "synchronous": "OFF",  # a crash mid-load loses the load (one transaction), not the book
        "cache_size": f"-{SQLITE_CACHE_KIB}",
        "foreign_keys": "OFF",  # rows are written parents first with the IDs assigned here
        "temp_store": "MEMORY",  # index rebuilds sort in memory
    }

    def __init__(self, dbapi: DBAPIConnection, now: str, helper: bool) -> None:
        """`helper`: a second process may write some tables (a file database and `os.fork` needed)."""
        self.conn, self.now = dbapi, now
        self.cur: sqlite3.Cursor = dbapi.cursor()  # type: ignore[assignment]  # pysqlite's
        self.saved: dict[str, Any] = {}
        self.journal_mode = "wal"
        self.helper = helper and hasattr(os, "fork")
        self.scratch_dir: str | None = None
        self.child: tuple[int, tuple[Table, ...]] | None = None

    def __enter__(self) -> SqliteWriter:
        if self.conn.in_transaction:
            self.conn.commit()
        for pragma, value in self.PRAGMAS.items():
            self.saved[pragma] = self.cur.execute(f"PRAGMA {pragma}").fetchone()[0]
            self.cur.execute(f"PRAGMA {pragma}={value}")
        self.journal_mode = self._leave_wal()
        main_file = next(row[2] for row in self.cur.execute("PRAGMA database_list") if row[1] == "main")
        if self.helper and main_file:  # ATTACH is refused inside a transaction: now or never
            # next to the book: the same disk, which has room for the book
            self.scratch_dir = tempfile.mkdtemp(prefix=".daihou-demo-", dir=os.path.dirname(main_file))
            self.cur.execute(f"ATTACH DATABASE ? AS {SCRATCH}", (os.path.join(self.scratch_dir, "scratch.db"),))
        self.cur.execute("BEGIN")
        return self

    def _leave_wal(self) -> str:
        """Switch the file to a rollback journal if no one else has it open; the mode to restore.

        In WAL mode every page of the load is written twice: to the log, then by the checkpoint
        at commit; with a rollback journal the pages an append-only load adds are written once and
        only the few pages that existed before are journaled. Leaving WAL needs the file to
        itself: when another connection has it open, SQLite refuses at once and the load uses WAL.
        """
        mode = str(self.cur.execute("PRAGMA journal_mode").fetchone()[0])
        if mode != "wal":
            return mode
        timeout = self.cur.execute("PRAGMA busy_timeout").fetchone()[0]
        self.cur.execute("PRAGMA busy_timeout=0")
        try:
            self.cur.execute("PRAGMA main.journal_mode=TRUNCATE").fetchone()
        except sqlite3.OperationalError:  # "database is locked": someone else has it open
            pass
        finally:
            self.cur.execute(f"PRAGMA busy_timeout={int(timeout)}")
        return mode

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            if self.child is not None:  # failed before taking the tables back: stop the helper
                _stop(self.child[0])
            if exc_type is None:
                self.conn.commit()
            else:
                self.conn.rollback()
        finally:
            if self.scratch_dir is not None:
                self.cur.execute(f"DETACH DATABASE {SCRATCH}")
                shutil.rmtree(self.scratch_dir, ignore_errors=True)
            if self.cur.execute("PRAGMA main.journal_mode").fetchone()[0] != self.journal_mode:
                self.cur.execute(f"PRAGMA main.journal_mode={self.journal_mode}")
            for pragma, value in self.saved.items():
                self.cur.execute(f"PRAGMA {pragma}={int(value)}")
            self.cur.close()

    def rebuilt_after_load(self, table: Table) -> list[tuple[str, str]]:
        """The indexes that back no constraint (those have no SQL of their own)."""
        q = "SELECT name, sql FROM main.sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL"
        return [(f'DROP INDEX main."{name}"', sql) for name, sql in self.cur.execute(q, (table.name,)).fetchall()]

    def execute(self, sql: str) -> None:
        self.cur.execute(sql)

    def write(self, table: Table, columns: Columns, tell: Progress) -> int:
        return _insert(self.cur, table, columns, tell, number=True)

    def hand_off(self, tables: Sequence[Table], rows: Rows, tell: Progress) -> tuple[Table, ...]:
        """A forked process writes `tables` (with their indexes) into the scratch file."""
        if self.scratch_dir is None or not tables:
            return ()
        names = [x.name for x in tables]
        marks = ", ".join("?" * len(names))
        q = f"SELECT sql FROM main.sqlite_master WHERE tbl_name IN ({marks}) AND sql IS NOT NULL ORDER BY type DESC"
        schema = [sql for (sql,) in self.cur.execute(q, names).fetchall()]  # tables first, then their indexes
        path = os.path.join(self.scratch_dir, "scratch.db")
        for table in tables:
            tell(f"write {table.name} (second process)", 0, rows.count(table))
        pid = os.fork()
        if pid == 0:  # the child: never returns
            _write_scratch(path, schema, tables, rows)
        self.child = (pid, tuple(tables))
        return tuple(tables)

    def take_back(self, tell: Progress) -> dict[str, int]:
        if self.child is None:
            return {}
        pid, tables = self.child
        tell("wait for the second process", 0, 1)
        _, status = os.waitpid(pid, 0)
        self.child = None
        if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
            raise RuntimeError(f"the process writing {[x.name for x in tables]} failed (status {status})")
        counts = {}
        for table in tables:  # into empty tables of the same schema: SQLite copies rows and index entries
            counts[table.name] = int(self.cur.execute(f"SELECT count(*) FROM {SCRATCH}.{table.name}").fetchone()[0])
            tell(f"copy {table.name}", 0, counts[table.name])
            self.cur.execute(f"INSERT INTO main.{table.name} SELECT * FROM {SCRATCH}.{table.name}")
            tell(f"copy {table.name}", counts[table.name], counts[table.name])
        return counts


def _write_scratch(path: str, schema: list[str], tables: Sequence[Table], rows: Rows) -> None:
    """In the forked child: write `tables` into a new file, build their indexes, exit (0 when done).

    The child touches nothing of its parent's (no connection, no Python-level lock or buffer):
    it opens its own file, reports failure on file descriptor 2 and leaves with os._exit.
    """
    status = 1
    try:
        conn = sqlite3.connect(path, isolation_level=None)
        cur = conn.cursor()
        for pragma in ("journal_mode=OFF", "synchronous=OFF", "locking_mode=EXCLUSIVE", "temp_store=MEMORY"):
            cur.execute(f"PRAGMA {pragma}")  # a scratch file: no journal, no syncs
        cur.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        cur.execute("BEGIN")
        for sql in schema:
            if sql.lstrip().upper().startswith("CREATE TABLE"):
                cur.execute(sql)
        for table in tables:
            for columns in rows.of(table):
                _insert(cur, table, columns, Progress(), number=False)
        for sql in schema:  # indexes after the rows: one sort each
            if not sql.lstrip().upper().startswith("CREATE TABLE"):
                cur.execute(sql)
        cur.execute("COMMIT")
        conn.close()
        status = 0
    except BaseException:  # the child reports any failure and exits
        os.write(2, traceback.format_exc().encode())
    finally:
        os._exit(status)


def _stop(pid: int) -> None:
    try:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


# ---------------------------------------------------------------- PostgreSQL


class PostgresWriter(Writer):
    def __init__(self, dbapi: DBAPIConnection, now: datetime) -> None:
        self.conn, self.now = dbapi, now
        self.cur = dbapi.cursor()

    def __enter__(self) -> PostgresWriter:
        self.conn.rollback()  # a fresh transaction
        # dropping foreign keys locks the tables they join: fail clearly rather than wait on a session
        # that keeps a transaction open on the book
        self.cur.execute(f"SET LOCAL lock_timeout = '{PG_LOCK_TIMEOUT_S}s'")
        self.cur.execute("SET LOCAL synchronous_commit = off")
        self.cur.execute("SET LOCAL maintenance_work_mem = '256MB'")  # index builds sort in memory
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            if exc_type is None:
                self.conn.commit()
                for table in TABLES:  # fresh planner statistics: the tables went from empty to large
                    self.cur.execute(f"ANALYZE {table.name}")
                self.conn.commit()
            else:
                self.conn.rollback()
        finally:
            self.cur.close()

    def rebuilt_after_load(self, table: Table) -> list[tuple[str, str]]:
        """Its foreign keys (else checked row by row by triggers), then its indexes that back no constraint."""
        self.cur.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = %s::regclass AND contype = 'f' ORDER BY conname",
            (table.name,),
        )
        keys = [
            (
                f'ALTER TABLE {table.name} DROP CONSTRAINT "{name}"',
                f'ALTER TABLE {table.name} ADD CONSTRAINT "{name}" {definition}',
            )
            for name, definition in self.cur.fetchall()
        ]
        self.cur.execute(
            """
            SELECT i.relname, pg_get_indexdef(i.oid)
            FROM pg_index x
            JOIN pg_class i ON i.oid = x.indexrelid
            WHERE x.indrelid = %s::regclass
              AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = x.indexrelid)
            ORDER BY i.relname
            """,
            (table.name,),
        )
        return keys + [(f'DROP INDEX "{name}"', create) for name, create in self.cur.fetchall()]

    def execute(self, sql: str) -> None:
        try:
            self.cur.execute(sql)
        except psycopg.errors.LockNotAvailable as exc:
            raise RuntimeError(
                f"another session keeps a transaction open on the book ({exc.diag.message_primary}); "
                "close it and build the demo book again"
            ) from exc

    def write(self, table: Table, columns: Columns, tell: Progress) -> int:
        total = check_columns(table, columns)
        if not total:
            return 0
        tell(f"write {table.name}", 0, total)
        with self.cur.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
            for done, rows in chunks(columns.values(), total):
                for row in rows:
                    copy.write_row(row)
                tell(f"write {table.name}", done, total)
        return total

    def finish(self, next_ids: dict[str, int], counts: dict[str, int]) -> None:
        """Move each ID sequence past the IDs written, so the application's next insert gets a fresh one."""
        for table in TABLES:
            if counts.get(table.name):
                last = next_ids[table.name] + counts[table.name] - 1
                self.cur.execute("SELECT setval(pg_get_serial_sequence(%s, 'id'), %s)", (table.name, last))

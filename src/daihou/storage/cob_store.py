"""The close of business's I/O with the operational store: bulk columnar load and atomic write-back.

Load reads through DuckDB (its SQLite or PostgreSQL extension) straight into Arrow, no Python rows:
the store itself filters the installments down to those the day can change and sums each loan's
future ones into one row (`SqlCobStore.load`), in parallel id ranges. Write-back updates the loans
and the changed installments by key, posts the journal (entry ids assigned in bulk after the
largest) and the run record — all in one transaction, so a run killed at any point leaves the store
as it was before the run. On SQLite the rows are updated with `executemany` under a large page
cache; on PostgreSQL they are staged with COPY and applied with one UPDATE … FROM per table.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from importlib import resources
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, Engine, func, select, text, update
from sqlalchemy.engine import make_url

from daihou.batch.cob.columns import INSTALLMENT_OWED, INSTALLMENT_SCHEMA, LOAN_SCHEMA
from daihou.batch.cob.runner import INSTALLMENT_RESULTS, LOAN_RESULTS, Results, RunRecord, checkpoint
from daihou.batch.cob.steps import OPEN_STATUSES
from daihou.domain.grades import DEFAULT_RULES, RiskRules, rules_from_dict, rules_to_dict
from daihou.domain.loan import Loan
from daihou.service.ports import Clock
from daihou.storage import tables as t
from daihou.storage.repository import SqlLoans

LOAN_COLUMNS = [f.name for f in LOAN_SCHEMA if f.name != "override_grade"]
INSTALLMENT_COLUMNS = [f.name for f in INSTALLMENT_SCHEMA]
WRITE_CACHE_KIB = 2 * 1024 * 1024  # SQLite page cache during a write-back (a ceiling, not an allocation)
COB_ENTRY_KIND = "cob"  # journal_entries.kind is VARCHAR(16): "close_of_business" did not fit on PostgreSQL


def _extension_path(name: str) -> str:
    package = resources.files(f"duckdb_extension_{name}")
    return str(package / "extensions" / f"v{duckdb.__version__}" / f"{name}.duckdb_extension")


def duck_reader(engine: Engine) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the operational store attached read-only as `ops`."""
    con = duckdb.connect()
    url = engine.url
    if url.get_backend_name() == "sqlite":
        con.execute(f"LOAD '{_extension_path('sqlite_scanner')}'")
        con.execute(f"ATTACH '{url.database}' AS ops (TYPE sqlite, READ_ONLY)")
    else:
        con.execute(f"LOAD '{_extension_path('postgres_scanner')}'")
        u = make_url(str(url))
        dsn = " ".join(
            f"{k}={v}"
            for k, v in {
                "host": u.host,
                "port": u.port,
                "dbname": u.database,
                "user": u.username,
                "password": u.password,
            }.items()
            if v
        )
        con.execute(f"ATTACH '{dsn}' AS ops (TYPE postgres, READ_ONLY)")
    return con


class SqlCobStore:
    """Implements `daihou.batch.cob.runner.CobStore` over SQLite or PostgreSQL."""

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine, self.clock = engine, clock

    # ------------------------------------------------------------ runs

    def last_finished(self) -> date | None:
        with self.engine.connect() as conn:
            q = select(t.cob_runs.c.business_date).where(t.cob_runs.c.status == "finished")
            return conn.execute(q.order_by(t.cob_runs.c.business_date.desc()).limit(1)).scalar()

    def run_state(self, day: date) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(select(t.cob_runs.c.status).where(t.cob_runs.c.business_date == day)).scalar()

    def start(self, day: date, engine_name: str) -> None:
        """Record a run as started (committed at once, so a crash leaves a visible 'running' row).

        A leftover 'running' or 'failed' row of the day (a run that was killed or failed) is
        replaced. A finished day that is run again (`--rerun`) keeps its 'finished' row until
        `write_back` commits the new results, so a rerun killed part-way leaves the day closed
        with its previous results (and the rerun can simply be repeated).
        """
        with self.engine.begin() as conn:
            state = conn.execute(select(t.cob_runs.c.status).where(t.cob_runs.c.business_date == day)).scalar()
            if state == "finished":
                return
            conn.execute(t.cob_runs.delete().where(t.cob_runs.c.business_date == day))
            conn.execute(
                t.cob_runs.insert().values(
                    business_date=day,
                    engine=engine_name,
                    status="running",
                    started_at=self.clock.now(),
                    finished_at=None,
                    counts=None,
                    errors=None,
                )
            )

    def fail(self, day: date, error: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(t.cob_runs)
                .where(t.cob_runs.c.business_date == day, t.cob_runs.c.status == "running")
                .values(status="failed", finished_at=self.clock.now(), errors=json.dumps([{"error": error}]))
            )

    def runs(self, limit: int = 30) -> list[RunRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.cob_runs).order_by(t.cob_runs.c.business_date.desc()).limit(limit))
            return [
                RunRecord(
                    r.business_date,
                    r.engine,
                    r.status,
                    r.started_at,
                    r.finished_at,
                    json.loads(r.counts or "{}"),
                    json.loads(r.errors or "[]"),
                )
                for r in rows
            ]

    def versions(self, loan_ids: Sequence[int]) -> dict[int, int]:
        with self.engine.connect() as conn:
            out: dict[int, int] = {}
            for i in range(0, len(loan_ids), 500):
                q = select(t.loans.c.id, t.loans.c.version).where(t.loans.c.id.in_(loan_ids[i : i + 500]))
                out.update({row.id: row.version for row in conn.execute(q)})
            return out

    # ------------------------------------------------------------ risk rules (versioned, effective-dated)

    def rule_versions(self) -> tuple[RiskRules, ...]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.risk_rules.c.payload).order_by(t.risk_rules.c.effective_on)).scalars().all()
        return tuple(rules_from_dict(json.loads(p)) for p in rows) or DEFAULT_RULES

    def save_rules(self, rules: RiskRules, created_by: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(t.risk_rules.delete().where(t.risk_rules.c.effective_on == rules.effective))
            conn.execute(
                t.risk_rules.insert().values(
                    effective_on=rules.effective,
                    payload=json.dumps(rules_to_dict(rules)),
                    created_by=created_by,
                    created_at=self.clock.now(),
                )
            )

    # ------------------------------------------------------------ load

    def load(self, day: date) -> tuple[pa.Table, pa.Table]:
        """Open loans last closed the day before, and the installments the day can change, as Arrow tables.

        Most installments of a book cannot change on a given day, and reading them is most of the
        cost of a run, so the store itself sorts them (in SQL, read in parallel ranges):

        - settled ones already due with their interest fully recognised are left out: nothing of
          them moves and they owe nothing, so no step would see them (`_settled_sql`);
        - future ones (period not started, nothing recognised) count only through what they owe:
          each loan's future installments come as ONE row, numbered 0 and dated 9999-12-31, whose
          `*_due_fen` hold the sums of what they owe (paid and waived 0). Every step treats that row
          as it would treat them: no interest target yet, not due, not late, and loan totals the same;
        - all other installments (the running period, anything overdue) come one by one.

        The results equal those of the whole book; the differential tests hold the steps to that.
        """
        prev = (day - timedelta(days=1)).isoformat()
        statuses = ", ".join(f"'{s}'" for s in OPEN_STATUSES)
        scope = f"status IN ({statuses}) AND accrued_through = '{prev}'"
        con = duck_reader(self.engine)
        try:
            parts = _parallelism()
            tops = _store_query(
                self.engine, "SELECT (SELECT MAX(id) FROM loans) AS a, (SELECT MAX(id) FROM installments) AS b"
            )
            top_loan, top_inst = (int(v or 0) for v in con.execute(f"SELECT * FROM {tops}").fetchone() or (0, 0))
            # loans: DuckDB's typed scanner (one table scan) is cheaper than text from the store
            loan_sql = [
                f"SELECT {', '.join(LOAN_COLUMNS)} FROM ops.loans WHERE status IN ({statuses})"
                f" AND CAST(accrued_through AS DATE) = DATE '{prev}'"
            ]
            in_scope = f"loan_id IN (SELECT id FROM loans WHERE {scope})"
            live_sql = [
                f"SELECT {', '.join(INSTALLMENT_COLUMNS)}, schedule_version FROM installments"
                f" WHERE id BETWEEN {lo} AND {hi} AND NOT ({_future_sql(day)}) AND NOT ({_settled_sql(day)})"
                f" AND {in_scope}"
                for lo, hi in _ranges(top_inst, parts)
            ]
            owed = ", ".join(f"SUM({c}_due_fen - {c}_paid_fen - {c}_waived_fen) AS {c}_fen" for c in INSTALLMENT_OWED)
            future_sql = [
                f"SELECT loan_id, schedule_version, {owed} FROM installments"
                f" WHERE loan_id BETWEEN {lo} AND {hi} AND {_future_sql(day)} GROUP BY loan_id, schedule_version"
                for lo, hi in _ranges(top_loan, parts)
            ]
            # typed as they stream in (`sqlite_query` gives text): the text never piles up in memory
            live_cols = ", ".join(
                f"CAST({c} AS {'DATE' if c.endswith('_date') else 'BIGINT'}) AS {c}"
                for c in (*INSTALLMENT_COLUMNS, "schedule_version")
            )
            future_cols = ", ".join(
                f"CAST({c} AS BIGINT) AS {c}"
                for c in ("loan_id", "schedule_version", *(f"{o}_fen" for o in INSTALLMENT_OWED))
            )
            store_sql = [f"SELECT {live_cols} FROM {_store_query(self.engine, q)}" for q in live_sql]
            store_sql += [f"SELECT {future_cols} FROM {_store_query(self.engine, q)}" for q in future_sql]
            tables = _read_parallel(con, [*loan_sql, *store_sql], parts)
            a, b = len(loan_sql), len(loan_sql) + len(live_sql)
            loans = _conform_partial(pa.concat_tables(tables[:a]), LOAN_SCHEMA)
            con.register("scope_loans", loans.select(["id", "schedule_version"]))
            con.register("live_rows", pa.concat_tables(tables[a:b]))
            con.register("future_rows", pa.concat_tables(tables[b:]))
            del tables
            overrides = con.execute(
                "SELECT loan_id AS id, arg_max(grade, (CAST(effective_on AS DATE), id)) AS override_grade"
                " FROM ops.classification_overrides WHERE status = 'approved'"
                f" AND CAST(effective_on AS DATE) <= DATE '{day.isoformat()}' GROUP BY loan_id"
            ).to_arrow_table()
            at = pc.index_in(loans["id"], pc.cast(overrides["id"], pa.int64()))
            loans = loans.append_column(
                "override_grade", pc.take(pc.cast(overrides["override_grade"], pa.string()), at)
            )
            owed_cols = ", ".join(f"f.{c}_fen, 0, 0" for c in INSTALLMENT_OWED)
            installments = con.execute(
                f"SELECT {', '.join('i.' + c for c in INSTALLMENT_COLUMNS)} FROM live_rows i JOIN scope_loans s"
                " ON i.loan_id = s.id AND i.schedule_version = s.schedule_version"
                " UNION ALL"
                f" SELECT s.id, 0, DATE '{FUTURE_DATE}', DATE '{FUTURE_DATE}', {owed_cols}, 0 FROM future_rows f"
                " JOIN scope_loans s ON f.loan_id = s.id AND f.schedule_version = s.schedule_version"
            ).to_arrow_table()
        finally:
            con.close()
        return _conform(loans, LOAN_SCHEMA), _conform(
            installments.rename_columns(INSTALLMENT_COLUMNS), INSTALLMENT_SCHEMA
        )

    def lagging(self, day: date) -> list[tuple[int, Loan]]:
        """Open loans whose last closed day is before yesterday (booked or imported with a past date)."""
        prev = day - timedelta(days=1)
        with self.engine.connect() as conn:
            q = select(t.loans.c.id, t.loans.c.loan_no).where(
                t.loans.c.status.in_(OPEN_STATUSES), t.loans.c.accrued_through < prev
            )
            rows = conn.execute(q).all()
            repo = SqlLoans(conn, self.clock)
            out = []
            for row in rows:
                loan = repo.get(row.loan_no)
                assert loan is not None
                out.append((row.id, loan))
            return out

    def overrides(self, loan_ids: Sequence[int], day: date) -> dict[int, str]:
        with self.engine.connect() as conn:
            q = (
                select(t.classification_overrides.c.loan_id, t.classification_overrides.c.grade)
                .where(
                    t.classification_overrides.c.status == "approved", t.classification_overrides.c.effective_on <= day
                )
                .order_by(t.classification_overrides.c.effective_on, t.classification_overrides.c.id)
            )
            wanted = set(loan_ids)
            return {r.loan_id: r.grade for r in conn.execute(q) if r.loan_id in wanted}

    def restructuring(self, loan_ids: Sequence[int]) -> dict[int, tuple[date | None, str | None]]:
        """Each loan's restructuring observation end and floor class (both None when not restructured)."""
        out: dict[int, tuple[date | None, str | None]] = {}
        with self.engine.connect() as conn:
            for i in range(0, len(loan_ids), 500):
                q = select(t.loans.c.id, t.loans.c.restructured_until, t.loans.c.restructure_floor).where(
                    t.loans.c.id.in_(loan_ids[i : i + 500])
                )
                out.update({r.id: (r.restructured_until, r.restructure_floor) for r in conn.execute(q)})
        return out

    # ------------------------------------------------------------ write-back

    def changed_after(self, moment: datetime) -> int:
        with self.engine.connect() as conn:
            q = select(func.count()).select_from(t.loans).where(t.loans.c.updated_at > moment)
            return int(conn.execute(q).scalar_one())

    def write_back(
        self,
        day: date,
        engine_name: str,
        results: Results,
        counts: dict[str, Any],
        errors: list[dict[str, Any]],
        replace_journal: bool = False,
    ) -> None:
        """Apply a run's results atomically: loans, changed installments, journal, run record.

        On SQLite the rows are updated in place by key with `executemany` (no staging copy), with
        a page cache large enough to hold what the transaction dirties; on PostgreSQL they are
        staged with COPY and applied with one UPDATE … FROM per table.
        """
        now = self.clock.now()
        with self.engine.begin() as conn:
            sqlite = conn.dialect.name == "sqlite"
            if not sqlite:
                conn.execute(text("LOCK TABLE journal_entries, journal_lines IN EXCLUSIVE MODE"))
            with _write_cache(conn):
                if sqlite:
                    _update_sqlite(conn, "loans", results.loans, ["id"], LOAN_RESULTS, _sqlite_instant(now))
                else:
                    loans = results.loans.select(["id", *LOAN_RESULTS])
                    loans = loans.append_column(
                        "updated_at", pa.array([now] * len(loans), pa.timestamp("us", tz="UTC"))
                    )
                    _stage(conn, "cob_stage_loans", loans)
                    sets = ", ".join(f"{c} = s.{c}" for c in (*LOAN_RESULTS, "updated_at"))
                    conn.execute(
                        text(
                            f"UPDATE loans SET {sets}, version = loans.version + 1"
                            " FROM cob_stage_loans s WHERE loans.id = s.id"
                        )
                    )
                checkpoint("write_back:loans", day)
                if sqlite:
                    keys = ["loan_id", "schedule_version", "no"]
                    _update_sqlite(conn, "installments", results.installments, keys, INSTALLMENT_RESULTS)
                else:
                    _stage(conn, "cob_stage_installments", results.installments)
                    sets = ", ".join(f"{c} = s.{c}" for c in INSTALLMENT_RESULTS)
                    conn.execute(
                        text(
                            f"UPDATE installments SET {sets} FROM cob_stage_installments s"
                            " WHERE installments.loan_id = s.loan_id"
                            " AND installments.schedule_version = s.schedule_version AND installments.no = s.no"
                        )
                    )
                checkpoint("write_back:installments", day)
                lines = results.lines.sort_by([("loan_id", "ascending"), ("account", "ascending")])
                if replace_journal:  # a rerun posts the difference, for the loans it ran again
                    posted = self._posted(conn, day)
                    posted = posted.filter(pc.is_in(posted["loan_id"], results.loans["id"]))
                    lines = _minus(lines, posted)
                self._post_journal(conn, day, lines, now)
                checkpoint("write_back:journal", day)
                run = {
                    "status": "finished",
                    "finished_at": now,
                    "engine": engine_name,
                    "counts": json.dumps(counts),
                    "errors": json.dumps(errors, default=str),
                }
                done = conn.execute(update(t.cob_runs).where(t.cob_runs.c.business_date == day).values(run))
                if done.rowcount == 0:
                    conn.execute(t.cob_runs.insert().values(business_date=day, started_at=now, **run))
                if not sqlite:
                    conn.execute(text("DROP TABLE cob_stage_loans"))
                    conn.execute(text("DROP TABLE cob_stage_installments"))
                checkpoint("write_back:commit", day)

    def _posted(self, conn: Connection, day: date) -> pa.Table:
        q = text(
            "SELECT l.loan_id AS loan_id, l.account AS account, SUM(l.amount_fen) AS amount_fen FROM journal_lines l"
            " JOIN journal_entries e ON e.id = l.entry_id WHERE e.kind = :kind AND e.booked_on = :day"
            " GROUP BY l.loan_id, l.account"
        )
        rows = conn.execute(q, {"kind": COB_ENTRY_KIND, "day": day}).all()
        return pa.table(
            {
                "loan_id": pa.array([r[0] for r in rows], pa.int64()),
                "account": pa.array([r[1] for r in rows], pa.string()),
                "amount_fen": pa.array([int(r[2]) for r in rows], pa.int64()),
            }
        )

    def _post_journal(self, conn: Connection, day: date, lines: pa.Table, now: datetime) -> None:
        """One entry per loan that moved, ids assigned after the largest in the table, then its lines."""
        if len(lines) == 0:
            return
        loan_ids = np.unique(lines.column("loan_id").to_numpy())
        base = int(conn.execute(text("SELECT COALESCE(MAX(id), 0) FROM journal_entries")).scalar_one())
        n = len(loan_ids)
        memo = f"close of business {day.isoformat()}"
        entries = pa.table(
            {
                "id": pa.array(np.arange(base + 1, base + n + 1), pa.int64()),
                "loan_id": pa.array(loan_ids, pa.int64()),
                "kind": pa.array([COB_ENTRY_KIND] * n, pa.string()),
                "booked_on": pa.array([day] * n, pa.date32()),
                "memo": pa.array([memo] * n, pa.string()),
                "created_at": pa.array([now] * n),
            }
        )
        _insert(conn, "journal_entries", entries)
        entry_ids = base + 1 + np.searchsorted(loan_ids, lines.column("loan_id").to_numpy())
        _insert(
            conn,
            "journal_lines",
            lines.append_column("entry_id", pa.array(entry_ids, pa.int64())).select(
                ["entry_id", "loan_id", "account", "amount_fen"]
            ),
        )
        if conn.dialect.name == "postgresql":
            conn.execute(
                text(
                    "SELECT setval(pg_get_serial_sequence('journal_entries', 'id'),"
                    " (SELECT MAX(id) FROM journal_entries))"
                )
            )


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Cast what the store returned to the schema: SQLite stores dates as text and booleans as integers,
    and DuckDB's `sqlite_query` returns every column as text."""
    columns = []
    for field in schema:
        col = table.column(field.name)
        if field.type == pa.date32() and not pa.types.is_date(col.type):
            col = pc.cast(pc.strptime(col, format="%Y-%m-%d", unit="s"), pa.date32())
        elif field.type == pa.bool_() and not pa.types.is_boolean(col.type):
            col = pc.not_equal(pc.cast(col, pa.int64()), 0)
        columns.append(pc.cast(col, field.type))
    return pa.Table.from_arrays(columns, schema=schema)


FUTURE_DATE = "9999-12-31"  # the date of the one row that stands for a loan's future installments


def _settled_sql(day: date) -> str:
    """Installments the day cannot touch and that owe nothing: due before it, settled, fully recognised."""
    settled = " AND ".join(f"{c}_due_fen = {c}_paid_fen + {c}_waived_fen" for c in INSTALLMENT_OWED)
    return f"due_date < '{day.isoformat()}' AND {settled} AND interest_accrued_fen = interest_due_fen"


def _future_sql(day: date) -> str:
    """Installments whose period starts on or after the day and of which nothing is recognised yet."""
    d = day.isoformat()
    return f"start_date >= '{d}' AND due_date > '{d}' AND interest_accrued_fen = 0"


def _parallelism() -> int:
    return max(2, min(4, os.cpu_count() or 2))


def _ranges(top: int, parts: int) -> list[tuple[int, int]]:
    """`parts` contiguous id ranges covering 1..top (the whole table when empty)."""
    step = max(1, -(-top // parts))
    return [(lo, lo + step - 1) for lo in range(1, max(top, 1) + 1, step)] or [(1, 1)]


def _store_query(engine: Engine, sql: str) -> str:
    """A query run by the store's own engine (its indexes and filters), read by DuckDB."""
    kind = "sqlite_query" if engine.dialect.name == "sqlite" else "postgres_query"
    return f"{kind}('ops', '{sql.replace(chr(39), chr(39) * 2)}')"


def _read_parallel(con: duckdb.DuckDBPyConnection, queries: list[str], workers: int) -> list[pa.Table]:
    """Run queries on `workers` threads (DuckDB releases the GIL), results in the order given."""

    def read(sql: str) -> pa.Table:
        return con.cursor().execute(sql).to_arrow_table()

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(read, queries))


def _conform_partial(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """`_conform` for the columns of `schema` that the table has."""
    return _conform(table, pa.schema([f for f in schema if f.name in table.column_names]))


def _minus(new: pa.Table, old: pa.Table) -> pa.Table:
    """new − old per (loan, account), zero differences dropped: a rerun posts only what changed."""
    negated = old.set_column(2, "amount_fen", pc.negate(old.column("amount_fen")))
    both = pa.concat_tables([new, negated.cast(new.schema)])
    summed = (
        both.group_by(["loan_id", "account"])
        .aggregate([("amount_fen", "sum")])
        .rename_columns(["loan_id", "account", "amount_fen"])
    )
    return summed.filter(pc.not_equal(summed.column("amount_fen"), 0)).select(["loan_id", "account", "amount_fen"])


def _stage(conn: Connection, name: str, table: pa.Table) -> None:
    types = {
        pa.int64(): "BIGINT",
        pa.int32(): "INTEGER",
        pa.string(): "TEXT",
        pa.date32(): "DATE",
        pa.bool_(): "BOOLEAN",
    }
    cols = ", ".join(
        f"{f.name} {types.get(f.type, 'TIMESTAMP' if pa.types.is_timestamp(f.type) else 'TEXT')}" for f in table.schema
    )
    conn.execute(text(f"DROP TABLE IF EXISTS {name}"))
    conn.execute(text(f"CREATE TEMPORARY TABLE {name} ({cols})"))
    _insert(conn, name, table)
    if conn.dialect.name == "sqlite":
        keys = "id" if "id" in table.column_names else "loan_id, schedule_version, no"
        conn.execute(text(f"CREATE INDEX {name}_key ON {name} ({keys})"))
    else:
        conn.execute(text(f"ANALYZE {name}"))


def _insert(conn: Connection, name: str, table: pa.Table) -> None:
    """Bulk insert: COPY on PostgreSQL, executemany on SQLite."""
    if len(table) == 0:
        return
    raw = conn.connection.driver_connection
    cols = table.column_names
    if conn.dialect.name == "postgresql":
        with raw.cursor() as cur, cur.copy(f"COPY {name} ({', '.join(cols)}) FROM STDIN") as copy:  # type: ignore[union-attr]
            for batch in table.to_batches(100_000):
                for row in zip(*(c.to_pylist() for c in batch.columns), strict=True):
                    copy.write_row(row)
        return
    cur = raw.cursor()  # type: ignore[union-attr]
    placeholders = ", ".join("?" for _ in cols)
    sql = f"INSERT INTO {name} ({', '.join(cols)}) VALUES ({placeholders})"
    for batch in table.to_batches(200_000):
        columns = [_sqlite_values(c) for c in batch.columns]
        cur.executemany(sql, zip(*columns, strict=True))
    cur.close()


def _sqlite_instant(moment: datetime) -> str:
    """A timestamp as SQLAlchemy's SQLite DateTime writes it: the wall time, naive, to the microsecond."""
    return moment.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def _sqlite_values(column: pa.Array | pa.ChunkedArray) -> list[Any]:
    """A column as the Python values the sqlite3 driver binds (dates and timestamps as ISO text)."""
    if pa.types.is_date(column.type):
        text_dates = pc.strftime(pc.cast(column, pa.timestamp("s")), format="%Y-%m-%d")
        return text_dates.to_pylist()  # type: ignore[no-any-return]
    if pa.types.is_timestamp(column.type):
        distinct = pc.unique(column).to_pylist()
        if len(distinct) == 1 and distinct[0] is not None:  # the usual case: one run, one instant
            return [_sqlite_instant(distinct[0])] * len(column)
        return [None if v is None else _sqlite_instant(v) for v in column.to_pylist()]
    if pa.types.is_integer(column.type) and column.null_count == 0:
        return column.to_numpy().tolist()  # type: ignore[no-any-return]
    values: list[Any] = column.to_pylist()
    return values


@contextmanager
def _write_cache(conn: Connection) -> Iterator[None]:
    """On SQLite, a page cache that holds what a write-back dirties (instead of spilling it mid-way)."""
    if conn.dialect.name != "sqlite":
        yield
        return
    before = conn.exec_driver_sql("PRAGMA cache_size").scalar()
    conn.exec_driver_sql(f"PRAGMA cache_size = -{WRITE_CACHE_KIB}")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA cache_size = {before}")


def _update_sqlite(
    conn: Connection,
    name: str,
    table: pa.Table,
    keys: Sequence[str],
    columns: Sequence[str],
    updated_at: str | None = None,
) -> None:
    """UPDATE rows by key with `executemany`, in key order (the rows' order on disk)."""
    if len(table) == 0:
        return
    table = table.sort_by([(k, "ascending") for k in keys])
    sets = ", ".join(f"{c} = ?" for c in columns)
    if updated_at is not None:  # loans: stamped and versioned like every other change
        sets += ", updated_at = ?, version = version + 1"
    sql = f"UPDATE {name} SET {sets} WHERE {' AND '.join(f'{k} = ?' for k in keys)}"
    cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    for batch in table.to_batches(200_000):  # Python values for one batch at a time
        values = [_sqlite_values(batch.column(c)) for c in (*columns, *keys)]
        if updated_at is not None:
            values.insert(len(columns), [updated_at] * batch.num_rows)
        cur.executemany(sql, zip(*values, strict=True))
    cur.close()

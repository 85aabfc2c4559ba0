"""The close of business's I/O with the operational store: bulk columnar load and atomic write-back.

Load reads through DuckDB's SQLite or PostgreSQL scanner straight into Arrow (no Python rows).
Write-back stages the changed rows in temporary tables and applies them with one UPDATE … FROM per
table, journal entries with ids assigned in bulk, and the run record — all in one transaction, so
a run killed at any point leaves the store as it was before the run.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from importlib import resources
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, Engine, func, select, text, update
from sqlalchemy.engine import make_url

from daihou.batch.cob.columns import INSTALLMENT_SCHEMA, LOAN_SCHEMA
from daihou.batch.cob.runner import INSTALLMENT_RESULTS, LOAN_RESULTS, Results, RunRecord
from daihou.batch.cob.steps import OPEN_STATUSES
from daihou.domain.grades import DEFAULT_RULES, RiskRules, rules_from_dict, rules_to_dict
from daihou.domain.loan import Loan
from daihou.service.ports import Clock
from daihou.storage import tables as t
from daihou.storage.repository import SqlLoans

LOAN_COLUMNS = [f.name for f in LOAN_SCHEMA if f.name != "override_grade"]
INSTALLMENT_COLUMNS = [f.name for f in INSTALLMENT_SCHEMA]
COB_ENTRY_KIND = "close_of_business"


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
        """Record a run as started (committed at once, so a crash leaves a visible 'running' row)."""
        with self.engine.begin() as conn:
            conn.execute(
                t.cob_runs.delete().where(t.cob_runs.c.business_date == day, t.cob_runs.c.status != "finished")
            )
            values = {"engine": engine_name, "status": "running", "started_at": self.clock.now(), "finished_at": None}
            done = conn.execute(update(t.cob_runs).where(t.cob_runs.c.business_date == day).values(values))
            if done.rowcount == 0:
                conn.execute(t.cob_runs.insert().values(business_date=day, counts=None, errors=None, **values))

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
        """Open loans last closed the day before, with their current installments, as Arrow tables."""
        prev = (day - timedelta(days=1)).isoformat()
        statuses = ", ".join(f"'{s}'" for s in OPEN_STATUSES)
        scope = f"l.status IN ({statuses}) AND CAST(l.accrued_through AS DATE) = DATE '{prev}'"
        con = duck_reader(self.engine)
        try:
            overrides = (
                "(SELECT o.grade FROM ops.classification_overrides o WHERE o.loan_id = l.id AND o.status = 'approved'"
                f" AND CAST(o.effective_on AS DATE) <= DATE '{day.isoformat()}'"
                " ORDER BY o.effective_on DESC, o.id DESC LIMIT 1)"
            )
            loans = con.execute(
                f"SELECT {', '.join('l.' + c for c in LOAN_COLUMNS)}, {overrides} AS override_grade"
                f" FROM ops.loans l WHERE {scope} ORDER BY l.id"
            ).to_arrow_table()
            installments = con.execute(
                f"SELECT {', '.join('i.' + c for c in INSTALLMENT_COLUMNS)} FROM ops.installments i"
                " JOIN ops.loans l ON i.loan_id = l.id AND i.schedule_version = l.schedule_version"
                f" WHERE {scope} ORDER BY i.loan_id, i.no"
            ).to_arrow_table()
        finally:
            con.close()
        return _conform(loans, LOAN_SCHEMA), _conform(installments, INSTALLMENT_SCHEMA)

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
        """Apply a run's results atomically: loans, changed installments, journal, run record."""
        now = self.clock.now()
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("LOCK TABLE journal_entries, journal_lines IN EXCLUSIVE MODE"))
            loans = results.loans.select(["id", *LOAN_RESULTS])
            loans = loans.append_column("updated_at", pa.array([now] * len(loans), pa.timestamp("us", tz="UTC")))
            _stage(conn, "cob_stage_loans", loans)
            sets = ", ".join(f"{c} = s.{c}" for c in (*LOAN_RESULTS, "updated_at"))
            conn.execute(
                text(
                    f"UPDATE loans SET {sets}, version = loans.version + 1 FROM cob_stage_loans s WHERE loans.id = s.id"
                )
            )
            _stage(conn, "cob_stage_installments", results.installments)
            sets = ", ".join(f"{c} = s.{c}" for c in INSTALLMENT_RESULTS)
            conn.execute(
                text(
                    f"UPDATE installments SET {sets} FROM cob_stage_installments s"
                    " WHERE installments.loan_id = s.loan_id"
                    " AND installments.schedule_version = s.schedule_version AND installments.no = s.no"
                )
            )
            lines = results.lines.sort_by([("loan_id", "ascending"), ("account", "ascending")])
            if replace_journal:
                lines = _minus(lines, self._posted(conn, day))
            self._post_journal(conn, day, lines, now)
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
            conn.execute(text("DROP TABLE cob_stage_loans"))
            conn.execute(text("DROP TABLE cob_stage_installments"))

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
        if len(lines) == 0:
            return
        loan_ids = pc.unique(lines.column("loan_id")).to_pylist()
        base = conn.execute(text("SELECT COALESCE(MAX(id), 0) FROM journal_entries")).scalar_one()
        entry_of = {loan_id: base + k + 1 for k, loan_id in enumerate(sorted(loan_ids))}
        memo = f"close of business {day.isoformat()}"
        entries = pa.table(
            {
                "id": pa.array([entry_of[i] for i in sorted(loan_ids)], pa.int64()),
                "loan_id": pa.array(sorted(loan_ids), pa.int64()),
                "kind": pa.array([COB_ENTRY_KIND] * len(loan_ids)),
                "booked_on": pa.array([day] * len(loan_ids), pa.date32()),
                "memo": pa.array([memo] * len(loan_ids)),
                "created_at": pa.array([now] * len(loan_ids)),
            }
        )
        _insert(conn, "journal_entries", entries)
        entry_ids = pa.array([entry_of[i] for i in lines.column("loan_id").to_pylist()], pa.int64())
        _insert(
            conn,
            "journal_lines",
            lines.append_column("entry_id", entry_ids).select(["entry_id", "loan_id", "account", "amount_fen"]),
        )
        if conn.dialect.name == "postgresql":
            conn.execute(
                text(
                    "SELECT setval(pg_get_serial_sequence('journal_entries', 'id'),"
                    " (SELECT MAX(id) FROM journal_entries))"
                )
            )


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Cast what the scanner returned (SQLite stores dates as text, booleans as integers) to the schema."""
    columns = []
    for field in schema:
        col = table.column(field.name)
        if field.type == pa.date32() and not pa.types.is_date(col.type):
            col = pc.cast(pc.strptime(col, format="%Y-%m-%d", unit="s"), pa.date32())
        elif field.type == pa.bool_() and not pa.types.is_boolean(col.type):
            col = pc.not_equal(col, 0)
        columns.append(pc.cast(col, field.type))
    return pa.Table.from_arrays(columns, schema=schema)


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


def _sqlite_values(column: pa.Array) -> list[Any]:
    if pa.types.is_date(column.type):
        return [None if v is None else v.isoformat() for v in column.to_pylist()]
    if pa.types.is_timestamp(column.type):
        # the layout SQLAlchemy's SQLite DATETIME reads back (naive, microseconds)
        return [
            None if v is None else v.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
            for v in column.to_pylist()
        ]
    values: list[Any] = column.to_pylist()
    return values

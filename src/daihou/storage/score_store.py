"""What scoring the book reads and writes: behaviour history in, `loan_scores` out.

The raw behaviour of every open loan at a business date comes from one DuckDB query over the close
of business's Parquet snapshots (today's and the month-ends before it) and two aggregates the store
computes itself over id ranges (payments and what fell due in the last three months), so scoring a
million loans is a handful of columnar scans, not a loop.
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from sqlalchemy import Engine, delete, func, select

from daihou.storage.cob_store import _insert, _parallelism, _ranges, _read_parallel, _store_query, duck_reader
from daihou.storage.score_tables import loan_scores

OPEN_STATUSES = ("active", "overdue", "restructured")
RAW_COLUMNS = (
    "delay_now",
    "max_delay_3m",
    "max_delay_6m",
    "months_delayed_6m",
    "paid_3m",
    "due_3m",
    "outstanding",
    "principal",
    "outstanding_3m_ago",
    "dpd",
    "overdue",  # principal, interest and penalty past due
    "overdue_principal",
    "paid_30d",
)


def month_ends_before(day: date, count: int) -> list[date]:
    """The last `count` month-end dates strictly before `day`, latest first."""
    out: list[date] = []
    cursor = day.replace(day=1) - timedelta(days=1)
    while len(out) < count:
        out.append(cursor)
        cursor = cursor.replace(day=1) - timedelta(days=1)
    return out


def is_month_end(day: date) -> bool:
    return day.day == calendar.monthrange(day.year, day.month)[1]


class SqlScoreStore:
    def __init__(self, engine: Engine, data_dir: Path) -> None:
        self.engine = engine
        self.snapshots = Path(data_dir) / "snapshots"

    def _snapshot(self, day: date) -> Path | None:
        path = self.snapshots / f"business_date={day.isoformat()}" / "part-0.parquet"
        return path if path.exists() else None

    def behaviour(self, day: date) -> pd.DataFrame:
        """Raw behaviour (`RAW_COLUMNS`, amounts in fen) of each loan open at the close of `day`, by loan id.

        Needs the day's snapshot (the close of business writes it before the after-close steps);
        month-end snapshots that are missing simply contribute no observation."""
        today = self._snapshot(day)
        if today is None:
            raise FileNotFoundError(f"no close-of-business snapshot for {day}: run the close of business first")
        ends = month_ends_before(day, 5)
        window_start = ends[2]  # three months back: the third month-end before today
        history = [(d, p) for d in ends if (p := self._snapshot(d)) is not None]
        statuses = ", ".join(f"'{s}'" for s in OPEN_STATUSES)
        con = duck_reader(self.engine)
        try:
            con.execute(
                "CREATE TEMP TABLE today AS SELECT loan_id, dpd, outstanding_principal_fen, principal_fen,"
                " overdue_principal_fen, overdue_principal_fen + overdue_interest_fen + penalty_outstanding_fen"
                f" AS overdue FROM read_parquet('{today}') WHERE status IN ({statuses})"
            )
            if history:
                files = ", ".join(f"'{p}'" for _, p in history)
                con.execute(
                    "CREATE TEMP TABLE past AS SELECT loan_id, dpd, outstanding_principal_fen,"
                    " CAST(business_date AS DATE) AS business_date"
                    f" FROM read_parquet([{files}], hive_partitioning=true)"
                )
            else:
                con.execute(
                    "CREATE TEMP TABLE past (loan_id BIGINT, dpd BIGINT, outstanding_principal_fen BIGINT,"
                    " business_date DATE)"
                )
            paid, due = self._last_three_months(con, window_start, day)
            con.register("paid", paid)
            con.register("due", due)
            recent = ", ".join(f"DATE '{d.isoformat()}'" for d in ends[:2])
            frame = con.execute(
                f"""
                WITH h AS (
                    SELECT loan_id,
                        MAX(CASE WHEN business_date IN ({recent}) THEN CEIL(dpd / 30.0) END) AS max_delay_3m,
                        MAX(CEIL(dpd / 30.0)) AS max_delay_6m,
                        COUNT(*) FILTER (WHERE dpd > 0) AS months_delayed,
                        MAX(CASE WHEN business_date = DATE '{window_start.isoformat()}'
                            THEN outstanding_principal_fen END) AS outstanding_3m_ago
                    FROM past GROUP BY loan_id
                )
                SELECT t.loan_id,
                    CEIL(t.dpd / 30.0) AS delay_now,
                    GREATEST(COALESCE(h.max_delay_3m, 0), CEIL(t.dpd / 30.0)) AS max_delay_3m,
                    GREATEST(COALESCE(h.max_delay_6m, 0), CEIL(t.dpd / 30.0)) AS max_delay_6m,
                    COALESCE(h.months_delayed, 0) + CASE WHEN t.dpd > 0 THEN 1 ELSE 0 END AS months_delayed_6m,
                    COALESCE(p.paid_fen, 0) AS paid_3m,
                    COALESCE(d.due_fen, 0) AS due_3m,
                    t.outstanding_principal_fen AS outstanding,
                    t.principal_fen AS principal,
                    h.outstanding_3m_ago,
                    t.dpd,
                    t.overdue,
                    t.overdue_principal_fen AS overdue_principal,
                    COALESCE(p.paid_30d_fen, 0) AS paid_30d
                FROM today t
                LEFT JOIN h ON h.loan_id = t.loan_id
                LEFT JOIN paid p ON p.loan_id = t.loan_id
                LEFT JOIN due d ON d.loan_id = t.loan_id
                ORDER BY t.loan_id
                """
            ).df()
        finally:
            con.close()
        return frame.set_index("loan_id")

    def _last_three_months(self, con: object, start: date, day: date) -> tuple[pa.Table, pa.Table]:
        """Per loan: payments received in (start, day] (and in its last 30 days), and instalments
        (principal + interest) that fell due in (start, day): one due today may still be paid today."""
        a, b = start.isoformat(), day.isoformat()
        top = int(
            con.execute(  # type: ignore[attr-defined]
                f"SELECT * FROM {_store_query(self.engine, 'SELECT MAX(id) AS top FROM loans')}"
            ).fetchone()[0]
            or 0
        )
        parts = _parallelism()
        month = (day - timedelta(days=30)).isoformat()
        paid_sql = [
            f"SELECT loan_id, SUM(CASE WHEN value_date > '{a}' THEN amount_fen ELSE 0 END) AS paid_fen,"
            f" SUM(CASE WHEN value_date > '{month}' THEN amount_fen ELSE 0 END) AS paid_30d_fen FROM transactions"
            f" WHERE loan_id BETWEEN {lo} AND {hi} AND kind IN ('payment', 'prepayment') AND NOT reversed"
            f" AND value_date > '{min(a, month)}' AND value_date <= '{b}' GROUP BY loan_id"
            for lo, hi in _ranges(top, parts)
        ]
        due_sql = [
            "SELECT i.loan_id, SUM(i.principal_due_fen + i.interest_due_fen) AS due_fen"
            " FROM installments i JOIN loans l ON l.id = i.loan_id AND l.schedule_version = i.schedule_version"
            f" WHERE i.loan_id BETWEEN {lo} AND {hi} AND i.due_date > '{a}' AND i.due_date < '{b}'"
            " GROUP BY i.loan_id"
            for lo, hi in _ranges(top, parts)
        ]
        paid_typed = "SELECT CAST(loan_id AS BIGINT) AS loan_id, CAST(paid_fen AS BIGINT) AS paid_fen,"
        paid_typed += " CAST(paid_30d_fen AS BIGINT) AS paid_30d_fen FROM {src}"
        due_typed = "SELECT CAST(loan_id AS BIGINT) AS loan_id, CAST(due_fen AS BIGINT) AS due_fen FROM {src}"
        queries = [paid_typed.format(src=_store_query(self.engine, q)) for q in paid_sql]
        queries += [due_typed.format(src=_store_query(self.engine, q)) for q in due_sql]
        tables = _read_parallel(con, queries, parts)  # type: ignore[arg-type]
        return pa.concat_tables(tables[: len(paid_sql)]), pa.concat_tables(tables[len(paid_sql) :])

    def worst_dpd_between(self, start: date, end: date) -> pd.Series:
        """Each loan's highest DPD in the snapshots dated in (start, end]."""
        days = sorted(self.snapshots.glob("business_date=*"))
        files = [
            p / "part-0.parquet"
            for p in days
            if start.isoformat() < p.name.split("=", 1)[1] <= end.isoformat() and (p / "part-0.parquet").exists()
        ]
        if not files:
            raise FileNotFoundError(f"no close-of-business snapshots between {start} and {end}")
        listed = ", ".join(f"'{f}'" for f in files)
        con = duck_reader(self.engine)
        try:
            rows = con.execute(f"SELECT loan_id, MAX(dpd) FROM read_parquet([{listed}]) GROUP BY loan_id").fetchall()
        finally:
            con.close()
        return pd.Series({int(i): int(v) for i, v in rows}, dtype="int64", name="worst_dpd")

    def paid_between(self, start: date, end: date) -> pd.Series:
        """Payments received per loan with value dates in (start, end] (reversed ones excluded)."""
        sql = (
            "SELECT loan_id, SUM(amount_fen) AS paid FROM transactions WHERE kind IN ('payment', 'prepayment')"
            f" AND NOT reversed AND value_date > '{start.isoformat()}' AND value_date <= '{end.isoformat()}'"
            " GROUP BY loan_id"
        )
        with self.engine.connect() as conn:
            rows = conn.exec_driver_sql(sql).all()
        return pd.Series({int(i): int(v) for i, v in rows}, dtype="int64", name="paid")

    def write(
        self, role: str, name: str, version: int, day: date, loan_ids: np.ndarray, scores: np.ndarray, pds: np.ndarray
    ) -> int:
        """Replace the role's scores for `day` (a rerun writes the same rows again)."""
        table = pa.table(
            {
                "loan_id": pa.array(np.asarray(loan_ids, dtype=np.int64)),
                "model": pa.array([role] * len(loan_ids), pa.string()),
                "model_name": pa.array([name] * len(loan_ids), pa.string()),
                "model_version": pa.array(np.full(len(loan_ids), version, dtype=np.int64)),
                "scored_on": pa.array([day] * len(loan_ids), pa.date32()),
                "score": pa.array(np.rint(np.asarray(scores, dtype=float)).astype(np.int64)),
                "pd_ppm": pa.array(np.rint(np.asarray(pds, dtype=float) * 1_000_000).astype(np.int64)),
            }
        )
        with self.engine.begin() as conn:
            conn.execute(delete(loan_scores).where(loan_scores.c.model == role, loan_scores.c.scored_on == day))
            _insert(conn, "loan_scores", table)
        return len(table)

    def last_scored(self, role: str) -> date | None:
        with self.engine.connect() as conn:
            value = conn.execute(select(func.max(loan_scores.c.scored_on)).where(loan_scores.c.model == role)).scalar()
        return value if value is None or isinstance(value, date) else date.fromisoformat(str(value))

    def scores(self, role: str, day: date) -> pd.DataFrame:
        """The role's scores of `day`: loan_id, score, pd (a fraction)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(loan_scores.c.loan_id, loan_scores.c.score, loan_scores.c.pd_ppm).where(
                    loan_scores.c.model == role, loan_scores.c.scored_on == day
                )
            ).all()
        frame = pd.DataFrame(rows, columns=["loan_id", "score", "pd_ppm"])
        frame["pd"] = frame.pop("pd_ppm") / 1_000_000
        return frame

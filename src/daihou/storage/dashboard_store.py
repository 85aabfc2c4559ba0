"""The dashboard's read model: the precomputed figures table, set-based activity counts over the
workflow tables that exist, and the close of business's snapshots read through `daihou.analytics`.

Implements `daihou.service.dashboard.DashboardStore` and `SnapshotSource`; the App wires it
(`App.dashboard_store()`), drivers never import it.
"""

from __future__ import annotations

import json
from datetime import UTC, date, timedelta
from pathlib import Path

import duckdb
from sqlalchemy import Connection, Engine, case, func, inspect, select

from daihou.analytics import portfolio
from daihou.domain.grades import DEFAULT_BUCKETS
from daihou.service.dashboard import Book, Figures
from daihou.storage.portal_tables import dashboard_figures
from daihou.storage.tables import installments, loans, metadata, transactions

# Tables other capabilities own, by the dashboard's name for them: the first one that exists and has
# a `status` column is counted by status. Absent ones show as "not yet" on the page.
ACTIVITY_TABLES: dict[str, tuple[str, ...]] = {
    "reminders": ("reminders",),
    "visits": ("visit_plans",),
    "warnings": ("alerts",),
    "cases": ("collection_cases",),
    "promises": ("promises",),
    "requests": ("recovery_requests",),
}
# the date column that bounds each table's "recent" window (last 7 days), when it has one
WINDOW_COLUMNS = ("business_date", "due_on", "opened_on", "promised_on", "raised_on")
# what the loan 360° page lists, newest first: (section, table, order column); absent tables are skipped
LOAN_RECORDS = (
    ("transactions", "transactions", "id"),
    ("cases", "collection_cases", "id"),
    ("contacts", "contact_log", "started_at"),
    ("promises", "promises", "id"),
    ("visit_plans", "visit_plans", "due_on"),
    ("visits", "visit_records", "visited_on"),
    ("warnings", "alerts", "id"),
    ("requests", "recovery_requests", "id"),
    ("reminders", "reminders", "id"),
    ("portal_requests", "portal_requests", "id"),
    ("uploads", "portal_uploads", "id"),
)
# never shown on a page: phone numbers in call logs and raw evidence stay in the store
HIDDEN_COLUMNS = frozenset({"number", "address", "claim_token", "evidence", "answers", "result", "sha256"})
OPEN_STATUSES = ("active", "overdue", "restructured")


class SqlLoanRecords:
    """Everything recorded against one loan, per section, for the loan 360° page (read-only)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def records(self, loan_no: str, limit: int = 50) -> dict[str, list[dict[str, object]] | None]:
        present = set(inspect(self.engine).get_table_names())
        out: dict[str, list[dict[str, object]] | None] = {}
        with self.engine.connect() as conn:
            loan_id = conn.execute(select(loans.c.id).where(loans.c.loan_no == loan_no)).scalar()
            for section, name, order in LOAN_RECORDS:
                table = metadata.tables.get(name)
                if loan_id is None or table is None or name not in present or "loan_id" not in table.c:
                    out[section] = None
                    continue
                cols = [c for c in table.c if c.name not in HIDDEN_COLUMNS]
                q = select(*cols).where(table.c.loan_id == loan_id).order_by(table.c[order].desc()).limit(limit)
                out[section] = [dict(r._mapping) for r in conn.execute(q)]
            out["documents"] = self._documents(conn, loan_id, present, limit)
        return out

    def _documents(
        self, conn: Connection, loan_id: int | None, present: set[str], limit: int
    ) -> list[dict[str, object]] | None:
        """Files kept for the loan: visit attachments (photos, statements) with their visit's date."""
        if loan_id is None or not {"visit_attachments", "visit_records"} <= present:
            return None
        files, visits = metadata.tables["visit_attachments"], metadata.tables["visit_records"]
        q = (
            select(visits.c.visited_on, files.c.kind, files.c.file_name, files.c.size_bytes, files.c.sha256)
            .join(visits, visits.c.id == files.c.visit_id)
            .where(visits.c.loan_id == loan_id)
            .order_by(visits.c.visited_on.desc(), files.c.id.desc())
            .limit(limit)
        )
        return [dict(r._mapping) for r in conn.execute(q)]


class SqlDashboardStore(SqlLoanRecords):
    # ------------------------------------------------------------ figures
    def latest(self) -> Figures | None:
        q = select(dashboard_figures).order_by(dashboard_figures.c.business_date.desc()).limit(1)
        return self._one(q)

    def on(self, day: date) -> Figures | None:
        return self._one(select(dashboard_figures).where(dashboard_figures.c.business_date == day))

    def _one(self, q: object) -> Figures | None:
        with self.engine.connect() as conn:
            row = conn.execute(q).mappings().first()  # type: ignore[call-overload]
        if row is None:
            return None
        return Figures(row["business_date"], json.loads(row["payload"]), row["computed_at"], row["elapsed_ms"])

    def save(self, figures: Figures) -> None:
        values = {
            "business_date": figures.business_date,
            "payload": figures.to_json(),
            "computed_at": figures.computed_at.astimezone(UTC),  # SQLite keeps no offset: store UTC
            "elapsed_ms": figures.elapsed_ms,
        }
        with self.engine.begin() as conn:
            conn.execute(dashboard_figures.delete().where(dashboard_figures.c.business_date == figures.business_date))
            conn.execute(dashboard_figures.insert().values(**values))

    def last_business_date(self) -> date | None:
        from daihou.storage.tables import cob_runs

        with self.engine.connect() as conn:
            return conn.execute(
                select(func.max(cob_runs.c.business_date)).where(cob_runs.c.status == "finished")
            ).scalar()

    # ------------------------------------------------------------ fallback book
    def book_from_loans(self) -> Book:
        """The book from the loans table's close-of-business columns (when no snapshot exists)."""
        owed = (
            select(
                installments.c.loan_id,
                func.sum(
                    installments.c.principal_due_fen - installments.c.principal_paid_fen
                    - installments.c.principal_waived_fen
                ).label("outstanding"),
            )
            .join(loans, (loans.c.id == installments.c.loan_id)
                  & (loans.c.schedule_version == installments.c.schedule_version))
            .where(loans.c.status.in_(OPEN_STATUSES))
            .group_by(installments.c.loan_id)
            .subquery()
        )  # fmt: skip
        bucket = case(
            *[(loans.c.dpd >= b.dpd_from, b.name) for b in sorted(DEFAULT_BUCKETS, key=lambda b: -b.dpd_from)],
            else_=DEFAULT_BUCKETS[0].name,
        ).label("bucket")
        q = (
            select(
                bucket,
                loans.c.classification,
                func.count(),
                func.coalesce(func.sum(owed.c.outstanding), 0),
                func.coalesce(func.sum(loans.c.provision_fen), 0),
            )
            .select_from(loans.join(owed, owed.c.loan_id == loans.c.id))
            .group_by(bucket, loans.c.classification)
        )
        by_bucket_fen: dict[str, int] = {}
        by_bucket_count: dict[str, int] = {}
        by_class: dict[str, int] = {}
        n = outstanding = provision = 0
        with self.engine.connect() as conn:
            for b, cls, count, bal, prov in conn.execute(q):
                by_bucket_fen[b] = by_bucket_fen.get(b, 0) + int(bal)
                by_bucket_count[b] = by_bucket_count.get(b, 0) + int(count)
                by_class[cls] = by_class.get(cls, 0) + int(bal)
                n, outstanding, provision = n + int(count), outstanding + int(bal), provision + int(prov)
        return Book(n, outstanding, provision, by_bucket_fen, by_bucket_count, by_class, "loans")

    # ------------------------------------------------------------ activity
    def activity(self, day: date) -> dict[str, dict[str, int] | None]:
        """Counts by status per workflow table (all rows, and `recent_*` in the last 7 days)."""
        present = set(inspect(self.engine).get_table_names())
        out: dict[str, dict[str, int] | None] = {}
        for name, candidates in ACTIVITY_TABLES.items():
            table = next(
                (metadata.tables[t] for t in candidates if t in present and t in metadata.tables
                 and "status" in metadata.tables[t].c),
                None,
            )  # fmt: skip
            if table is None:
                out[name] = None
                continue
            counts: dict[str, int] = {}
            with self.engine.connect() as conn:
                for status, n in conn.execute(select(table.c.status, func.count()).group_by(table.c.status)):
                    counts[str(status)] = int(n)
                window = next((table.c[c] for c in WINDOW_COLUMNS if c in table.c), None)
                if window is not None:
                    recent = select(table.c.status, func.count()).where(
                        window.between(day - timedelta(days=6), day + timedelta(days=1))
                    )
                    for status, n in conn.execute(recent.group_by(table.c.status)):
                        counts[f"recent_{status}"] = int(n)
            out[name] = counts
        return out

    def collected_fen(self, start: date, end: date) -> int | None:
        """Repayments between `start` and `end` on loans that have (or had) a collection case."""
        if "collection_cases" not in inspect(self.engine).get_table_names():
            return None
        cases = metadata.tables["collection_cases"]
        q = select(func.coalesce(func.sum(transactions.c.amount_fen), 0)).where(
            transactions.c.kind.in_(("payment", "prepayment")),
            transactions.c.reversed.is_(False),
            transactions.c.value_date.between(start, end),
            transactions.c.loan_id.in_(select(cases.c.loan_id)),
        )
        with self.engine.connect() as conn:
            return int(conn.execute(q).scalar_one())


class ParquetSnapshots:
    """The close of business's Parquet snapshots, through `daihou.analytics.portfolio`."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def days(self) -> list[date]:
        return portfolio.snapshot_days(self.root)

    def book(self, day: date) -> Book | None:
        s = portfolio.summary(self.root, day)
        glob = str(self.root / "snapshots" / f"business_date={day.isoformat()}" / "*.parquet")
        counts = duckdb.sql(
            f"SELECT bucket, COUNT(*) FROM read_parquet('{glob}') WHERE status <> 'paid_off' GROUP BY 1"
        ).fetchall()
        return Book(
            s.loans,
            s.outstanding_fen,
            s.provision_fen,
            s.by_bucket_fen,
            {str(b): int(n) for b, n in counts},
            s.by_class_fen,
            "snapshot",
        )

    def flow_rates(self, start: date, end: date) -> dict[str, float]:
        return portfolio.roll_rates(self.root, start, end).flow_rates()

    def vintage(self, days: list[date]) -> list[tuple[str, int, float]]:
        table = portfolio.vintage(self.root, days)
        return [(str(r["vintage"]), int(r["mob"]), float(r["ever_bad_share"])) for r in table.to_pylist()]

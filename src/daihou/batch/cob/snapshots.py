"""Daily loan snapshots as Parquet partitioned by business date, and each run's saved input.

`<root>/snapshots/business_date=YYYY-MM-DD/part-0.parquet` holds one row per loan in the run:
balances, DPD, bucket, class, IFRS 9 stage, provision. Roll rates and vintages read them with DuckDB
or Spark. `<root>/input/business_date=…/` keeps the input of the latest runs so that a day can be
run again (`--rerun`) with exactly the same starting state.
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

SNAPSHOT_COLUMNS = (
    "loan_id",
    "loan_no",
    "status",
    "outstanding_principal_fen",
    "overdue_principal_fen",
    "overdue_interest_fen",
    "penalty_outstanding_fen",
    "credit_fen",
    "dpd",
    "bucket",
    "classification",
    "ifrs9_stage",
    "provision_fen",
    "principal_fen",
    "disbursed_on",
)
TEXT_COLUMNS = ("loan_no", "status", "bucket", "classification")
KEEP_INPUTS = 2


def snapshot_table(loans: pa.Table, day: date) -> pa.Table:
    table = loans.select(list(SNAPSHOT_COLUMNS))
    table = table.cast(
        pa.schema(
            [
                (c, pa.string() if c in TEXT_COLUMNS else pa.date32() if c == "disbursed_on" else pa.int64())
                for c in SNAPSHOT_COLUMNS
            ]
        )
    )
    return table.append_column("business_date", pa.array([day] * len(table), pa.date32()))


class Snapshots:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _partition(self, kind: str, day: date) -> Path:
        return self.root / kind / f"business_date={day.isoformat()}"

    def write(self, day: date, table: pa.Table) -> Path:
        """Write (or replace) the day's partition; a rerun overwrites it with identical rows."""
        part = self._partition("snapshots", day)
        tmp = part.with_name(part.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        pq.write_table(table.drop_columns(["business_date"]).sort_by("loan_id"), tmp / "part-0.parquet")
        shutil.rmtree(part, ignore_errors=True)
        tmp.rename(part)
        return part

    def days(self) -> list[date]:
        base = self.root / "snapshots"
        if not base.exists():
            return []
        return sorted(
            date.fromisoformat(p.name.split("=", 1)[1])
            for p in base.glob("business_date=*")
            if not p.name.endswith(".tmp")
        )

    def read(self, day: date) -> pa.Table | None:
        path = self._partition("snapshots", day) / "part-0.parquet"
        return pq.read_table(path) if path.exists() else None

    def loan(self, loan_no: str, day: date) -> dict[str, Any] | None:
        path = self._partition("snapshots", day) / "part-0.parquet"
        if not path.exists():
            return None
        rows = pq.read_table(path, filters=[("loan_no", "=", loan_no)]).to_pylist()
        return rows[0] if rows else None

    def save_input(self, day: date, loans: pa.Table, installments: pa.Table) -> None:
        part = self._partition("input", day)
        shutil.rmtree(part, ignore_errors=True)
        part.mkdir(parents=True)
        pq.write_table(loans, part / "loans.parquet")
        pq.write_table(installments, part / "installments.parquet")
        kept = sorted((self.root / "input").glob("business_date=*"))
        for old in kept[:-KEEP_INPUTS]:
            shutil.rmtree(old, ignore_errors=True)

    def load_input(self, day: date) -> tuple[pa.Table, pa.Table] | None:
        part = self._partition("input", day)
        if not (part / "installments.parquet").exists():
            return None
        return pq.read_table(part / "loans.parquet"), pq.read_table(part / "installments.parquet")

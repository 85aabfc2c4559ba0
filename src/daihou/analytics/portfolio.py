"""Portfolio analytics over the daily snapshots: roll rates, flow rates, a Markov forecast, vintages,
NPL ratio, provision coverage and expected loss by IFRS 9 stage.

Every query reads the Parquet snapshots with DuckDB (Spark can read the same files). Amounts stay
integer fen in the results; ratios are floats (they are not money).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from daihou.batch.cob.snapshots import Snapshots
from daihou.domain.grades import DEFAULT_BUCKETS
from daihou.domain.money import round_fen

PAID_OFF = "paid_off"
BUCKET_NAMES = tuple(bucket.name for bucket in DEFAULT_BUCKETS)


@dataclass(frozen=True)
class RollRates:
    """Share of balance (or count) moving from each bucket on `start` to each state on `end`."""

    start: date
    end: date
    states: tuple[str, ...]  # buckets, then "paid_off"
    matrix: np.ndarray  # rows: buckets on `start`; columns: states on `end`; each row sums to 1 (or 0 if empty)
    weights: np.ndarray  # balance (or count) of each starting bucket

    def flow_rates(self) -> dict[str, float]:
        """M0→M1, M1→M2, …: the share of each bucket rolling one bucket worse."""
        buckets = [s for s in self.states if s != PAID_OFF]
        return {f"{a}→{b}": float(self.matrix[i, i + 1]) for i, (a, b) in enumerate(itertools.pairwise(buckets))}


def _glob(root: Path, day: date) -> str:
    return str(Path(root) / "snapshots" / f"business_date={day.isoformat()}" / "*.parquet")


def snapshot_days(root: Path) -> list[date]:
    return Snapshots(root).days()


def roll_rates(
    root: Path,
    start: date,
    end: date,
    by_balance: bool = True,
    buckets: tuple[str, ...] = BUCKET_NAMES,
) -> RollRates:
    """Transition matrix between two snapshot days. Loans gone or paid off by `end` count as paid off."""
    weight = "a.outstanding_principal_fen" if by_balance else "1"
    rows = duckdb.sql(
        f"""
        SELECT a.bucket AS src,
               CASE WHEN b.loan_id IS NULL OR b.status = '{PAID_OFF}' THEN '{PAID_OFF}' ELSE b.bucket END AS dst,
               SUM({weight}) AS w
        FROM read_parquet('{_glob(root, start)}') a
        LEFT JOIN read_parquet('{_glob(root, end)}') b USING (loan_id)
        WHERE a.status <> '{PAID_OFF}'
        GROUP BY 1, 2
        """
    ).fetchall()
    states = (*buckets, PAID_OFF)
    counts = np.zeros((len(buckets), len(states)))
    for src, dst, w in rows:
        counts[buckets.index(src), states.index(dst)] += float(w)
    weights = counts.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        matrix = np.where(weights[:, None] > 0, counts / weights[:, None], 0.0)
    return RollRates(start, end, states, matrix, weights)


def markov_forecast(rates: RollRates, balances: dict[str, float], steps: int) -> list[dict[str, float]]:
    """Balances by bucket projected `steps` periods ahead with the roll-rate matrix (paid off absorbs)."""
    states = rates.states
    square = np.zeros((len(states), len(states)))
    square[: rates.matrix.shape[0], :] = rates.matrix
    square[-1, -1] = 1.0  # paid off stays paid off
    for i, total in enumerate(rates.weights):  # an empty bucket keeps what reaches it
        if total == 0:
            square[i, i] = 1.0
    vector = np.array([balances.get(s, 0.0) for s in states])
    out = []
    for _ in range(steps):
        vector = vector @ square
        out.append(dict(zip(states, vector.tolist(), strict=True)))
    return out


@dataclass(frozen=True)
class PortfolioSummary:
    day: date
    loans: int
    outstanding_fen: int
    by_bucket_fen: dict[str, int]
    by_class_fen: dict[str, int]
    npl_fen: int
    provision_fen: int

    @property
    def npl_ratio(self) -> float:
        return self.npl_fen / self.outstanding_fen if self.outstanding_fen else 0.0

    @property
    def coverage(self) -> float:
        """Provisions / NPL (拨备覆盖率)."""
        return self.provision_fen / self.npl_fen if self.npl_fen else 0.0

    @property
    def provision_to_loan(self) -> float:
        """Provisions / loans (贷款拨备率)."""
        return self.provision_fen / self.outstanding_fen if self.outstanding_fen else 0.0


def summary(root: Path, day: date) -> PortfolioSummary:
    src = f"read_parquet('{_glob(root, day)}')"
    total = duckdb.sql(
        f"SELECT COUNT(*), COALESCE(SUM(outstanding_principal_fen), 0), "
        f"COALESCE(SUM(provision_fen), 0) FROM {src} WHERE status <> '{PAID_OFF}'"
    ).fetchone()
    assert total is not None
    by_bucket = dict(
        duckdb.sql(
            f"SELECT bucket, SUM(outstanding_principal_fen) FROM {src} WHERE status <> '{PAID_OFF}' GROUP BY 1"
        ).fetchall()
    )
    by_class = dict(
        duckdb.sql(
            f"SELECT classification, SUM(outstanding_principal_fen) FROM {src} WHERE status <> '{PAID_OFF}' GROUP BY 1"
        ).fetchall()
    )
    npl = sum(int(v) for k, v in by_class.items() if k in ("substandard", "doubtful", "loss"))
    return PortfolioSummary(
        day,
        int(total[0]),
        int(total[1]),
        {k: int(v) for k, v in by_bucket.items()},
        {k: int(v) for k, v in by_class.items()},
        npl,
        int(total[2]),
    )


def vintage(root: Path, days: list[date], dpd_over: int = 30, by_balance: bool = False) -> pa.Table:
    """Vintage curves: for each disbursement month and month on book, the share of the vintage
    (count, or original principal) that has ever been more than `dpd_over` days past due."""
    files = ", ".join(f"'{_glob(root, d)}'" for d in days)
    weight = "principal_fen" if by_balance else "1"
    return duckdb.sql(
        f"""
        WITH s AS (
            SELECT loan_id, principal_fen, disbursed_on, business_date, dpd,
                   date_diff('month', disbursed_on, business_date) AS mob
            FROM read_parquet([{files}], hive_partitioning = true)
        ),
        loans AS (SELECT loan_id, ANY_VALUE(principal_fen) AS principal_fen,
                         strftime(ANY_VALUE(disbursed_on), '%Y-%m') AS vintage FROM s GROUP BY loan_id),
        first_bad AS (SELECT loan_id, MIN(mob) AS mob FROM s WHERE dpd > {dpd_over} GROUP BY loan_id),
        grid AS (SELECT DISTINCT l.vintage, s.mob FROM s JOIN loans l USING (loan_id))
        SELECT g.vintage, g.mob,
               SUM(CASE WHEN f.mob IS NOT NULL AND f.mob <= g.mob THEN {weight} ELSE 0 END)::DOUBLE
                 / SUM({weight}) AS ever_bad_share
        FROM grid g JOIN loans l ON l.vintage = g.vintage LEFT JOIN first_bad f USING (loan_id)
        GROUP BY 1, 2 ORDER BY 1, 2
        """
    ).to_arrow_table()


@dataclass(frozen=True)
class ExpectedLossParams:
    """PD by IFRS 9 stage and LGD: configurable data (defaults: a Basel foundation LGD of 45 %)."""

    pd_by_stage: tuple[tuple[int, Decimal], ...] = ((1, Decimal("0.015")), (2, Decimal("0.2")), (3, Decimal(1)))
    lgd: Decimal = Decimal("0.45")


def expected_loss(
    root: Path, day: date, params: ExpectedLossParams = ExpectedLossParams()
) -> dict[int, dict[str, int]]:
    """EL = PD × LGD × EAD per stage; EAD = outstanding principal + overdue interest + penalty."""
    rows = duckdb.sql(
        f"SELECT ifrs9_stage, COUNT(*), SUM(outstanding_principal_fen + overdue_interest_fen"
        f" + penalty_outstanding_fen) FROM read_parquet('{_glob(root, day)}') WHERE status <> '{PAID_OFF}'"
        " GROUP BY 1 ORDER BY 1"
    ).fetchall()
    pd = dict(params.pd_by_stage)
    out = {}
    for stage, n, ead in rows:
        el = round_fen(Decimal(int(ead)) * pd[int(stage)] * params.lgd)
        out[int(stage)] = {"loans": int(n), "ead_fen": int(ead), "el_fen": int(el)}
    return out

"""Roll rates, Markov forecasts, vintages, NPL and expected loss read the daily snapshots correctly."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daihou.analytics.portfolio import markov_forecast, roll_rates, summary, vintage
from daihou.batch.cob.snapshots import Snapshots, snapshot_table
from daihou.domain.grades import bucket_of

BUCKET_DPD = {"M0": 0, "M1": 5, "M2": 40, "M3": 70, "M4": 100, "M5": 130, "M6": 160, "M7+": 200}


def _snapshot(root: Path, day: date, rows: list[dict]) -> None:
    base = {
        "overdue_principal_fen": 0,
        "overdue_interest_fen": 0,
        "penalty_outstanding_fen": 0,
        "credit_fen": 0,
        "ifrs9_stage": 1,
        "provision_fen": 0,
        "classification": "normal",
        "principal_fen": 100_000,
        "disbursed_on": date(2026, 1, 10),
    }
    table = pa.Table.from_pylist(
        [{**base, "loan_no": f"L{r['loan_id']}", "bucket": bucket_of(r["dpd"]), **r} for r in rows]
    )
    Snapshots(root).write(day, snapshot_table(table, day))


def test_roll_rates_follow_each_loan_between_two_days(tmp_path: Path) -> None:
    d0, d1 = date(2026, 3, 31), date(2026, 4, 30)
    _snapshot(
        tmp_path,
        d0,
        [
            {"loan_id": 1, "status": "active", "dpd": 0, "outstanding_principal_fen": 100},
            {"loan_id": 2, "status": "active", "dpd": 0, "outstanding_principal_fen": 300},
            {"loan_id": 3, "status": "overdue", "dpd": 20, "outstanding_principal_fen": 200},
        ],
    )
    _snapshot(
        tmp_path,
        d1,
        [
            {"loan_id": 1, "status": "overdue", "dpd": 15, "outstanding_principal_fen": 90},
            {"loan_id": 2, "status": "active", "dpd": 0, "outstanding_principal_fen": 280},
            {"loan_id": 3, "status": "paid_off", "dpd": 0, "outstanding_principal_fen": 0},
        ],
    )
    rates = roll_rates(tmp_path, d0, d1)
    m0, m1 = rates.states.index("M0"), rates.states.index("M1")
    assert rates.matrix[m0, m0] == 0.75 and rates.matrix[m0, m1] == 0.25  # by balance on the start day
    assert rates.matrix[m1, rates.states.index("paid_off")] == 1.0
    assert rates.flow_rates()["M0→M1"] == 0.25
    counted = roll_rates(tmp_path, d0, d1, by_balance=False)
    assert counted.matrix[m0, m0] == 0.5


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.tuples(
            st.sampled_from(list(BUCKET_DPD)), st.sampled_from([*BUCKET_DPD, "gone", "paid_off"]), st.integers(1, 10**9)
        ),
        min_size=1,
        max_size=60,
    )
)
def test_every_roll_rate_row_sums_to_one(tmp_path_factory, moves) -> None:
    root = tmp_path_factory.mktemp("snap")
    d0, d1 = date(2026, 5, 31), date(2026, 6, 30)
    start, end = [], []
    for k, (a, b, amount) in enumerate(moves):
        start.append({"loan_id": k, "status": "active", "dpd": BUCKET_DPD[a], "outstanding_principal_fen": amount})
        if b == "paid_off":
            end.append({"loan_id": k, "status": "paid_off", "dpd": 0, "outstanding_principal_fen": 0})
        elif b != "gone":
            end.append({"loan_id": k, "status": "active", "dpd": BUCKET_DPD[b], "outstanding_principal_fen": amount})
    _snapshot(root, d0, start)
    _snapshot(root, d1, end)
    rates = roll_rates(root, d0, d1)
    for row, weight in zip(rates.matrix, rates.weights, strict=True):
        assert (abs(row.sum() - 1.0) < 1e-12) if weight > 0 else row.sum() == 0


def test_a_markov_forecast_conserves_the_balance_and_paid_off_absorbs(tmp_path: Path) -> None:
    d0, d1 = date(2026, 3, 31), date(2026, 4, 30)
    _snapshot(
        tmp_path,
        d0,
        [{"loan_id": i, "status": "active", "dpd": 0, "outstanding_principal_fen": 100} for i in range(10)],
    )
    _snapshot(
        tmp_path,
        d1,
        [
            {
                "loan_id": i,
                "status": "active" if i < 8 else "overdue",
                "dpd": 0 if i < 8 else 10,
                "outstanding_principal_fen": 100,
            }
            for i in range(9)
        ],
    )
    rates = roll_rates(tmp_path, d0, d1)
    path = markov_forecast(rates, {"M0": 1000.0}, steps=6)
    assert all(abs(sum(p.values()) - 1000.0) < 1e-6 for p in path)
    assert path[-1]["paid_off"] > path[0]["paid_off"] > 0


def test_npl_ratio_and_coverage_come_from_the_classes(tmp_path: Path) -> None:
    day = date(2026, 3, 31)
    _snapshot(
        tmp_path,
        day,
        [
            {"loan_id": 1, "status": "active", "dpd": 0, "outstanding_principal_fen": 800, "provision_fen": 12},
            {
                "loan_id": 2,
                "status": "overdue",
                "dpd": 100,
                "outstanding_principal_fen": 200,
                "classification": "substandard",
                "provision_fen": 50,
            },
        ],
    )
    s = summary(tmp_path, day)
    assert s.npl_fen == 200 and s.npl_ratio == 0.2 and s.coverage == 62 / 200
    assert s.by_bucket_fen == {"M0": 800, "M4": 200}


def test_vintage_curves_count_a_loan_bad_from_the_month_it_first_went_30_plus(tmp_path: Path) -> None:
    days = [date(2026, 2, 28), date(2026, 3, 31), date(2026, 4, 30)]
    for k, day in enumerate(days):
        _snapshot(
            tmp_path,
            day,
            [
                {"loan_id": 1, "status": "active", "dpd": 0, "outstanding_principal_fen": 100},
                {"loan_id": 2, "status": "overdue", "dpd": [0, 35, 65][k], "outstanding_principal_fen": 100},
            ],
        )
    curve = {(r["vintage"], r["mob"]): r["ever_bad_share"] for r in vintage(tmp_path, days).to_pylist()}
    assert curve[("2026-01", 1)] == 0.0 and curve[("2026-01", 2)] == 0.5 and curve[("2026-01", 3)] == 0.5
    assert np.isclose(sum(curve.values()), 1.0)

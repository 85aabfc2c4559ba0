"""The points scorecard: points add up to the score, the score is the regression's PD, reasons follow the points."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from daihou.risk.binning import Bin, BinnedVariable, fit_binning
from daihou.risk.scaling import Scaling
from daihou.risk.scorecard import Scorecard, VariablePoints, fit_scorecard, points_table, reason_codes
from daihou.risk.synthetic import credit_sample

FEATURES = ["income", "utilisation", "late_payments", "housing", "noise"]


@pytest.fixture(scope="module")
def fitted() -> tuple[Scorecard, pd.DataFrame]:
    sample = credit_sample(4000, seed=5)
    x = sample[FEATURES]
    binning = fit_binning(x, sample["bad"], categorical=["housing", "late_payments"])
    return fit_scorecard(x, sample["bad"], binning), x


def test_the_points_of_a_row_add_up_to_its_score_and_the_score_is_the_regressions_pd(fitted):
    card, x = fitted
    scored = card.score(x)
    assert np.allclose(scored.points.sum(axis=1), scored.score)
    assert np.allclose(scored.pd, card.predict_pd(x))
    assert np.allclose(Scaling().pd_from_score(scored.score), card.predict_pd(x))


def test_a_riskier_applicant_scores_fewer_points(fitted):
    card, _ = fitted
    safe = pd.DataFrame(
        {"income": [20000.0], "utilisation": [0.05], "late_payments": [0], "housing": ["own"], "noise": [0.0]}
    )
    risky = pd.DataFrame(
        {"income": [1500.0], "utilisation": [1.1], "late_payments": [3], "housing": ["rent"], "noise": [0.0]}
    )
    assert card.score(safe).score[0] > card.score(risky).score[0] + 40
    assert set(card.score(risky).reasons[0]) <= {"income", "utilisation", "late_payments", "housing"}
    assert card.score(risky).reasons[0][0] in {"utilisation", "late_payments", "income"}


def test_every_coefficient_has_the_sign_that_makes_safer_bins_score_more(fitted):
    card, _ = fitted
    assert card.coefficients and all(c < 0 for c in card.coefficients)
    for variable, table in zip(card.variables, card.table, strict=True):
        seen = [(b.woe, p) for b, p in zip(variable.bins, table.points, strict=True) if b.count]
        _, points = zip(*sorted(seen), strict=True)
        assert list(points) == sorted(points)  # higher WOE, more points


def test_a_variable_whose_coefficient_comes_out_with_the_wrong_sign_is_dropped():
    rng = np.random.default_rng(0)
    n = 5000
    driver = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(-1.5 + 1.5 * driver)))).astype(int)
    echo = driver + rng.normal(scale=0.05, size=n)  # the same signal again, nearly collinear
    x = pd.DataFrame({"driver": driver, "echo": echo, "flip": -driver + rng.normal(scale=3, size=n)})
    card = fit_scorecard(x, y, fit_binning(x, y))
    assert all(c < 0 for c in card.coefficients)
    assert {d.reason for d in card.dropped} <= {"wrong_sign", "single_bin", "low_iv"}
    assert "driver" in card.features or "echo" in card.features


def test_a_variable_with_one_bin_carries_no_information_and_is_left_out():
    rng = np.random.default_rng(1)
    x = pd.DataFrame({"signal": rng.normal(size=2000), "flat": np.ones(2000)})
    y = (x["signal"] + rng.normal(size=2000) > 1).astype(int)
    card = fit_scorecard(x, y, fit_binning(x, y))
    assert [d.name for d in card.dropped if d.reason == "single_bin"] == ["flat"]


def test_points_are_split_so_that_each_variable_gets_its_share_of_the_offset():
    scaling = Scaling()
    variable = BinnedVariable(
        "v", "numerical", (1.0,), (), (Bin("lo", 5, 1, 0.5), Bin("hi", 5, 4, -0.5), Bin("Missing", 0, 0, 0.0)), 0.1
    )
    (table,) = points_table([variable], [-0.8], intercept=-1.2, scaling=scaling)
    expected = [-scaling.factor * (-0.8 * w - 1.2) + scaling.offset for w in (0.5, -0.5, 0.0)]
    assert table.points == pytest.approx(tuple(expected))
    assert table.best == pytest.approx(expected[0])


def test_reason_codes_name_the_variables_losing_most_points_against_their_best_bin():
    table = [
        VariablePoints("age", ("young", "old"), (10.0, 30.0), 30.0),
        VariablePoints("income", ("low", "mid", "high"), (0.0, 20.0, 50.0), 50.0),
        VariablePoints("housing", ("rent", "own"), (5.0, 15.0), 15.0),
        VariablePoints("late", ("yes", "no"), (40.0, 41.0), 41.0),
    ]
    bins = np.array([[0, 0, 0, 0], [1, 2, 1, 1], [1, 1, 1, 0]])
    assert reason_codes(table, bins) == [("income", "age", "housing"), (), ("income", "late")]

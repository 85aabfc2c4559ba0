"""Properties of the points scale, PSI and reason codes (Hypothesis)."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from daihou.risk.metrics import psi, psi_from_shares
from daihou.risk.scaling import Scaling
from daihou.risk.scorecard import LOSS_TOLERANCE, VariablePoints, reason_codes

odds = st.floats(min_value=1e-4, max_value=1e4, allow_nan=False, allow_infinity=False)
scalings = st.builds(
    Scaling,
    base_points=st.floats(min_value=100, max_value=1000),
    base_odds=st.floats(min_value=0.5, max_value=200),
    pdo=st.floats(min_value=5, max_value=80),
)


@given(odds)
def test_twenty_points_double_the_odds_and_600_points_are_50_to_1(o):
    scaling = Scaling()
    assert math.isclose(scaling.score_from_odds(2 * o) - scaling.score_from_odds(o), 20.0, abs_tol=1e-9)
    assert math.isclose(scaling.score_from_odds(50.0), 600.0, abs_tol=1e-9)


@given(scalings, odds)
def test_any_scaling_adds_pdo_points_when_the_odds_double(scaling, o):
    assert math.isclose(scaling.score_from_odds(2 * o) - scaling.score_from_odds(o), scaling.pdo, rel_tol=1e-9)
    assert math.isclose(scaling.score_from_odds(scaling.base_odds), scaling.base_points, abs_tol=1e-6)


@given(st.floats(min_value=1e-6, max_value=1 - 1e-6))
def test_the_pd_of_a_score_is_the_pd_it_was_made_from(p):
    scaling = Scaling()
    score = scaling.score_from_pd(np.array([p]))
    assert math.isclose(float(scaling.pd_from_score(score)[0]), p, rel_tol=1e-9, abs_tol=1e-12)
    # and the score is the odds formula: good:bad odds (1 − p) / p
    assert math.isclose(float(score[0]), scaling.score_from_odds((1 - p) / p), abs_tol=1e-6)


samples = arrays(np.float64, st.integers(1, 300), elements=st.floats(-1e6, 1e6, allow_nan=False))


@given(samples)
def test_psi_of_a_sample_against_itself_is_zero(x):
    assert psi(x, x) == 0.0


@given(samples, samples)
def test_psi_is_finite_and_never_negative_even_when_bins_are_empty(expected, actual):
    value = psi(expected, actual)
    assert math.isfinite(value)
    assert value >= 0.0


shares = st.lists(st.floats(0, 1), min_size=2, max_size=12)


@given(shares.flatmap(lambda e: st.tuples(st.just(e), st.lists(st.floats(0, 1), min_size=len(e), max_size=len(e)))))
def test_psi_from_shares_with_zero_shares_stays_finite(pair):
    expected, actual = pair
    assert math.isfinite(psi_from_shares(expected, actual))


@st.composite
def tables_and_rows(draw):
    n_vars = draw(st.integers(1, 6))
    table = []
    for j in range(n_vars):
        n_bins = draw(st.integers(1, 5))
        # points on a 0.5 grid so that ties happen, as they do in real tables
        points = tuple(draw(st.integers(-40, 120)) / 2 for _ in range(n_bins))
        table.append(VariablePoints(f"v{j}", tuple(f"b{i}" for i in range(n_bins)), points, max(points)))
    rows = draw(st.lists(st.tuples(*[st.integers(0, len(t.points) - 1) for t in table]), min_size=1, max_size=20))
    return table, np.array(rows, dtype=np.int64).reshape(len(rows), n_vars)


@given(tables_and_rows())
def test_reason_codes_agree_with_the_points_table(case):
    table, bins = case
    for row, reasons in zip(bins, reason_codes(table, bins), strict=True):
        loss = {t.name: t.best - t.points[row[j]] for j, t in enumerate(table)}
        # at most three, each one actually loses points, the biggest losers first …
        assert len(reasons) <= 3
        assert all(loss[name] > LOSS_TOLERANCE for name in reasons)
        assert [loss[name] for name in reasons] == sorted((loss[name] for name in reasons), reverse=True)
        # … and no variable left out loses more than one that was named
        others = [name for name in loss if name not in reasons]
        if len(reasons) < 3:
            assert all(loss[name] <= LOSS_TOLERANCE for name in others)
        elif reasons:
            assert all(loss[name] <= loss[reasons[-1]] for name in others)
        # a row in the best bin of every variable has nothing to explain
        if all(loss[name] <= LOSS_TOLERANCE for name in loss):
            assert reasons == ()

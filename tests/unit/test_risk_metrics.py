"""AUC, KS, Gini, calibration and stability numbers on small hand-made samples."""

from __future__ import annotations

import math

import numpy as np
import pytest

from daihou.risk.metrics import (
    PSI_EPSILON,
    Stability,
    StabilityThresholds,
    auc,
    bin_counts,
    calibration_table,
    csi,
    gini,
    ks,
    psi,
    psi_from_shares,
)


def test_a_score_that_ranks_every_bad_above_every_good_has_auc_1_ks_1_and_gini_1():
    y = [0, 0, 0, 1, 1]
    score = [0.1, 0.2, 0.3, 0.8, 0.9]
    assert auc(y, score) == 1.0
    assert ks(y, score) == 1.0
    assert gini(auc(y, score)) == 1.0


def test_a_reversed_score_has_auc_0_and_a_coin_has_auc_one_half():
    assert auc([0, 1], [0.9, 0.1]) == 0.0
    assert auc([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5]) == 0.5


def test_ks_is_the_largest_gap_between_cumulative_bads_and_goods():
    # at threshold 0.6: 2 of 3 bads and 0 of 3 goods are above → gap 2/3
    y = [1, 1, 0, 1, 0, 0]
    score = [0.9, 0.8, 0.6, 0.4, 0.3, 0.2]
    assert ks(y, score) == pytest.approx(2 / 3)


def test_calibration_cuts_rows_into_ten_groups_by_predicted_pd_and_compares_means():
    predicted = np.linspace(0.01, 0.5, 100)
    y = (np.arange(100) >= 90).astype(int)  # only the riskiest tenth defaults
    rows = calibration_table(y, predicted)
    assert [r.group for r in rows] == list(range(1, 11))
    assert [r.n for r in rows] == [10] * 10
    assert [r.observed_rate for r in rows] == [0.0] * 9 + [1.0]
    assert rows[0].predicted_pd == pytest.approx(predicted[:10].mean())


def test_psi_of_a_sample_against_itself_is_zero():
    x = np.random.default_rng(1).normal(size=1000)
    assert psi(x, x) == 0.0


def test_psi_of_a_shifted_sample_is_rated_red_and_a_slight_shift_green():
    rng = np.random.default_rng(2)
    base = rng.normal(size=20_000)
    assert StabilityThresholds().rate(psi(base, base + 1.0)) is Stability.RED
    assert StabilityThresholds().rate(psi(base, rng.normal(size=20_000))) is Stability.GREEN


def test_an_empty_bin_keeps_psi_finite_through_the_floor():
    value = psi_from_shares([0.5, 0.5, 0.0], [0.0, 0.5, 0.5])
    expected = (PSI_EPSILON - 0.5) * math.log(PSI_EPSILON / 0.5) + (0.5 - PSI_EPSILON) * math.log(0.5 / PSI_EPSILON)
    assert math.isfinite(value)
    assert value == pytest.approx(expected)


def test_missing_values_have_a_bin_of_their_own():
    counts = bin_counts([1.0, 2.0, float("nan"), 5.0], np.array([1.5, 3.0]))
    assert counts.tolist() == [1.0, 1.0, 1.0, 1.0]  # (-inf,1.5) [1.5,3) [3,inf) missing


def test_csi_compares_the_shares_of_each_bin_label():
    assert csi(["a", "a", "b", "b"], ["a", "b", "a", "b"]) == 0.0
    assert csi(["a", "a", "b", "b"], ["a", "a", "a", "a"]) > 0.25


def test_thresholds_are_data_with_the_usual_defaults():
    rule = StabilityThresholds()
    assert (rule.amber, rule.red) == (0.10, 0.25)
    assert [rule.rate(v) for v in (0.0999, 0.10, 0.2499, 0.25)] == [
        Stability.GREEN,
        Stability.AMBER,
        Stability.AMBER,
        Stability.RED,
    ]
    assert StabilityThresholds(amber=0.05, red=0.2).rate(0.06) is Stability.AMBER

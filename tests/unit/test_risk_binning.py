"""Monotone WOE binning: bins as data that agree with optbinning and score without it."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from daihou.risk.binning import BinnedVariable, category_text, fit_binning, woe_matrix, woe_of
from daihou.risk.synthetic import credit_sample


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    return credit_sample(4000, seed=3)


@pytest.fixture(scope="module")
def binned(sample: pd.DataFrame) -> dict[str, BinnedVariable]:
    x = sample[["income", "utilisation", "housing", "noise"]]
    return {v.name: v for v in fit_binning(x, sample["bad"], categorical=["housing"])}


def test_numeric_bins_follow_a_monotone_bad_rate_in_the_direction_of_the_risk(binned):
    income = binned["income"]
    rates = [b.event_rate for b in income.bins[: income.n_regular]]
    assert len(rates) >= 3
    assert rates == sorted(rates, reverse=True)  # richer is safer
    assert income.trend == -1
    assert binned["utilisation"].trend == 1
    assert binned["housing"].trend == 0  # categories have no order of their own


def test_woe_is_high_for_safe_bins_and_information_value_ranks_the_signal_above_the_noise(binned):
    income = binned["income"]
    assert income.bins[0].woe < 0 < income.bins[income.n_regular - 1].woe
    assert binned["utilisation"].iv > 0.1
    assert binned["noise"].iv < 0.05


def test_bin_indices_agree_with_optbinnings_own_transform(sample):
    from optbinning import OptimalBinning

    x = sample["utilisation"]
    optimal = OptimalBinning(name="utilisation", monotonic_trend="auto_asc_desc").fit(x, sample["bad"])
    ours = fit_binning(sample[["utilisation"]], sample["bad"])[0]
    theirs = optimal.transform(x, metric="indices", metric_missing="empirical", metric_special="empirical")
    assert np.array_equal(ours.index(x), theirs)
    assert ours.splits == tuple(float(s) for s in optimal.splits)


def test_missing_values_and_unseen_categories_fall_into_the_last_bin(binned):
    income, housing = binned["income"], binned["housing"]
    assert income.bins[-1].label == "Missing"
    assert income.bins[-1].count > 0  # the sample has missing incomes
    assert income.index(pd.Series([np.nan, 5000.0]))[0] == income.missing_index
    assert housing.index(pd.Series(["boat", None, "own"])).tolist()[:2] == [housing.missing_index] * 2


def test_a_bin_nobody_fell_into_has_woe_zero_and_a_pure_bin_stays_finite():
    assert woe_of(0, 0, total_goods=100, total_bads=10) == 0.0
    assert math.isfinite(woe_of(20, 0, total_goods=100, total_bads=10))
    assert woe_of(20, 0, 100, 10) > 0


def test_integer_codes_read_back_as_floats_land_in_the_same_bin():
    assert category_text(pd.Series([1, 2, 3])).tolist() == category_text(pd.Series([1.0, 2.0, 3.0])).tolist()
    assert category_text(pd.Series([1.5, None])).tolist()[0] == "1.5"


def test_the_woe_matrix_has_one_column_per_variable_in_order(binned, sample):
    variables = [binned["utilisation"], binned["housing"]]
    matrix = woe_matrix(variables, sample.head(5))
    assert matrix.shape == (5, 2)
    assert matrix[0, 1] == binned["housing"].woes[binned["housing"].index(sample["housing"].head(1))[0]]

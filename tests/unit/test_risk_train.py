"""Generic training: any table with a 0/1 target, rejected clearly when it cannot be used."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from daihou.risk.synthetic import credit_sample
from daihou.risk.train import DataError, TrainSpec, prepare, split, train


def test_the_split_holds_out_thirty_percent_with_the_same_bad_rate_and_repeats_with_the_seed():
    sample = credit_sample(2000, seed=1)
    spec = TrainSpec("bad", id_columns=("applicant_no",), seed=7)
    prepared = prepare(sample, spec)
    first, again = split(prepared, spec), split(prepared, spec)
    assert (len(first.y_train), len(first.y_test)) == (1400, 600)
    assert abs(first.y_train.mean() - first.y_test.mean()) < 0.005
    assert first.x_test.index.equals(again.x_test.index)
    other = split(prepared, TrainSpec("bad", id_columns=("applicant_no",), seed=8))
    assert not first.x_test.index.equals(other.x_test.index)


def test_id_columns_and_pandas_unnamed_index_columns_are_not_features():
    sample = credit_sample(500, seed=1)
    sample.insert(0, "Unnamed: 0", range(len(sample)))
    prepared = prepare(sample, TrainSpec("bad", id_columns=("applicant_no",)))
    assert "applicant_no" not in prepared.x.columns and "Unnamed: 0" not in prepared.x.columns
    assert ("Unnamed: 0", "unnamed_index") in prepared.dropped
    assert ("applicant_no", "id_column") in prepared.dropped


def test_text_that_is_really_numbers_becomes_numbers_and_other_text_is_categorical():
    frame = pd.DataFrame(
        {
            "bad": [0, 1] * 20,
            "revol_util": ["12.5%", "80%"] * 20,
            "balance": ["1,200", "35"] * 20,
            "grade": ["A", "C"] * 20,
            "constant": ["x"] * 40,
        }
    )
    prepared = prepare(frame, TrainSpec("bad"))
    assert prepared.x["revol_util"].tolist()[:2] == [12.5, 80.0]
    assert prepared.x["balance"].tolist()[:2] == [1200.0, 35.0]
    assert prepared.categorical == ("grade",)
    assert ("constant", "constant") in prepared.dropped


def test_a_few_integer_codes_are_categorical_but_many_integers_stay_numeric():
    frame = pd.DataFrame({"bad": [0, 1] * 50, "status": [-2, -1, 0, 1, 2] * 20, "age": range(20, 120)})
    prepared = prepare(frame, TrainSpec("bad"))
    assert prepared.categorical == ("status",)


@pytest.mark.parametrize(
    ("target", "values", "code"),
    [
        ("bad", ["yes", "no"] * 20, "target_not_binary"),
        ("bad", [0, 2] * 20, "target_not_binary"),
        ("bad", [0] * 39 + [1], "too_few_rows"),
        ("missing", [0, 1] * 20, "unknown_target"),
    ],
)
def test_a_target_that_is_not_a_usable_0_1_column_is_rejected_with_its_code(target, values, code):
    frame = pd.DataFrame({"bad": values, "x": np.arange(40)})
    with pytest.raises(DataError) as caught:
        prepare(frame, TrainSpec(target))
    assert caught.value.code == code
    assert target in caught.value.message or code == "too_few_rows"


def test_an_unknown_id_column_is_rejected_by_name():
    with pytest.raises(DataError, match="nope"):
        prepare(credit_sample(100), TrainSpec("bad", id_columns=("nope",)))


def test_rows_without_a_target_are_left_out_and_counted():
    sample = credit_sample(600, seed=2).astype({"bad": "float"})
    sample.loc[:9, "bad"] = np.nan
    prepared = prepare(sample, TrainSpec("bad", id_columns=("applicant_no",)))
    assert prepared.rows_without_target == 10
    assert len(prepared.y) == 590


@pytest.mark.parametrize("kind", ["scorecard", "lgbm"])
def test_both_kinds_learn_the_synthetic_risk_and_report_hold_out_metrics(kind):
    result = train(credit_sample(3000, seed=4), TrainSpec("bad", kind=kind, id_columns=("applicant_no",)))
    metrics = result.metrics
    assert {"auc", "ks", "gini", "n_train", "n_test"} <= set(metrics)
    assert (metrics["n_train"], metrics["n_test"]) == (2100, 900)
    assert metrics["auc"] > 0.68
    assert metrics["gini"] == pytest.approx(2 * metrics["auc"] - 1, abs=1e-6)
    assert 0 < metrics["ks"] < 1
    card = result.card
    assert len(card["calibration"]) == 10
    assert set(card["information_value"]) == {"income", "utilisation", "late_payments", "housing", "noise"}
    assert card["stability"]["score_psi_rating"] == "green"


def test_the_challenger_enforces_the_woe_trend_of_the_strong_numeric_variables():
    result = train(credit_sample(3000, seed=4), TrainSpec("bad", kind="lgbm", id_columns=("applicant_no",)))
    constraints = result.card["monotone_constraints"]
    assert constraints["income"] == -1 and constraints["utilisation"] == 1
    assert constraints["housing"] == 0  # categorical: no order
    # the PD really is monotone in utilisation, whatever the other values
    row = credit_sample(1, seed=9).drop(columns=["bad", "applicant_no"])
    grid = pd.concat([row] * 50, ignore_index=True)
    grid["utilisation"] = np.linspace(0, 1.2, 50)
    assert np.all(np.diff(result.model.predict_pd(grid)) >= -1e-12)

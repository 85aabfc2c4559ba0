"""The LightGBM challenger: its reasons are the features pushing the PD up, its PD is its score's PD."""

from __future__ import annotations

import numpy as np
import pytest

from daihou.risk.lgbm import top_contributions
from daihou.risk.scaling import Scaling
from daihou.risk.synthetic import credit_sample
from daihou.risk.train import TrainSpec, train


def test_reasons_are_the_largest_positive_contributions_most_first():
    contrib = np.array([[0.2, -0.5, 0.9, 0.1, 0.05], [-0.1, -0.2, -0.3, -0.4, -0.5]])
    names = ["a", "b", "c", "d", "e"]
    assert top_contributions(contrib, names) == [("c", "a", "d"), ()]


@pytest.fixture(scope="module")
def challenger():
    return train(credit_sample(3000, seed=21), TrainSpec("bad", kind="lgbm", id_columns=("applicant_no",)))


def test_the_score_and_pd_of_a_row_come_from_the_same_log_odds(challenger):
    x = credit_sample(200, seed=22).drop(columns=["bad", "applicant_no"])
    scored = challenger.model.score(x)
    assert np.allclose(scored.pd, challenger.model.predict_pd(x))
    assert np.allclose(Scaling().pd_from_score(scored.score), scored.pd)
    assert all(len(r) <= 3 for r in scored.reasons)
    assert scored.points is None


def test_trees_are_regrown_on_the_whole_training_sample_after_early_stopping(challenger):
    model = challenger.model
    assert model.rounds == max(1, round(model.stopped_at / 0.8))
    assert challenger.card["rounds"] == model.rounds

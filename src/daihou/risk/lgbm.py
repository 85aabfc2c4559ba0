"""The LightGBM challenger: gradient-boosted trees held to the scorecard's monotone trends.

Each numeric variable whose development bins show a monotone bad rate (the WOE trend, see
`BinnedVariable.trend`) is constrained the same way in the trees: +1 means the PD may only rise with
the value, −1 only fall. Variables without a monotone trend, categorical ones, and weak ones (IV
below 0.02, where the sign of a trend is mostly noise) are free (0).
The number of trees is chosen by early stopping on an inner validation split (20 %) carved out of
the training sample only; the trees are then grown again on the whole training sample, with the
number of rounds scaled up by 1 / 0.8 for the extra rows. The hold-out sample is never seen while
fitting.

Reasons per row come from LightGBM's own per-feature contributions to the log-odds (TreeSHAP,
`pred_contrib`): the variables that push the PD up the most.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.model_selection import train_test_split

from daihou.risk.binning import BinnedVariable, category_text
from daihou.risk.model import REASON_CODES, Scored
from daihou.risk.scaling import DEFAULT_SCALING, Scaling

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class LgbmParams:
    learning_rate: float = 0.03
    num_leaves: int = 15
    min_data_in_leaf: int = 100
    feature_fraction: float = 0.8
    bagging_fraction: float = 0.8
    lambda_l2: float = 1.0
    max_rounds: int = 2000
    early_stopping_rounds: int = 200
    inner_valid_size: float = 0.2  # share of the training sample held back for early stopping
    monotone_method: str = "intermediate"
    constrain_min_iv: float = 0.02  # a trend is enforced only where the variable says something (IV ≥ 0.02)
    threads: int = 1  # OpenMP threads spin while waiting: one thread is faster on a shared, busy machine


@dataclass
class GradientBoosted:
    binning: tuple[BinnedVariable, ...]
    features: tuple[str, ...]
    categories: dict[str, list[str]]  # categorical feature → the categories seen in development
    constraints: tuple[int, ...]
    booster: lgb.Booster
    rounds: int  # trees used (grown on the whole training sample)
    stopped_at: int  # best iteration on the inner validation split
    scaling: Scaling = DEFAULT_SCALING
    params: dict[str, Any] = field(default_factory=dict)
    kind: str = "lgbm"

    def frame(self, x: pd.DataFrame) -> pd.DataFrame:
        return design_frame(x, self.features, self.categories)

    def log_odds(self, x: pd.DataFrame) -> FloatArray:
        raw = self.booster.predict(self.frame(x), num_iteration=self.rounds, raw_score=True)
        return np.asarray(raw, dtype=float)

    def predict_pd(self, x: pd.DataFrame) -> FloatArray:
        return 1.0 / (1.0 + np.exp(-self.log_odds(x)))

    def score(self, x: pd.DataFrame) -> Scored:
        design = self.frame(x)
        contrib = np.asarray(self.booster.predict(design, num_iteration=self.rounds, pred_contrib=True), dtype=float)
        log_odds = contrib.sum(axis=1)  # the features' contributions plus the expected value (last column)
        pd_ = 1.0 / (1.0 + np.exp(-log_odds))
        return Scored(
            pd_, self.scaling.score_from_log_odds(log_odds), top_contributions(contrib[:, :-1], self.features)
        )


def top_contributions(contrib: FloatArray, names: Sequence[str], top: int = REASON_CODES) -> list[tuple[str, ...]]:
    """The features with the largest positive contributions to the log-odds of bad, per row."""
    order = np.argsort(-contrib, axis=1, kind="stable")[:, :top]
    return [tuple(names[j] for j in picks if row[j] > 0) for row, picks in zip(contrib, order, strict=True)]


def design_frame(x: pd.DataFrame, features: Sequence[str], categories: dict[str, list[str]]) -> pd.DataFrame:
    """Numeric columns as floats, categorical ones as pandas categoricals over the development categories."""
    columns: dict[str, Any] = {}
    for name in features:
        if name in categories:
            columns[name] = pd.Categorical(category_text(x[name]), categories=categories[name])
        else:
            columns[name] = pd.to_numeric(x[name], errors="coerce").astype(float)
    return pd.DataFrame(columns, index=x.index)


def monotone_constraints(binning: Sequence[BinnedVariable], min_iv: float = 0.0) -> tuple[int, ...]:
    """The WOE trend of each variable (+1, −1 or 0), and 0 for variables below `min_iv`."""
    return tuple(v.trend if v.iv >= min_iv else 0 for v in binning)


def fit_lgbm(
    x: pd.DataFrame,
    y: npt.ArrayLike,
    binning: Sequence[BinnedVariable],
    seed: int,
    params: LgbmParams | None = None,
    scaling: Scaling = DEFAULT_SCALING,
) -> GradientBoosted:
    """Fit on the training sample; `binning` (fitted on the same sample) gives the monotone trends."""
    p = params or LgbmParams()
    target = np.asarray(y, dtype=np.int64)
    features = tuple(v.name for v in binning)
    categories = {v.name: sorted({c for group in v.groups for c in group}) for v in binning if v.dtype == "categorical"}
    design = design_frame(x, features, categories)
    fit_x, valid_x, fit_y, valid_y = train_test_split(
        design, target, test_size=p.inner_valid_size, stratify=target, random_state=seed
    )
    constraints = monotone_constraints(binning, p.constrain_min_iv)
    booster_params: dict[str, Any] = {
        "objective": "binary",
        "metric": "auc",
        "learning_rate": p.learning_rate,
        "num_leaves": p.num_leaves,
        "min_data_in_leaf": p.min_data_in_leaf,
        "feature_fraction": p.feature_fraction,
        "bagging_fraction": p.bagging_fraction,
        "bagging_freq": 1,
        "lambda_l2": p.lambda_l2,
        "monotone_constraints": list(constraints),
        "monotone_constraints_method": p.monotone_method,
        "num_threads": p.threads,
        "seed": seed,
        "deterministic": True,
        "force_col_wise": True,
        "verbosity": -1,
    }
    categorical: list[str] | Literal["auto"] = [name for name in features if name in categories] or "auto"
    train_set = lgb.Dataset(fit_x, fit_y, categorical_feature=categorical, free_raw_data=False)
    valid_set = lgb.Dataset(valid_x, valid_y, reference=train_set, categorical_feature=categorical)
    stopped = lgb.train(
        booster_params,
        train_set,
        num_boost_round=p.max_rounds,
        valid_sets=[valid_set],
        callbacks=[lgb.early_stopping(p.early_stopping_rounds, verbose=False)],
    )
    rounds = max(1, round(stopped.best_iteration / (1 - p.inner_valid_size)))
    full_set = lgb.Dataset(design, target, categorical_feature=categorical)
    booster = lgb.train({k: v for k, v in booster_params.items() if k != "metric"}, full_set, num_boost_round=rounds)
    return GradientBoosted(
        tuple(binning),
        features,
        categories,
        constraints,
        booster,
        rounds,
        int(stopped.best_iteration),
        scaling,
        booster_params,
    )

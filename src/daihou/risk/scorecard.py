"""A points scorecard: logistic regression on WOE, scaled to points per bin.

The regression predicts the log-odds of a bad outcome, β0 + Σ βj·WOEj. With `Scaling` (factor,
offset) the score offset − factor·(β0 + Σ βj·WOEj) is split across the n variables so each bin
carries its own points:

    points(j, bin) = −factor · (βj · WOE(j, bin) + β0 / n) + offset / n

The points of a row add up to its score exactly, and `Scaling.pd_from_score` of that score is the
regression's PD. A variable whose coefficient comes out with the wrong sign (a safer bin scoring
lower, a sign of collinearity) is dropped and the regression refitted, as scorecard practice asks.

Reason codes: for each variable, the points a row loses against the best bin of that variable
(among the bins seen in development); the variables that lose the most, most first, ties in
variable order, only those that lose anything.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.linear_model import LogisticRegression

from daihou.risk.binning import BinnedVariable, index_matrix, woe_matrix
from daihou.risk.model import REASON_CODES, Scored
from daihou.risk.scaling import DEFAULT_SCALING, Scaling

FloatArray = npt.NDArray[np.float64]
LOSS_TOLERANCE = 1e-9  # points; a loss below this is no loss (float noise)


@dataclass(frozen=True, slots=True)
class VariablePoints:
    name: str
    labels: tuple[str, ...]
    points: tuple[float, ...]  # one per bin, the missing bin last
    best: float  # the most points any development bin of this variable gives


@dataclass(frozen=True, slots=True)
class Dropped:
    name: str
    reason: str  # "low_iv", "single_bin", "wrong_sign"


def points_table(
    variables: Sequence[BinnedVariable], coefficients: Sequence[float], intercept: float, scaling: Scaling
) -> tuple[VariablePoints, ...]:
    n = len(variables)
    table = []
    for v, beta in zip(variables, coefficients, strict=True):
        pts = tuple(-scaling.factor * (beta * b.woe + intercept / n) + scaling.offset / n for b in v.bins)
        seen = [p for p, b in zip(pts, v.bins, strict=True) if b.count] or list(pts)
        table.append(VariablePoints(v.name, tuple(b.label for b in v.bins), pts, max(seen)))
    return tuple(table)


def reason_codes(
    table: Sequence[VariablePoints], bins: npt.NDArray[np.int64], top: int = REASON_CODES
) -> list[tuple[str, ...]]:
    """For each row of bin indices (one column per variable of `table`), the variables losing most points."""
    if not table:
        return [() for _ in range(len(bins))]
    losses = np.column_stack([v.best - np.asarray(v.points, dtype=float)[bins[:, j]] for j, v in enumerate(table)])
    order = np.argsort(-losses, axis=1, kind="stable")[:, :top]
    names = [v.name for v in table]
    out = []
    for row, picks in zip(losses, order, strict=True):
        out.append(tuple(names[j] for j in picks if row[j] > LOSS_TOLERANCE))
    return out


@dataclass(frozen=True)
class Scorecard:
    binning: tuple[BinnedVariable, ...]  # every candidate variable, for IV and CSI in the card
    variables: tuple[BinnedVariable, ...]  # the ones in the model, in table order
    coefficients: tuple[float, ...]
    intercept: float
    scaling: Scaling
    table: tuple[VariablePoints, ...]
    dropped: tuple[Dropped, ...]
    kind: str = "scorecard"

    @property
    def features(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.variables)

    def log_odds(self, x: pd.DataFrame) -> FloatArray:
        woe = woe_matrix(self.variables, x)
        log_odds: FloatArray = self.intercept + woe @ np.asarray(self.coefficients, dtype=float)
        return log_odds

    def predict_pd(self, x: pd.DataFrame) -> FloatArray:
        return 1.0 / (1.0 + np.exp(-self.log_odds(x)))

    def score(self, x: pd.DataFrame) -> Scored:
        bins = index_matrix(self.variables, x)
        points = pd.DataFrame(
            {v.name: np.asarray(v.points, dtype=float)[bins[:, j]] for j, v in enumerate(self.table)},
            index=x.index,
        )
        if self.table:
            total = points.sum(axis=1).to_numpy(dtype=float)
        else:  # no variable survived: everyone gets the base rate's score
            total = np.full(len(x), float(self.scaling.score_from_log_odds(self.intercept)))
        return Scored(self.scaling.pd_from_score(total), total, reason_codes(self.table, bins), points)


def _logit(rate: float) -> float:
    rate = min(max(rate, 1e-6), 1 - 1e-6)
    return math.log(rate / (1 - rate))


def fit_scorecard(
    x: pd.DataFrame,
    y: npt.ArrayLike,
    binning: Sequence[BinnedVariable],
    scaling: Scaling = DEFAULT_SCALING,
    min_iv: float = 0.0,
    c: float = 1.0,
) -> Scorecard:
    """Fit the regression on the development sample's WOE and build the points table."""
    target = np.asarray(y, dtype=np.int64)
    dropped: list[Dropped] = []
    chosen: list[BinnedVariable] = []
    for v in binning:
        if sum(1 for b in v.bins if b.count) < 2:
            dropped.append(Dropped(v.name, "single_bin"))
        elif v.iv < min_iv:
            dropped.append(Dropped(v.name, "low_iv"))
        else:
            chosen.append(v)
    while chosen:
        model = LogisticRegression(C=c, max_iter=2000)
        model.fit(woe_matrix(chosen, x), target)
        coef = model.coef_[0]
        # WOE rises with safety, so a coefficient on the log-odds of bad must be negative.
        worst = int(np.argmax(coef))
        if coef[worst] < 0:
            intercept = float(model.intercept_[0])
            coefficients = tuple(float(c_) for c_ in coef)
            break
        dropped.append(Dropped(chosen[worst].name, "wrong_sign"))
        del chosen[worst]
    else:
        intercept, coefficients = _logit(float(target.mean())), ()
    table = points_table(chosen, coefficients, intercept, scaling)
    return Scorecard(tuple(binning), tuple(chosen), coefficients, intercept, scaling, table, tuple(dropped))

"""What every trained PD model offers: a PD, a score on the points scale and reasons per row."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt
from pandas import DataFrame

from daihou.risk.binning import BinnedVariable
from daihou.risk.scaling import Scaling

REASON_CODES = 3  # reasons reported per scored row


@dataclass(frozen=True)
class Scored:
    """One row per scored account, in the input's order."""

    pd: npt.NDArray[np.float64]  # probability of y == 1 (a bad outcome)
    score: npt.NDArray[np.float64]  # points: higher is safer
    reasons: list[tuple[str, ...]]  # up to REASON_CODES variable names, the strongest first
    points: DataFrame | None = None  # scorecard only: points per variable (columns = variables)


class PdModel(Protocol):
    @property
    def kind(self) -> str: ...  # "scorecard" | "lgbm"

    @property
    def features(self) -> tuple[str, ...]: ...  # the columns the model reads

    @property
    def scaling(self) -> Scaling: ...

    @property
    def binning(self) -> tuple[BinnedVariable, ...]: ...  # development bins of every candidate (IV, CSI)

    def predict_pd(self, x: DataFrame) -> npt.NDArray[np.float64]: ...

    def score(self, x: DataFrame) -> Scored: ...

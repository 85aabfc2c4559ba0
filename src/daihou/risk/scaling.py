"""Points scaling: a PD, log-odds or odds expressed as a score.

score = offset − factor · ln(odds of bad) = offset + factor · ln(odds of good), with
factor = PDO / ln 2 and offset = base points − factor · ln(base odds). With the defaults 600 points
are good:bad odds of 50:1 and every 20 points double them. The numbers are data (`Scaling`), so a
lender may pick another anchor; the formulas are written out here, not hidden in a library.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Scaling:
    base_points: float = 600.0
    base_odds: float = 50.0  # good:bad odds at base_points
    pdo: float = 20.0  # points that double the good:bad odds

    def __post_init__(self) -> None:
        assert self.base_odds > 0 and self.pdo > 0, "odds and PDO must be positive"

    @property
    def factor(self) -> float:
        return self.pdo / math.log(2.0)

    @property
    def offset(self) -> float:
        return self.base_points - self.factor * math.log(self.base_odds)

    def score_from_log_odds(self, log_odds_bad: FloatArray | float) -> FloatArray:
        """ln(p / (1 − p)) of a bad outcome → points."""
        score: FloatArray = self.offset - self.factor * np.asarray(log_odds_bad, dtype=float)
        return score

    def score_from_odds(self, odds_good: float) -> float:
        """good:bad odds (50 means 50:1) → points."""
        return self.offset + self.factor * math.log(odds_good)

    def score_from_pd(self, pd_bad: FloatArray) -> FloatArray:
        p = np.clip(np.asarray(pd_bad, dtype=float), 1e-12, 1 - 1e-12)
        score: FloatArray = self.offset - self.factor * np.log(p / (1 - p))
        return score

    def pd_from_score(self, score: FloatArray | float) -> FloatArray:
        """The PD a score stands for: 1 / (1 + exp((score − offset) / factor))."""
        s = np.asarray(score, dtype=float)
        return 1.0 / (1.0 + np.exp((s - self.offset) / self.factor))


DEFAULT_SCALING = Scaling()

"""Discrimination, calibration and stability numbers for a PD model.

AUC, KS and Gini say how well a score ranks bad accounts above good ones; the calibration table
says whether predicted PDs match observed default rates; PSI and CSI say whether a population has
moved since development. The amber/red stability thresholds are data (`StabilityThresholds`), not
branches, so a lender can tune them.

Everything here takes plain arrays and returns floats or small records: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt
from sklearn.metrics import roc_auc_score, roc_curve

FloatArray = npt.NDArray[np.float64]

# A share of 0 in a PSI bin would make ln(actual/expected) infinite; every share is floored at this.
PSI_EPSILON = 1e-4


def auc(y: npt.ArrayLike, score: npt.ArrayLike) -> float:
    """Area under the ROC curve; `score` rises with the risk of `y == 1`."""
    return float(roc_auc_score(np.asarray(y), np.asarray(score, dtype=float)))


def gini(auc_value: float) -> float:
    """The accuracy ratio: 2·AUC − 1."""
    return 2.0 * auc_value - 1.0


def ks(y: npt.ArrayLike, score: npt.ArrayLike) -> float:
    """Kolmogorov–Smirnov: the largest gap between the cumulative shares of bads and goods."""
    fpr, tpr, _ = roc_curve(np.asarray(y), np.asarray(score, dtype=float))
    return float(np.max(tpr - fpr))


def ks_curve(y: npt.ArrayLike, score: npt.ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Thresholds and the cumulative shares of bads and goods at or above each (for the KS chart)."""
    fpr, tpr, thresholds = roc_curve(np.asarray(y), np.asarray(score, dtype=float))
    return thresholds[1:], tpr[1:], fpr[1:]


@dataclass(frozen=True, slots=True)
class CalibrationRow:
    group: int  # 1 = the lowest predicted PDs
    n: int
    predicted_pd: float  # mean predicted PD in the group
    observed_rate: float  # share of y == 1 in the group


def calibration_table(y: npt.ArrayLike, predicted: npt.ArrayLike, groups: int = 10) -> list[CalibrationRow]:
    """Rows sorted by predicted PD, cut into `groups` groups of (nearly) equal size (deciles by default)."""
    y_arr = np.asarray(y, dtype=float)
    p_arr = np.asarray(predicted, dtype=float)
    order = np.argsort(p_arr, kind="stable")
    rows = []
    for number, chunk in enumerate(np.array_split(order, groups), start=1):
        if len(chunk) == 0:
            continue
        rows.append(CalibrationRow(number, len(chunk), float(p_arr[chunk].mean()), float(y_arr[chunk].mean())))
    return rows


# ---------------------------------------------------------------- stability


class Stability(StrEnum):
    GREEN = "green"
    AMBER = "amber"
    RED = "red"


@dataclass(frozen=True, slots=True)
class StabilityThresholds:
    """PSI/CSI at or above `amber` needs a look; at or above `red` the model needs review."""

    amber: float = 0.10
    red: float = 0.25

    def rate(self, value: float) -> Stability:
        if value >= self.red:
            return Stability.RED
        if value >= self.amber:
            return Stability.AMBER
        return Stability.GREEN


DEFAULT_STABILITY = StabilityThresholds()


def psi_from_shares(expected: Sequence[float] | FloatArray, actual: Sequence[float] | FloatArray) -> float:
    """Σ (a − e)·ln(a / e) over bins, each share floored at PSI_EPSILON so empty bins stay finite."""
    e = np.maximum(np.asarray(expected, dtype=float), PSI_EPSILON)
    a = np.maximum(np.asarray(actual, dtype=float), PSI_EPSILON)
    assert e.shape == a.shape, "expected and actual need the same bins"
    return float(np.sum((a - e) * np.log(a / e)))


def _shares(counts: FloatArray) -> FloatArray:
    total = counts.sum()
    return counts / total if total > 0 else counts


def quantile_edges(expected: npt.ArrayLike, bins: int = 10) -> FloatArray:
    """Inner cut points at the quantiles of the development values (duplicates removed)."""
    values = np.asarray(expected, dtype=float)
    values = values[~np.isnan(values)]
    if len(values) == 0:
        return np.array([], dtype=float)
    inner = np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1])
    return np.unique(inner)


def bin_counts(values: npt.ArrayLike, edges: FloatArray) -> FloatArray:
    """Counts per bin `(-inf, e0), [e0, e1), …, [ek, inf)` plus a last bin for missing values."""
    arr = np.asarray(values, dtype=float)
    missing = np.isnan(arr)
    index = np.digitize(arr[~missing], edges, right=False)
    counts = np.bincount(index, minlength=len(edges) + 1).astype(float)
    return np.append(counts, float(missing.sum()))


def psi(expected: npt.ArrayLike, actual: npt.ArrayLike, bins: int = 10, edges: FloatArray | None = None) -> float:
    """Population stability index of a numeric score: development (`expected`) vs now (`actual`).

    Bins are the deciles of the development values unless `edges` are given; missing values get
    a bin of their own.
    """
    cut = quantile_edges(expected, bins) if edges is None else np.asarray(edges, dtype=float)
    return psi_from_shares(_shares(bin_counts(expected, cut)), _shares(bin_counts(actual, cut)))


def csi(expected_bins: npt.ArrayLike, actual_bins: npt.ArrayLike) -> float:
    """Characteristic stability index of one variable, given each row's bin label (any hashable)."""
    e = np.asarray(expected_bins)
    a = np.asarray(actual_bins)
    labels = np.unique(np.concatenate([e, a]))
    e_counts = np.array([np.sum(e == label) for label in labels], dtype=float)
    a_counts = np.array([np.sum(a == label) for label in labels], dtype=float)
    return psi_from_shares(_shares(e_counts), _shares(a_counts))

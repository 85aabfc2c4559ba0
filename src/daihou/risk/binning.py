"""Monotone WOE binning: optbinning finds the cut points, daihou keeps them as plain data.

`fit_binning` asks optbinning's `BinningProcess` for optimal bins per variable (numeric variables
under a monotone event-rate constraint, `auto_asc_desc`: ascending or descending, whichever gives
more information value). The result is turned into `BinnedVariable` records — cut points or
category groups, counts, weight of evidence (WOE) and information value (IV) — that assign bins
with NumPy alone, so a saved model scores without optbinning's transform semantics and the points
table can be read and tested.

WOE convention (Siddiqi; the same as optbinning): WOE = ln(share of goods / share of bads), so a
high WOE is a safe bin. Every variable has one extra bin at the end for missing values; values the
development sample never showed (an unseen category) fall into it too.
"""

from __future__ import annotations

import itertools
import logging
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

# optbinning pulls in cvxpy, whose optional HiGHS wheel (highspy) bundles a newer libhighs than the
# one inside ortools; both are `libhighs.so.1`. Loading ortools first keeps the CP-SAT solver that
# optbinning uses working; cvxpy then cannot load HiGHS (daihou never asks cvxpy for it) and says so
# on stderr at import. That one message is filtered, nothing else from cvxpy.
import ortools.sat.python.cp_model  # noqa: F401  (import order matters, see above)
import pandas as pd


class _QuietHighsImport(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "importing solver HIGHS" not in record.getMessage()


logging.getLogger("__cvxpy__").addFilter(_QuietHighsImport())

from optbinning import BinningProcess  # noqa: E402

MISSING_LABEL = "Missing"
Dtype = Literal["numerical", "categorical"]


@dataclass(frozen=True, slots=True)
class BinningParams:
    """Knobs for optbinning; the defaults are what the shipped models were measured with."""

    monotonic_trend: str = "auto_asc_desc"
    max_n_prebins: int = 20
    min_prebin_size: float = 0.05
    max_n_bins: int | None = None
    min_iv: float = 0.0  # variables below this information value are left out of the scorecard


@dataclass(frozen=True, slots=True)
class Bin:
    label: str
    count: int
    events: int  # rows with y == 1 (bads)
    woe: float

    @property
    def event_rate(self) -> float:
        return self.events / self.count if self.count else 0.0


@dataclass(frozen=True, slots=True)
class BinnedVariable:
    """One variable's bins. The last bin is always the missing bin."""

    name: str
    dtype: Dtype
    splits: tuple[float, ...]  # numerical: bins are (-inf, s0), [s0, s1), …, [sk, inf)
    groups: tuple[tuple[str, ...], ...]  # categorical: the categories of each bin
    bins: tuple[Bin, ...]
    iv: float

    @property
    def n_regular(self) -> int:
        """Bins before the missing bin."""
        return len(self.bins) - 1

    @property
    def missing_index(self) -> int:
        return len(self.bins) - 1

    @property
    def woes(self) -> npt.NDArray[np.float64]:
        return np.array([b.woe for b in self.bins], dtype=float)

    @property
    def trend(self) -> int:
        """+1 when the bad rate rises with the value over the regular bins, −1 when it falls, else 0.

        Categorical variables have no order of their own, so their trend is 0.
        """
        if self.dtype == "categorical":
            return 0
        rates = [b.event_rate for b in self.bins[: self.n_regular] if b.count]
        if len(rates) < 2 or rates[0] == rates[-1]:
            return 0
        steps = np.diff(rates)
        if np.all(steps >= 0):
            return 1
        if np.all(steps <= 0):
            return -1
        return 0

    def index(self, values: pd.Series | npt.ArrayLike) -> npt.NDArray[np.int64]:
        """The bin of every value: missing and never-seen values go to the missing bin."""
        series = pd.Series(values) if not isinstance(values, pd.Series) else values
        if self.dtype == "numerical":
            numbers = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
            out: npt.NDArray[np.int64] = np.digitize(numbers, np.asarray(self.splits, dtype=float)).astype(np.int64)
            out[np.isnan(numbers)] = self.missing_index
            return out
        lookup = {category: i for i, group in enumerate(self.groups) for category in group}
        mapped: npt.NDArray[np.int64] = category_text(series).map(lookup).fillna(self.missing_index).to_numpy(np.int64)
        return mapped


def _text(value: Any) -> str | None:
    if value is None or value is pd.NA or (isinstance(value, float | np.floating) and math.isnan(value)):
        return None
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer) or (isinstance(value, float | np.floating) and float(value).is_integer()):
        return str(int(value))
    return str(value)


def category_text(series: pd.Series) -> pd.Series:
    """Categories as text (missing stays missing), the same whether a CSV column came back as int or float."""
    return series.astype(object).map(_text)


def woe_of(count: int, events: int, total_goods: int, total_bads: int) -> float:
    """ln(share of goods / share of bads) with ½ added to both counts so pure bins stay finite.

    An empty bin (the missing bin when no value was missing) gets 0: the population's own odds.
    """
    if count == 0 or total_goods == 0 or total_bads == 0:
        return 0.0
    goods = count - events
    return math.log(((goods + 0.5) / total_goods) / ((events + 0.5) / total_bads))


def _bins(
    index: npt.NDArray[np.int64], y: npt.NDArray[np.int64], labels: Sequence[str]
) -> tuple[tuple[Bin, ...], float]:
    n = len(labels)
    counts = np.bincount(index, minlength=n)
    events = np.bincount(index, weights=y, minlength=n).astype(np.int64)
    total_bads = int(y.sum())
    total_goods = len(y) - total_bads
    bins = tuple(
        Bin(label, int(c), int(e), woe_of(int(c), int(e), total_goods, total_bads))
        for label, c, e in zip(labels, counts, events, strict=True)
    )
    iv = 0.0
    for b in bins:
        if b.count:
            good_share = (b.count - b.events) / total_goods if total_goods else 0.0
            bad_share = b.events / total_bads if total_bads else 0.0
            iv += (good_share - bad_share) * b.woe
    return bins, iv


def _interval_labels(splits: Sequence[float]) -> list[str]:
    edges = [-math.inf, *splits, math.inf]
    return [f"[{lo:.6g}, {hi:.6g})" if lo > -math.inf else f"(-inf, {hi:.6g})" for lo, hi in itertools.pairwise(edges)]


def _group_label(group: Sequence[str]) -> str:
    shown = ", ".join(group[:6])
    return f"{{{shown}{', …' if len(group) > 6 else ''}}}"


def _variable(name: str, dtype: Dtype, optimal: Any, x: pd.Series, y: npt.NDArray[np.int64]) -> BinnedVariable:
    if dtype == "numerical":
        splits = tuple(float(s) for s in np.asarray(optimal.splits, dtype=float))
        labels = _interval_labels(splits)
        groups: tuple[tuple[str, ...], ...] = ()
    else:
        splits = ()
        groups = tuple(tuple(str(c) for c in group) for group in optimal.splits)
        labels = [_group_label(g) for g in groups]
    all_labels = [*labels, MISSING_LABEL]
    unfitted = BinnedVariable(name, dtype, splits, groups, tuple(Bin(label, 0, 0, 0.0) for label in all_labels), 0.0)
    bins, iv = _bins(unfitted.index(x), y, all_labels)
    return BinnedVariable(name, dtype, splits, groups, bins, iv)


def fit_binning(
    x: pd.DataFrame,
    y: npt.ArrayLike,
    categorical: Sequence[str] = (),
    params: BinningParams | None = None,
) -> tuple[BinnedVariable, ...]:
    """Optimal bins for every column of `x` (in column order), fitted on the development sample."""
    params = params or BinningParams()
    target = np.asarray(y, dtype=np.int64)
    names = [str(c) for c in x.columns]
    cats = [c for c in names if c in set(categorical)]
    fit_params: Mapping[str, dict[str, Any]] = {
        name: {"monotonic_trend": params.monotonic_trend} for name in names if name not in cats
    }
    process = BinningProcess(
        names,
        categorical_variables=cats or None,
        max_n_prebins=params.max_n_prebins,
        min_prebin_size=params.min_prebin_size,
        max_n_bins=params.max_n_bins,
        binning_fit_params=dict(fit_params),
    )
    frame = x.copy()
    for name in cats:
        frame[name] = category_text(frame[name]).fillna(np.nan)
    with warnings.catch_warnings():
        # optbinning 1.0 appends a "Totals" row of mixed types to a float frame; pandas 3 warns, nothing breaks
        warnings.filterwarnings("ignore", message="Setting an item of incompatible dtype", category=DeprecationWarning)
        process.fit(frame, target)
    return tuple(
        _variable(
            name, "categorical" if name in cats else "numerical", process.get_binned_variable(name), x[name], target
        )
        for name in names
    )


def woe_matrix(variables: Sequence[BinnedVariable], x: pd.DataFrame) -> npt.NDArray[np.float64]:
    """Each row's WOE per variable (columns in the order of `variables`)."""
    return np.column_stack([v.woes[v.index(x[v.name])] for v in variables]) if variables else np.empty((len(x), 0))


def index_matrix(variables: Sequence[BinnedVariable], x: pd.DataFrame) -> npt.NDArray[np.int64]:
    """Each row's bin index per variable (columns in the order of `variables`)."""
    if not variables:
        return np.empty((len(x), 0), dtype=np.int64)
    return np.column_stack([v.index(x[v.name]) for v in variables])

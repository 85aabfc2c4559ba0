"""Generic training: any CSV with a 0/1 target → a fitted PD model and its hold-out evaluation.

The steps, each a small function so a test can run one alone:

1. `read_table` reads the CSV (UTF-8, a BOM is fine; `NA` and empty cells are missing).
2. `prepare` checks the target (0/1 only, both classes present), drops the id columns the caller
   names, pandas' `Unnamed: N` index columns, empty and constant columns, turns text that is really
   numbers ("12.5%", "1,200") into numbers, and decides which columns are categorical: text
   columns, and integer columns with at most `code_max_values` distinct values (status codes such
   as PAY_0 or EDUCATION, whose bad rate need not be monotone in the code).
3. `split`: stratified on the target, `test_size` (30 %) held out, seeded.
4. `fit_model`: monotone WOE binning on the training sample, then the scorecard or the LightGBM
   challenger (whose early stopping uses an inner split of the training sample only).
5. `evaluate`: AUC, KS, Gini on the hold-out sample, plus what the model card needs.

Rejections (bad target, unknown column) are `DataError`s with a code and a message naming the
column, for the CLI to print.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.model_selection import train_test_split

from daihou.risk.binning import BinnedVariable, BinningParams, fit_binning
from daihou.risk.card import Evaluation, model_card, variable_csi
from daihou.risk.lgbm import LgbmParams, fit_lgbm
from daihou.risk.model import PdModel
from daihou.risk.scaling import DEFAULT_SCALING, Scaling
from daihou.risk.scorecard import fit_scorecard

KINDS = ("scorecard", "lgbm")
_UNNAMED = re.compile(r"^Unnamed: \d+$")
_NUMBER_TEXT = re.compile(r"^\s*[-+]?(\d{1,3}(,\d{3})+|\d+)?(\.\d+)?\s*%?\s*$")
MIN_CLASS_ROWS = 10  # each class needs at least this many rows for a stratified split and a fit


class DataError(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class TrainSpec:
    target: str
    kind: str = "scorecard"
    seed: int = 42
    id_columns: tuple[str, ...] = ()
    test_size: float = 0.3
    code_max_values: int = 12
    binning: BinningParams = field(default_factory=BinningParams)
    lgbm: LgbmParams = field(default_factory=LgbmParams)
    scaling: Scaling = DEFAULT_SCALING


@dataclass(frozen=True)
class Prepared:
    x: pd.DataFrame
    y: npt.NDArray[np.int64]
    categorical: tuple[str, ...]
    dropped: tuple[tuple[str, str], ...]  # (column, reason)
    rows_without_target: int


@dataclass(frozen=True)
class Split:
    x_train: pd.DataFrame
    y_train: npt.NDArray[np.int64]
    x_test: pd.DataFrame
    y_test: npt.NDArray[np.int64]


def read_table(path: Path | str) -> pd.DataFrame:
    return pd.read_csv(path, encoding="utf-8-sig", low_memory=False)


def _binary_target(column: pd.Series, name: str) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    present = column.notna().to_numpy()
    values = column[present]
    if pd.api.types.is_bool_dtype(values):
        numbers = values.astype(int)
    else:
        numbers = pd.to_numeric(values.astype(str).str.strip(), errors="coerce")
    bad = ~numbers.isin([0, 1])
    if bad.any():
        examples = ", ".join(repr(v) for v in values[bad.to_numpy()].unique()[:3])
        raise DataError("target_not_binary", f"target column {name!r} must hold 0 or 1 only; found {examples}")
    return numbers.to_numpy(dtype=np.int64), present


def _as_numbers(column: pd.Series) -> pd.Series | None:
    """Text that is really numbers ("12.5%", "1,200") as floats; None when it is not."""
    text = column.dropna().astype(str)
    if text.empty or not text.str.match(_NUMBER_TEXT).all():
        return None
    cleaned = column.astype("string").str.replace(",", "", regex=False).str.replace("%", "", regex=False).str.strip()
    return pd.to_numeric(cleaned, errors="coerce").astype(float)


def prepare(frame: pd.DataFrame, spec: TrainSpec) -> Prepared:
    if spec.target not in frame.columns:
        raise DataError(
            "unknown_target", f"no column {spec.target!r}; the columns are {', '.join(map(str, frame.columns))}"
        )
    unknown = [c for c in spec.id_columns if c not in frame.columns]
    if unknown:
        raise DataError("unknown_column", f"id column(s) not in the file: {', '.join(unknown)}")
    y, present = _binary_target(frame[spec.target], spec.target)
    for outcome in (0, 1):
        if int(np.sum(y == outcome)) < MIN_CLASS_ROWS:
            raise DataError(
                "too_few_rows", f"target {spec.target!r} has fewer than {MIN_CLASS_ROWS} rows equal to {outcome}"
            )
    data = frame.loc[present].drop(columns=[spec.target, *spec.id_columns]).reset_index(drop=True)
    dropped: list[tuple[str, str]] = [(c, "id_column") for c in spec.id_columns]
    columns: dict[str, pd.Series] = {}
    categorical: list[str] = []
    for label in map(str, data.columns):
        column = data[label]
        if _UNNAMED.match(label):
            dropped.append((label, "unnamed_index"))
            continue
        if column.notna().sum() == 0:
            dropped.append((label, "empty"))
            continue
        if column.nunique(dropna=True) < 2 and not column.isna().any():
            dropped.append((label, "constant"))
            continue
        if not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            numbers = _as_numbers(column)
            if numbers is not None:
                column = numbers
            else:
                categorical.append(label)
        elif _is_code(column, spec.code_max_values):
            categorical.append(label)
        columns[label] = column
    if not columns:
        raise DataError("no_features", "no usable column is left besides the target and the id columns")
    return Prepared(pd.DataFrame(columns), y, tuple(categorical), tuple(dropped), int((~present).sum()))


def _is_code(column: pd.Series, max_values: int) -> bool:
    values = column.dropna()
    if max_values <= 0 or values.nunique() > max_values:
        return False
    return bool(np.all(np.asarray(values, dtype=float) == np.round(np.asarray(values, dtype=float))))


def split(prepared: Prepared, spec: TrainSpec) -> Split:
    x_train, x_test, y_train, y_test = train_test_split(
        prepared.x, prepared.y, test_size=spec.test_size, stratify=prepared.y, random_state=spec.seed
    )
    return Split(x_train, np.asarray(y_train), x_test, np.asarray(y_test))


def fit_model(
    data: Split, categorical: tuple[str, ...], spec: TrainSpec, binning: Sequence[BinnedVariable] | None = None
) -> PdModel:
    """Bin the training sample (unless `binning` of that same sample is passed in) and fit `spec.kind`."""
    if spec.kind not in KINDS:
        raise DataError("unknown_kind", f"unknown model kind {spec.kind!r}; use one of {', '.join(KINDS)}")
    if binning is None:
        binning = fit_binning(data.x_train, data.y_train, categorical, spec.binning)
    if spec.kind == "scorecard":
        return fit_scorecard(data.x_train, data.y_train, binning, spec.scaling, min_iv=spec.binning.min_iv)
    return fit_lgbm(data.x_train, data.y_train, binning, spec.seed, spec.lgbm, spec.scaling)


@dataclass(frozen=True)
class TrainResult:
    model: PdModel
    evaluation: Evaluation
    card: dict[str, Any]
    prepared: Prepared

    @property
    def metrics(self) -> dict[str, Any]:
        """The hold-out figures of `daihou model train --json`."""
        return {**self.card["metrics"], "score_psi": self.card["stability"]["score_psi"]}


def evaluate(model: PdModel, data: Split) -> Evaluation:
    pd_train = model.predict_pd(data.x_train)
    pd_test = model.predict_pd(data.x_test)
    return Evaluation(
        data.y_train,
        pd_train,
        model.scaling.score_from_pd(pd_train),
        data.y_test,
        pd_test,
        model.scaling.score_from_pd(pd_test),
        variable_csi(model, data.x_train, data.x_test),
    )


def train(frame: pd.DataFrame, spec: TrainSpec) -> TrainResult:
    """The whole path from a table to a fitted, evaluated model with its card."""
    prepared = prepare(frame, spec)
    return train_prepared(prepared, split(prepared, spec), spec)


def train_prepared(
    prepared: Prepared, data: Split, spec: TrainSpec, binning: Sequence[BinnedVariable] | None = None
) -> TrainResult:
    """Fit, evaluate and describe on a split already made (tests share one split between both kinds)."""
    model = fit_model(data, prepared.categorical, spec, binning)
    ev = evaluate(model, data)
    about = {
        "target": spec.target,
        "split": {"method": "stratified", "test_size": spec.test_size, "seed": spec.seed},
        "categorical_columns": list(prepared.categorical),
        "dropped_columns": [{"column": c, "reason": r} for c, r in prepared.dropped],
        "rows_without_target": prepared.rows_without_target,
    }
    return TrainResult(model, ev, model_card(model, ev, about), prepared)

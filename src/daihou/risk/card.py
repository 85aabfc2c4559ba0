"""The model card: what a validator reads before a model is used, as JSON and four PNG charts.

`model_card` gathers the hold-out discrimination (AUC, KS, Gini), the decile calibration table,
stability of the score and of every variable between the development (training) and validation
(hold-out) samples (PSI, CSI, rated with `StabilityThresholds`), information value per variable,
and — for a scorecard — the points table. `write_charts` draws ROC, KS, calibration and score
distribution with matplotlib's Agg renderer (no display needed; `Figure` is used directly, so no
global pyplot state is touched).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from matplotlib.figure import Figure
from sklearn.metrics import roc_curve

from daihou.risk.metrics import (
    DEFAULT_STABILITY,
    CalibrationRow,
    StabilityThresholds,
    auc,
    bin_counts,
    calibration_table,
    csi,
    gini,
    ks,
    ks_curve,
    psi,
    quantile_edges,
)
from daihou.risk.model import PdModel

FloatArray = npt.NDArray[np.float64]
CHARTS = ("roc.png", "ks.png", "calibration.png", "score_distribution.png")


@dataclass(frozen=True)
class Evaluation:
    """A model's predictions on both samples: everything the card and the charts are made from."""

    y_train: npt.NDArray[np.int64]
    pd_train: FloatArray
    score_train: FloatArray
    y_test: npt.NDArray[np.int64]
    pd_test: FloatArray
    score_test: FloatArray
    csi: dict[str, float]  # variable → CSI development vs validation


def _r(value: float) -> float:
    return round(float(value), 6)


def headline(ev: Evaluation) -> dict[str, Any]:
    """AUC, KS and Gini on the hold-out sample (the figures `daihou model train --json` prints)."""
    a = auc(ev.y_test, ev.pd_test)
    return {
        "auc": _r(a),
        "ks": _r(ks(ev.y_test, ev.pd_test)),
        "gini": _r(gini(a)),
        "n_train": len(ev.y_train),
        "n_test": len(ev.y_test),
        "base_rate_train": _r(ev.y_train.mean()),
        "base_rate_test": _r(ev.y_test.mean()),
        "auc_train": _r(auc(ev.y_train, ev.pd_train)),
    }


def model_card(
    model: PdModel, ev: Evaluation, about: dict[str, Any], thresholds: StabilityThresholds = DEFAULT_STABILITY
) -> dict[str, Any]:
    """The card as a JSON-ready dict. `about` carries the training spec (target, seed, split …)."""
    edges = quantile_edges(ev.score_train)
    score_psi = psi(ev.score_train, ev.score_test, edges=edges)
    development_counts = bin_counts(ev.score_train, edges)
    card: dict[str, Any] = {
        "kind": model.kind,
        **about,
        "metrics": headline(ev),
        "calibration": [_row(r) for r in calibration_table(ev.y_test, ev.pd_test)],
        "stability": {
            "thresholds": asdict(thresholds),
            "score_psi": _r(score_psi),
            "score_psi_rating": thresholds.rate(score_psi).value,
            "csi": {name: {"csi": _r(v), "rating": thresholds.rate(v).value} for name, v in ev.csi.items()},
            # the development score deciles, kept so `daihou model score` can compute PSI on new files
            "development_score": {
                "edges": [_r(e) for e in edges],
                "shares": [_r(c / max(development_counts.sum(), 1)) for c in development_counts],
            },
        },
        "information_value": {v.name: _r(v.iv) for v in sorted(model.binning, key=lambda v: -v.iv)},
        "features": list(model.features),
        "scaling": {
            "base_points": model.scaling.base_points,
            "base_odds": model.scaling.base_odds,
            "pdo": model.scaling.pdo,
            "factor": _r(model.scaling.factor),
            "offset": _r(model.scaling.offset),
        },
        "charts": list(CHARTS),
    }
    card.update(_specifics(model))
    return card


def _row(r: CalibrationRow) -> dict[str, Any]:
    return {"group": r.group, "n": r.n, "predicted_pd": _r(r.predicted_pd), "observed_rate": _r(r.observed_rate)}


def _specifics(model: Any) -> dict[str, Any]:
    if model.kind == "scorecard":
        woe = {v.name: v for v in model.variables}
        return {
            "dropped_variables": [{"variable": d.name, "reason": d.reason} for d in model.dropped],
            "intercept": _r(model.intercept),
            "coefficients": {v.name: _r(c) for v, c in zip(model.variables, model.coefficients, strict=True)},
            "points_table": [
                {
                    "variable": t.name,
                    "bins": [
                        {
                            "bin": b.label,
                            "count": b.count,
                            "event_rate": _r(b.event_rate),
                            "woe": _r(b.woe),
                            "points": round(p, 2),
                        }
                        for b, p in zip(woe[t.name].bins, t.points, strict=True)
                    ],
                }
                for t in model.table
            ],
        }
    return {
        "monotone_constraints": dict(zip(model.features, model.constraints, strict=True)),
        "rounds": model.rounds,
        "early_stopping_best_iteration": model.stopped_at,
        "params": {k: v for k, v in model.params.items() if k != "monotone_constraints"},
    }


def variable_csi(model: PdModel, x_train: Any, x_test: Any) -> dict[str, float]:
    """CSI of every candidate variable over its development bins."""
    return {v.name: csi(v.index(x_train[v.name]), v.index(x_test[v.name])) for v in model.binning}


# ---------------------------------------------------------------- charts


def write_charts(folder: Path, ev: Evaluation) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    drawn = [_roc(ev), _ks(ev), _calibration(ev), _distribution(ev)]
    paths = []
    for name, fig in zip(CHARTS, drawn, strict=True):
        path = folder / name
        fig.savefig(path, dpi=100, format="png")
        paths.append(path)
    return paths


def _figure(title: str) -> tuple[Figure, Any]:
    fig = Figure(figsize=(6, 4.5), layout="tight")
    ax = fig.subplots()
    ax.set_title(title)
    ax.grid(alpha=0.3)
    return fig, ax


def _roc(ev: Evaluation) -> Figure:
    fpr, tpr, _ = roc_curve(ev.y_test, ev.pd_test)
    fig, ax = _figure(f"ROC (hold-out) — AUC {auc(ev.y_test, ev.pd_test):.4f}")
    ax.plot(fpr, tpr, label="model")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="random")
    ax.set_xlabel("false positive rate (goods)")
    ax.set_ylabel("true positive rate (bads)")
    ax.legend(loc="lower right")
    return fig


def _ks(ev: Evaluation) -> Figure:
    _, bads, goods = ks_curve(ev.y_test, ev.pd_test)
    gap = bads - goods
    at = int(np.argmax(gap))
    fig, ax = _figure(f"KS (hold-out) — {gap[at]:.4f}")
    n_bad = int(ev.y_test.sum())
    n_good = len(ev.y_test) - n_bad
    share = (bads * n_bad + goods * n_good) / max(len(ev.y_test), 1)  # rows at or above each threshold
    ax.plot(share, bads, label="cumulative bads")
    ax.plot(share, goods, label="cumulative goods")
    ax.vlines(share[at], goods[at], bads[at], colors="red", label="KS")
    ax.set_xlabel("share of accounts, riskiest first")
    ax.set_ylabel("cumulative share")
    ax.legend(loc="lower right")
    return fig


def _calibration(ev: Evaluation) -> Figure:
    rows = calibration_table(ev.y_test, ev.pd_test)
    fig, ax = _figure("Calibration by decile (hold-out)")
    predicted = [r.predicted_pd for r in rows]
    observed = [r.observed_rate for r in rows]
    top = max([*predicted, *observed, 0.01])
    ax.plot([0, top], [0, top], linestyle="--", color="grey", label="perfect")
    ax.plot(predicted, observed, marker="o", label="deciles")
    ax.set_xlabel("mean predicted PD")
    ax.set_ylabel("observed bad rate")
    ax.legend(loc="upper left")
    return fig


def _distribution(ev: Evaluation) -> Figure:
    fig, ax = _figure("Score distribution: development vs validation")
    both = np.concatenate([ev.score_train, ev.score_test])
    edges: Sequence[float] = np.histogram_bin_edges(both[np.isfinite(both)], bins=40).tolist()
    ax.hist(ev.score_train, bins=edges, density=True, alpha=0.5, label="development (train)")
    ax.hist(ev.score_test, bins=edges, density=True, alpha=0.5, label="validation (hold-out)")
    ax.set_xlabel("score (points)")
    ax.set_ylabel("density")
    ax.legend(loc="upper left")
    return fig

"""Scoring a file with a saved model: PD, points, reason codes, and the PSI against development."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from daihou.risk.metrics import DEFAULT_STABILITY, StabilityThresholds, bin_counts, psi_from_shares
from daihou.risk.model import REASON_CODES, PdModel


class ScoringError(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def score_table(
    model: PdModel,
    frame: pd.DataFrame,
    id_columns: Sequence[str],
    card: dict[str, Any],
    thresholds: StabilityThresholds = DEFAULT_STABILITY,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """One output row per input row: the id columns present, `pd`, `score`, `points_<variable>`
    (scorecards), `reason_1` … `reason_3`; and a summary with the score PSI against development."""
    missing = [f for f in model.features if f not in frame.columns]
    if missing:
        raise ScoringError("missing_columns", f"the file lacks the model's column(s): {', '.join(missing)}")
    scored = model.score(frame)
    out = pd.DataFrame({c: frame[c] for c in id_columns if c in frame.columns}, index=frame.index)
    out["pd"] = np.round(scored.pd, 6)
    out["score"] = np.round(scored.score, 1)
    if scored.points is not None:
        for name in scored.points.columns:
            out[f"points_{name}"] = np.round(scored.points[name].to_numpy(dtype=float), 2)
    for k in range(REASON_CODES):
        out[f"reason_{k + 1}"] = [r[k] if len(r) > k else "" for r in scored.reasons]
    development = card["stability"]["development_score"]
    counts = bin_counts(scored.score, np.asarray(development["edges"], dtype=float))
    value = psi_from_shares(development["shares"], counts / max(counts.sum(), 1))
    summary = {
        "rows": len(out),
        "mean_pd": round(float(np.mean(scored.pd)) if len(out) else 0.0, 6),
        "score_psi": round(value, 6),
        "score_psi_rating": thresholds.rate(value).value,
    }
    return out, summary

"""Scoring the book inside the close of business, and monitoring the scores it writes.

`score_book(app, day)` is an after-close step: for every model role in the scoring policy with a
deployed model (`daihou model deploy`) whose cadence falls on `day`, it reads every open loan's
behaviour at the close (`SqlScoreStore.behaviour`), turns it into the model's features
(`daihou.risk.behaviour`) and writes one `loan_scores` row per loan (score points and PD). A rerun
of the day replaces that day's rows.

`monitor(app, role, day)` compares the day's scored population with the model's development sample
without labels: the score PSI and each feature's CSI, rated green / amber / red at the policy's
thresholds (0.10 and 0.25 by default).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date, timedelta
from importlib import resources
from typing import TYPE_CHECKING, Any

import numpy as np

from daihou.risk import behaviour, collection
from daihou.risk.metrics import bin_counts, psi_from_shares
from daihou.risk.registry import Registry

if TYPE_CHECKING:
    from daihou.bootstrap import App


@dataclass(frozen=True)
class RolePolicy:
    role: str
    features: str
    cadence: str
    psi_amber: float
    psi_red: float

    def rate(self, value: float) -> str:
        return "red" if value >= self.psi_red else "amber" if value >= self.psi_amber else "green"


FEATURE_SETS = {"behaviour": behaviour, "collection": collection}
CADENCES = ("month_end", "daily")


def load_policy() -> tuple[RolePolicy, ...]:
    text = resources.files("daihou.workflow").joinpath("scoring_policy.toml").read_text(encoding="utf-8")
    roles = []
    for i, row in enumerate(tomllib.loads(text)["roles"], start=1):
        policy = RolePolicy(row["role"], row["features"], row["cadence"], row["psi_amber"], row["psi_red"])
        if policy.features not in FEATURE_SETS or policy.cadence not in CADENCES:
            raise ValueError(
                f"scoring policy role {i}: unknown features {policy.features!r} or cadence {policy.cadence!r}"
            )
        roles.append(policy)
    return tuple(roles)


def _store(app: App) -> Any:
    from daihou.storage.score_store import SqlScoreStore

    return SqlScoreStore(app.engine, app.settings.data_dir)


def _due(policy: RolePolicy, last: date | None, day: date, deployed_at: str) -> bool:
    from daihou.storage.score_store import is_month_end

    if policy.cadence == "daily" or last is None or is_month_end(day):
        return True
    return last.isoformat() < deployed_at[:10]  # a new deployment scores at its first close


def book_features(app: App, day: date, features: str = "behaviour") -> Any:
    """Every open loan's features at the close of `day` (a DataFrame indexed by loan id)."""
    return FEATURE_SETS[features].finish(_store(app).behaviour(day))


def training_frame(app: App, day: date, features: str) -> Any:
    """Features at the close of `day` with their label, for training on the book's own history.

    Behaviour (B卡): labels need the 12 months after `day` — `bad` = ever 90+ DPD in them, read from
    the month-end snapshots. Collection (C卡): `bad` = paid less than was past due in the 30 days
    after `day`. A label is only given once its window has passed (before today)."""
    days = collection.LABEL_DAYS if features == "collection" else 365
    end = day + timedelta(days=days)
    if end >= app.today():
        raise ValueError(f"the label window ends on {end}, not yet past: choose an earlier date")
    store = _store(app)
    raw = store.behaviour(day)
    if features == "collection":
        frame = collection.finish(raw)
        frame[collection.TARGET] = collection.label(raw, store.paid_between(day, end))
        return frame
    frame = behaviour.finish(raw)
    worst = store.worst_dpd_between(day, end)
    frame[behaviour.TARGET] = (worst.reindex(frame.index).fillna(0) >= behaviour.BAD_DPD).astype("int64")
    return frame


def score_book(app: App, day: date, force: bool = False) -> dict[str, int]:
    """After-close step: score every open loan with each deployed role whose cadence falls on `day`."""
    registry = Registry(app.settings.data_dir)
    store = _store(app)
    counts: dict[str, int] = {}
    for policy in load_policy():
        deployment = registry.deployed(policy.role)
        if deployment is None:
            continue
        if not force and not _due(policy, store.last_scored(policy.role), day, deployment.at):
            continue
        model = registry.load_model(deployment.name, deployment.version)
        features = book_features(app, day, policy.features)
        scored = model.score(features[list(model.features)])
        counts[f"scored_{policy.role}"] = store.write(
            policy.role, deployment.name, deployment.version, day, features.index.to_numpy(), scored.score, scored.pd
        )
    return counts


def monitor(app: App, role: str, day: date) -> dict[str, Any]:
    """Score PSI and feature CSI of `day`'s scored population against the model's development sample."""
    policy = next((p for p in load_policy() if p.role == role), None)
    if policy is None:
        raise LookupError(f"no scoring policy for role {role!r}")
    registry = Registry(app.settings.data_dir)
    deployment = registry.deployed(role)
    if deployment is None:
        raise LookupError(f"no model deployed as {role!r}: run `daihou model deploy`")
    store = _store(app)
    scores = store.scores(role, day)
    if scores.empty:
        raise LookupError(f"{deployment.name} has no scores for {day}: the close of business scores on its cadence")
    model = registry.load_model(deployment.name, deployment.version)
    card = registry.card(deployment.name, deployment.version)
    development = card["stability"]["development_score"]
    counts = bin_counts(scores["score"].to_numpy(dtype=float), np.asarray(development["edges"], dtype=float))
    score_psi = psi_from_shares(development["shares"], counts / max(counts.sum(), 1))
    features = book_features(app, day, policy.features).loc[scores["loan_id"]]
    csi: dict[str, dict[str, Any]] = {}
    for variable in model.binning:
        if variable.name not in features.columns:
            continue
        expected = np.array([b.count for b in variable.bins], dtype=float)
        actual = np.bincount(variable.index(features[variable.name]), minlength=len(expected)).astype(float)
        value = psi_from_shares(expected / max(expected.sum(), 1), actual / max(actual.sum(), 1))
        csi[variable.name] = {"csi": round(value, 6), "rating": policy.rate(value)}
    worst = max([score_psi, *(c["csi"] for c in csi.values())])
    return {
        "role": role,
        "model": deployment.name,
        "version": deployment.version,
        "business_date": day.isoformat(),
        "loans": len(scores),
        "mean_pd": round(float(scores["pd"].mean()), 6),
        "score_psi": round(score_psi, 6),
        "score_psi_rating": policy.rate(score_psi),
        "csi": csi,
        "warning": policy.rate(worst),
    }

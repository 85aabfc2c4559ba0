"""Collection agencies (委外): evaluations, placement rules and commission, as data. Pure: no I/O.

- An agency may receive a new placement only with a **current evaluation** on the placement date
  (evaluated on or before it, valid until on or after it; DESIGN.md §5 "evaluated at least yearly;
  no new placements without a current evaluation") and a score at or above the minimum.
- **Commission** is computed on the money recovered on the loan while the placement was active
  (placed on ≤ value date ≤ recalled on, or the as-of date while still placed), by the stage the loan
  was in when placed (its DPD bucket) and marginal amount bands: each band's rate applies to the part
  of the recovered amount inside the band; rounded half-up to the fen once, at the end.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from daihou.domain.money import Money, div_round, rate_ppm

NO_EVALUATION = "agency_not_evaluated"
EVALUATION_EXPIRED = "agency_evaluation_expired"
SCORE_TOO_LOW = "agency_score_too_low"
AGENCY_INACTIVE = "agency_inactive"


@dataclass(frozen=True, slots=True)
class Evaluation:
    score: int
    evaluated_on: date
    valid_until: date


@dataclass(frozen=True, slots=True)
class Band:
    up_to_fen: int | None  # the band ends here (None: no end)
    rate: Decimal
    ppm: int = field(init=False, compare=False)  # the rate in millionths, computed once

    def __post_init__(self) -> None:
        object.__setattr__(self, "ppm", rate_ppm(self.rate))


@dataclass(frozen=True, slots=True)
class CommissionRules:
    effective: date
    min_score: int
    evaluation_valid_days: int  # default validity of a new evaluation
    placement_days: int  # default length of a placement before recall
    stages: Mapping[str, tuple[Band, ...]]  # by DPD bucket; "*" is the fallback

    def bands(self, stage: str) -> tuple[Band, ...]:
        return self.stages.get(stage) or self.stages.get("*", ())


@dataclass(frozen=True, slots=True)
class PlacementRefusal:
    code: str
    message: str


def may_place(
    evaluations: Sequence[Evaluation], on: date, rules: CommissionRules, active: bool = True
) -> PlacementRefusal | None:
    """Why an agency may not receive a placement on `on`; None when it may."""
    if not active:
        return PlacementRefusal(AGENCY_INACTIVE, "the agency is not active")
    started = [e for e in evaluations if e.evaluated_on <= on]
    if not started:
        return PlacementRefusal(NO_EVALUATION, "the agency has no evaluation: evaluate it before placing loans")
    latest = max(started, key=lambda e: (e.evaluated_on, e.valid_until))
    if latest.valid_until < on:
        return PlacementRefusal(
            EVALUATION_EXPIRED,
            f"the agency's evaluation of {latest.evaluated_on} expired on {latest.valid_until}: evaluate it again",
        )
    if latest.score < rules.min_score:
        return PlacementRefusal(
            SCORE_TOO_LOW,
            f"the agency scored {latest.score} on {latest.evaluated_on}; at least {rules.min_score} needed",
        )
    return None


def commission_fen(recovered_fen: int, stage: str, rules: CommissionRules) -> int:
    """Commission on `recovered_fen` recovered during a placement made at `stage` (marginal bands)."""
    if recovered_fen <= 0:
        return 0
    total_ppm_fen, lower = 0, 0
    for band in rules.bands(stage):
        up_to = band.up_to_fen
        upper = recovered_fen if up_to is None else min(recovered_fen, up_to)
        if upper > lower:
            total_ppm_fen += (upper - lower) * band.ppm
        if up_to is None or up_to >= recovered_fen:
            break
        lower = up_to
    return div_round(total_ppm_fen, 1_000_000)


def commission_rules_from_dict(data: Mapping[str, Any]) -> CommissionRules:
    """Parse the TOML form; a ValueError names the stage, the band and the field."""
    effective = data.get("effective")
    if not isinstance(effective, date):
        raise ValueError("effective: a date (YYYY-MM-DD) is required")
    stages: dict[str, tuple[Band, ...]] = {}
    for stage, raw_bands in dict(data.get("stage", {})).items():
        bands: list[Band] = []
        last = 0
        for n, raw in enumerate(raw_bands):
            where = f"stage.{stage}[{n}]"
            up_to = Money.yuan(str(raw["up_to"])).fen if "up_to" in raw else None
            rate = Decimal(str(raw["rate"]))
            if not Decimal(0) <= rate <= Decimal(1):
                raise ValueError(f"{where}.rate: between 0 and 1")
            if up_to is not None and up_to <= last:
                raise ValueError(f"{where}.up_to: bands must rise")
            if bands and bands[-1].up_to_fen is None:
                raise ValueError(f"{where}: a band after the open-ended band")
            bands.append(Band(up_to, rate))
            last = up_to or last
        stages[str(stage)] = tuple(bands)
    return CommissionRules(
        effective,
        int(data.get("min_score", 60)),
        int(data.get("evaluation_valid_days", 365)),
        int(data.get("placement_days", 90)),
        stages,
    )

"""Aging buckets, five-category classification floors, IFRS 9 stages and provision rates, as data.

The same tables drive these scalar functions and the columnar batch; neither hard-codes 90.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any

from daihou.domain.money import round_fen


class Grade(StrEnum):
    NORMAL = "normal"  # 正常
    SPECIAL_MENTION = "special_mention"  # 关注
    SUBSTANDARD = "substandard"  # 次级
    DOUBTFUL = "doubtful"  # 可疑
    LOSS = "loss"  # 损失

    @property
    def rank(self) -> int:
        return list(Grade).index(self)

    @property
    def non_performing(self) -> bool:
        return self.rank >= Grade.SUBSTANDARD.rank


GRADE_LABELS_ZH = {
    Grade.NORMAL: "正常",
    Grade.SPECIAL_MENTION: "关注",
    Grade.SUBSTANDARD: "次级",
    Grade.DOUBTFUL: "可疑",
    Grade.LOSS: "损失",
}


@dataclass(frozen=True, slots=True)
class Bucket:
    name: str
    dpd_from: int  # inclusive


DEFAULT_BUCKETS: tuple[Bucket, ...] = (
    Bucket("M0", 0),
    Bucket("M1", 1),
    Bucket("M2", 31),
    Bucket("M3", 61),
    Bucket("M4", 91),
    Bucket("M5", 121),
    Bucket("M6", 151),
    Bucket("M7+", 181),
)


@dataclass(frozen=True, slots=True)
class ClassificationFloor:
    dpd_over: int  # "over 90 days" applies from DPD 91
    at_least: Grade


@dataclass(frozen=True, slots=True)
class ClassificationProfile:
    name: str
    effective: date
    floors: tuple[ClassificationFloor, ...]


CBIRC_2023 = ClassificationProfile(
    "cbirc_2023",
    date(2023, 7, 1),
    (
        ClassificationFloor(0, Grade.SPECIAL_MENTION),
        ClassificationFloor(90, Grade.SUBSTANDARD),
        ClassificationFloor(270, Grade.DOUBTFUL),
        ClassificationFloor(360, Grade.LOSS),
    ),
)
CREDIT_CARD = ClassificationProfile(
    "credit_card",
    date(2023, 7, 1),
    (
        ClassificationFloor(0, Grade.SPECIAL_MENTION),
        ClassificationFloor(90, Grade.SUBSTANDARD),
        ClassificationFloor(120, Grade.DOUBTFUL),
        ClassificationFloor(180, Grade.LOSS),
    ),
)

PROVISION_RATES: dict[Grade, Decimal] = {
    Grade.NORMAL: Decimal("0.015"),
    Grade.SPECIAL_MENTION: Decimal("0.02"),
    Grade.SUBSTANDARD: Decimal("0.25"),
    Grade.DOUBTFUL: Decimal("0.5"),
    Grade.LOSS: Decimal(1),
}


def bucket_of(dpd: int, buckets: tuple[Bucket, ...] = DEFAULT_BUCKETS) -> str:
    """The bucket with the highest start not above `dpd`, whatever order the buckets are listed in."""
    return max((b for b in buckets if dpd >= b.dpd_from), key=lambda b: b.dpd_from, default=buckets[0]).name


def floor_grade(dpd: int, profile: ClassificationProfile = CBIRC_2023) -> Grade:
    """The best class a loan with this DPD may have."""
    grade = Grade.NORMAL
    for f in profile.floors:
        if dpd > f.dpd_over and f.at_least.rank > grade.rank:
            grade = f.at_least
    return grade


def ifrs9_stage(
    dpd: int, grade: Grade, restructured: bool = False, stage2_dpd_over: int = 30, stage3_dpd_over: int = 90
) -> int:
    """IFRS 9 stage: 3 credit-impaired (DPD > 90 or non-performing); 2 significant deterioration
    (DPD > 30, or in a restructuring observation period); else 1."""
    if dpd > stage3_dpd_over or grade.non_performing:
        return 3
    if dpd > stage2_dpd_over or restructured:
        return 2
    return 1


def provision_fen(exposure_fen: int, grade: Grade, rates: dict[Grade, Decimal] = PROVISION_RATES) -> int:
    return round_fen(Decimal(exposure_fen) * rates[grade])


@dataclass(frozen=True, slots=True)
class RiskRules:
    """Buckets, classification profile, stage thresholds and provision rates in force from `effective`."""

    effective: date
    buckets: tuple[Bucket, ...] = DEFAULT_BUCKETS
    profile: ClassificationProfile = CBIRC_2023
    provision_rates: tuple[tuple[Grade, Decimal], ...] = tuple(PROVISION_RATES.items())
    stage2_dpd_over: int = 30
    stage3_dpd_over: int = 90

    def provision_rate(self, grade: Grade) -> Decimal:
        return dict(self.provision_rates)[grade]


DEFAULT_RULES: tuple[RiskRules, ...] = (RiskRules(date(2023, 7, 1)),)


def rules_for(day: date, versions: tuple[RiskRules, ...] = DEFAULT_RULES) -> RiskRules:
    """The version in force on `day`: the latest effective on or before it (the earliest before all)."""
    ordered = sorted(versions, key=lambda r: r.effective)
    chosen = ordered[0]
    for rules in ordered:
        if rules.effective <= day:
            chosen = rules
    return chosen


def classify(
    dpd: int,
    profile: ClassificationProfile = CBIRC_2023,
    override: Grade | None = None,
    restructuring_floor: Grade | None = None,
) -> Grade:
    """The five-category class: the DPD floor, a restructured loan's observation floor, a manual override.

    An approved override may set any class, but never a better one than the floors allow.
    """
    grade = floor_grade(dpd, profile)
    for other in (override, restructuring_floor):
        if other is not None and other.rank > grade.rank:
            grade = other
    return grade


def rules_to_dict(rules: RiskRules) -> dict[str, Any]:
    """The stored (JSON) form of a rules version."""
    return {
        "effective": rules.effective.isoformat(),
        "buckets": [{"name": b.name, "dpd_from": b.dpd_from} for b in rules.buckets],
        "profile": {
            "name": rules.profile.name,
            "effective": rules.profile.effective.isoformat(),
            "floors": [{"dpd_over": f.dpd_over, "at_least": f.at_least.value} for f in rules.profile.floors],
        },
        "provision_rates": {g.value: str(rate) for g, rate in rules.provision_rates},
        "stage2_dpd_over": rules.stage2_dpd_over,
        "stage3_dpd_over": rules.stage3_dpd_over,
    }


PROFILES = {p.name: p for p in (CBIRC_2023, CREDIT_CARD)}


def rules_from_dict(data: dict[str, Any]) -> RiskRules:
    """Parse and check a rules version; raises ValueError naming what is wrong."""
    try:
        effective = date.fromisoformat(str(data["effective"]))
        base = RiskRules(effective)
        buckets = tuple(
            Bucket(str(b["name"]), int(b["dpd_from"]))
            for b in data.get("buckets", [{"name": x.name, "dpd_from": x.dpd_from} for x in base.buckets])
        )
        profile_data = data.get("profile", "cbirc_2023")
        if isinstance(profile_data, str):
            profile = PROFILES[profile_data]
        else:
            assert isinstance(profile_data, dict)
            profile = ClassificationProfile(
                str(profile_data["name"]),
                date.fromisoformat(str(profile_data.get("effective", effective.isoformat()))),
                tuple(ClassificationFloor(int(f["dpd_over"]), Grade(f["at_least"])) for f in profile_data["floors"]),
            )
        rates_data = data.get("provision_rates", {g.value: str(r) for g, r in base.provision_rates})
        assert isinstance(rates_data, dict)
        rates = tuple((g, Decimal(str(rates_data[g.value]))) for g in Grade)
        rules = RiskRules(
            effective,
            buckets,
            profile,
            rates,
            int(data.get("stage2_dpd_over", 30)),
            int(data.get("stage3_dpd_over", 90)),
        )
    except (KeyError, TypeError, ValueError, AssertionError) as exc:
        raise ValueError(f"invalid risk rules: {exc!r}") from exc
    if sorted(b.dpd_from for b in rules.buckets)[0] != 0:
        raise ValueError("invalid risk rules: the first bucket must start at DPD 0")
    if any(not Decimal(0) <= r <= Decimal(1) for _, r in rules.provision_rates):
        raise ValueError("invalid risk rules: provision rates must be between 0 and 1")
    if any(r != r.quantize(Decimal("0.000001")) for _, r in rules.provision_rates):
        raise ValueError("invalid risk rules: provision rates have at most 6 decimals")
    return rules

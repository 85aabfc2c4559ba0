"""Legal caps on what a loan may charge (DESIGN.md §5), as profiles of data.

A cap never changes a contract: it limits what is collectable. Penalty interest accrues at the
collectable rate; a finding says what was over the cap and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from daihou.domain.money import quantize_rate

# One-year Loan Prime Rate (LPR) as published by the NIFC, effective dates. Data, not code:
# a lender adds newer fixings with `LPR_1Y` overrides in its configuration.
LPR_1Y: tuple[tuple[date, Decimal], ...] = (
    (date(2019, 8, 20), Decimal("0.0425")),
    (date(2019, 9, 20), Decimal("0.042")),
    (date(2019, 11, 20), Decimal("0.0415")),
    (date(2020, 2, 20), Decimal("0.0405")),
    (date(2020, 4, 20), Decimal("0.0385")),
    (date(2021, 12, 20), Decimal("0.038")),
    (date(2022, 1, 20), Decimal("0.037")),
    (date(2022, 8, 22), Decimal("0.0365")),
    (date(2023, 6, 20), Decimal("0.0355")),
    (date(2023, 8, 21), Decimal("0.0345")),
    (date(2024, 7, 22), Decimal("0.0335")),
    (date(2024, 10, 21), Decimal("0.031")),
    (date(2025, 5, 20), Decimal("0.030")),
)


def lpr_1y(on: date, table: tuple[tuple[date, Decimal], ...] = LPR_1Y) -> Decimal:
    """The one-year LPR in force on a date (the first fixing for earlier dates)."""
    rate = table[0][1]
    for effective, value in table:
        if effective <= on:
            rate = value
    return rate


@dataclass(frozen=True, slots=True)
class CapProfile:
    name: str
    source: str
    penalty_multiplier_min: Decimal | None = None  # bank: 1.3 × contract rate
    penalty_multiplier_max: Decimal | None = None  # bank: 1.5 × contract rate
    lpr_multiple: Decimal | None = None  # private lending: everything ≤ 4 × one-year LPR
    all_in_flag_rate: Decimal | None = None  # licensed lenders: above 24 % flagged


CAP_PROFILES: dict[str, CapProfile] = {
    p.name: p
    for p in (
        CapProfile(
            "bank",
            "中国人民银行关于人民币贷款利率有关问题的通知 (银发〔2003〕251号)",
            penalty_multiplier_min=Decimal("1.3"),
            penalty_multiplier_max=Decimal("1.5"),
        ),
        CapProfile(
            "private_lending",
            "最高人民法院关于审理民间借贷案件适用法律若干问题的规定 (2020) 第25、29条",
            lpr_multiple=Decimal(4),
        ),
        CapProfile(
            "licensed_lender",
            "关于规范整顿“现金贷”业务的通知 (整治办函〔2017〕141号)",
            all_in_flag_rate=Decimal("0.24"),
        ),
        CapProfile("none", "no cap configured"),
    )
}


@dataclass(frozen=True, slots=True)
class CapFinding:
    code: str  # penalty_above_cap, interest_above_cap, all_in_cost_above_24
    message: str


@dataclass(frozen=True, slots=True)
class CollectableRates:
    penalty_rate_annual: Decimal
    findings: tuple[CapFinding, ...]


def collectable_rates(
    profile_name: str, contract_rate: Decimal, penalty_rate: Decimal, contract_date: date
) -> CollectableRates:
    """The penalty rate that may be charged under the profile, and what was over a cap."""
    profile = CAP_PROFILES.get(profile_name)
    if profile is None:
        raise ValueError(f"unknown legal-cap profile {profile_name!r}; known: {sorted(CAP_PROFILES)}")
    findings: list[CapFinding] = []
    rate = penalty_rate
    if profile.penalty_multiplier_max is not None:
        ceiling = quantize_rate(contract_rate * profile.penalty_multiplier_max)
        if rate > ceiling:
            findings.append(CapFinding("penalty_above_cap", f"penalty rate {rate} above {ceiling} ({profile.source})"))
            rate = ceiling
    if profile.lpr_multiple is not None:
        ceiling = quantize_rate(lpr_1y(contract_date) * profile.lpr_multiple)
        if contract_rate > ceiling:
            findings.append(
                CapFinding("interest_above_cap", f"contract rate {contract_rate} above {ceiling} ({profile.source})")
            )
        if rate > ceiling:
            findings.append(CapFinding("penalty_above_cap", f"penalty rate {rate} above {ceiling} ({profile.source})"))
            rate = ceiling
    if profile.all_in_flag_rate is not None and contract_rate > profile.all_in_flag_rate:
        findings.append(
            CapFinding("all_in_cost_above_24", f"annual cost {contract_rate} above {profile.all_in_flag_rate}")
        )
    return CollectableRates(rate, tuple(findings))

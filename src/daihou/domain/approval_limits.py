"""Approval limits by role for recovery requests (waivers, restructurings, write-offs), as data.

A request of a kind and an amount falls in the first tier of its kind that covers it (amount up to
`up_to`, and for waivers a share of the component outstanding up to `max_share`). The tier says
which roles may approve it and how many distinct approvals it needs. The maker never counts as a
checker; one person counts once. Which roles may *make* a request of each kind is data too.

Loaded from `daihou/workflow/approval_limits.toml` (versioned with an effective date). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any

from daihou.domain.money import Money, MoneyFormatError, yuan_text


class RequestKind(StrEnum):
    WAIVER = "waiver"  # 减免
    EXTENSION = "extension"  # 展期
    RESCHEDULE = "reschedule"  # 重组
    PLAN = "plan"  # 分期还款计划
    WRITEOFF = "writeoff"  # 核销


@dataclass(frozen=True, slots=True)
class Tier:
    name: str
    kind: RequestKind
    roles: frozenset[str]
    approvals: int = 1
    up_to_fen: int | None = None  # None: no upper bound
    max_share: Decimal | None = None  # waivers: of the component outstanding; None: any share

    def covers(self, amount_fen: int, share: Decimal | None) -> bool:
        if self.up_to_fen is not None and amount_fen > self.up_to_fen:
            return False
        return self.max_share is None or share is None or share <= self.max_share

    def describe(self) -> str:
        limit = "any amount" if self.up_to_fen is None else f"up to ¥{yuan_text(self.up_to_fen)}"
        if self.max_share is not None:
            limit += f" and {self.max_share * 100:g} % of what is outstanding"
        return f"{self.kind.value} {limit}: {self.approvals} approval(s) by {', '.join(sorted(self.roles))}"


@dataclass(frozen=True, slots=True)
class ApprovalLimits:
    effective: date
    makers: Mapping[RequestKind, frozenset[str]]
    tiers: tuple[Tier, ...]

    def tier_for(self, kind: RequestKind, amount_fen: int, share: Decimal | None = None) -> Tier | None:
        """The first tier of `kind` covering the amount; None when no tier does (nobody may approve)."""
        for tier in self.tiers:
            if tier.kind is kind and tier.covers(amount_fen, share):
                return tier
        return None

    def may_make(self, kind: RequestKind, role: str) -> bool:
        return role in self.makers.get(kind, frozenset())


def _money(value: Any, where: str) -> int:
    try:
        return Money.yuan(str(value)).fen
    except MoneyFormatError as exc:
        raise ValueError(f"{where}: {exc}") from exc


def limits_from_dict(data: Mapping[str, Any]) -> ApprovalLimits:
    """Parse and check the TOML form; a ValueError names the tier and the field."""
    effective = data.get("effective")
    if not isinstance(effective, date):
        raise ValueError("effective: a date (YYYY-MM-DD) is required")
    makers = {}
    for kind_text, roles in dict(data.get("makers", {})).items():
        try:
            makers[RequestKind(kind_text)] = frozenset(str(r) for r in roles)
        except ValueError as exc:
            raise ValueError(f"makers.{kind_text}: unknown request kind") from exc
    tiers = []
    for n, raw in enumerate(data.get("tier", [])):
        where = f"tier[{n}]"
        try:
            kind = RequestKind(raw["kind"])
        except (KeyError, ValueError) as exc:
            raise ValueError(f"{where}.kind: one of {', '.join(k.value for k in RequestKind)}") from exc
        roles = frozenset(str(r) for r in raw.get("roles", []))
        if not roles:
            raise ValueError(f"{where}.roles: at least one role")
        approvals = int(raw.get("approvals", 1))
        if approvals < 1:
            raise ValueError(f"{where}.approvals: at least 1")
        up_to = _money(raw["up_to"], f"{where}.up_to") if "up_to" in raw else None
        share = Decimal(str(raw["max_share"])) if "max_share" in raw else None
        if share is not None and not Decimal(0) < share <= Decimal(1):
            raise ValueError(f"{where}.max_share: between 0 and 1")
        tiers.append(Tier(str(raw.get("name", f"{kind.value}-{n}")), kind, roles, approvals, up_to, share))
    return ApprovalLimits(effective, makers, tuple(tiers))

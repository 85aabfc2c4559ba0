"""Loan products: the terms a lender tunes, as data."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from daihou.domain.calendar import DayCount, Frequency


class RepaymentMethod(StrEnum):
    EQUAL_INSTALLMENT = "equal_installment"  # 等额本息
    EQUAL_PRINCIPAL = "equal_principal"  # 等额本金
    INTEREST_ONLY = "interest_only"  # 先息后本
    BULLET = "bullet"  # 一次性还本付息


METHOD_LABELS_ZH = {
    RepaymentMethod.EQUAL_INSTALLMENT: "等额本息",
    RepaymentMethod.EQUAL_PRINCIPAL: "等额本金",
    RepaymentMethod.INTEREST_ONLY: "先息后本",
    RepaymentMethod.BULLET: "一次性还本付息",
}

# Names lenders' exports use for the methods; import accepts any of them.
METHOD_ALIASES: dict[str, RepaymentMethod] = {
    **{m.value: m for m in RepaymentMethod},
    **{label: m for m, label in METHOD_LABELS_ZH.items()},
    "按月付息到期还本": RepaymentMethod.INTEREST_ONLY,
    "到期一次还本付息": RepaymentMethod.BULLET,
    "利随本清": RepaymentMethod.BULLET,
}


class Component(StrEnum):
    """What a loan owes, in the names of the allocation waterfall."""

    COST = "cost"  # costs of collection (实现债权的费用)
    FEE = "fee"
    PENALTY = "penalty"  # 罚息: on overdue principal
    COMPOUND = "compound"  # 复利: on overdue interest
    INTEREST = "interest"
    PRINCIPAL = "principal"


class AllocationMode(StrEnum):
    HORIZONTAL = "horizontal"  # component by component across installments, oldest first
    VERTICAL = "vertical"  # installment by installment, every component of the oldest first


# 民法典 art. 561: costs of collection → fees → penalty and compound interest → interest → principal.
CIVIL_CODE_561: tuple[Component, ...] = (
    Component.COST,
    Component.FEE,
    Component.PENALTY,
    Component.COMPOUND,
    Component.INTEREST,
    Component.PRINCIPAL,
)


@dataclass(frozen=True, slots=True)
class AllocationRule:
    order: tuple[Component, ...] = CIVIL_CODE_561
    mode: AllocationMode = AllocationMode.HORIZONTAL

    def __post_init__(self) -> None:
        if sorted(self.order) != sorted(Component):
            raise ValueError(f"allocation order must name every component once, got {self.order}")


@dataclass(frozen=True, slots=True)
class Product:
    """A loan product. Loans copy its terms when booked, so later product edits never rewrite history."""

    code: str
    name: str
    method: RepaymentMethod = RepaymentMethod.EQUAL_INSTALLMENT
    frequency: Frequency = Frequency.MONTHLY
    day_count: DayCount = DayCount.ACT_360
    penalty_multiplier: Decimal = Decimal("1.5")
    compound_interest: bool = True
    grace_days: int = 0
    dpd_tolerance_fen: int = 0
    allocation: AllocationRule = AllocationRule()
    cap_profile: str = "bank"

    def __post_init__(self) -> None:
        if not self.code:
            raise ValueError("product code is empty")
        if self.penalty_multiplier < 1:
            raise ValueError("penalty multiplier below 1")
        if self.grace_days < 0 or self.dpd_tolerance_fen < 0:
            raise ValueError("grace days and DPD tolerance are non-negative")


DEFAULT_PRODUCT = Product(code="STD", name="标准个人贷款")

"""Borrowers, their emergency contacts, guarantors and collateral: who and what stands behind a loan."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum

from daihou.domain.identity import id_number_problem, mobile_problem, uscc_problem


class PartyKind(StrEnum):
    INDIVIDUAL = "individual"
    ENTERPRISE = "enterprise"


@dataclass(frozen=True, slots=True)
class Contact:
    """An emergency contact (紧急联系人): reachable only when the debtor is not, never told the debt."""

    name: str
    relation: str
    mobile: str


@dataclass(frozen=True, slots=True)
class Borrower:
    borrower_no: str
    kind: PartyKind
    name: str
    id_number: str  # resident ID number, or unified social credit code for an enterprise
    mobile: str = ""
    address: str = ""
    employer: str = ""
    legal_representative: str = ""
    contacts: tuple[Contact, ...] = field(default=())

    def problems(self) -> list[tuple[str, str]]:
        """(field, reason) for every field that is not acceptable."""
        out: list[tuple[str, str]] = []
        if not self.borrower_no.strip():
            out.append(("borrower_no", "is empty"))
        if not self.name.strip():
            out.append(("name", "is empty"))
        check = id_number_problem if self.kind is PartyKind.INDIVIDUAL else uscc_problem
        if problem := check(self.id_number):
            out.append(("id_number", problem))
        if self.mobile and (problem := mobile_problem(self.mobile)):
            out.append(("mobile", problem))
        for k, contact in enumerate(self.contacts, start=1):
            if problem := mobile_problem(contact.mobile):
                out.append((f"contact_{k}_mobile", problem))
        return out


class CustodyStatus(StrEnum):
    REGISTERED = "registered"  # pledge/mortgage registered (抵押登记)
    IN_CUSTODY = "in_custody"  # title documents held by the lender
    RELEASED = "released"  # 清户撤押
    DISPOSED = "disposed"  # sold in recovery


@dataclass(frozen=True, slots=True)
class Valuation:
    valued_on: date
    value_fen: int
    appraiser: str = ""
    method: str = "appraisal"


class GuaranteeType(StrEnum):
    JOINT = "joint"  # 连带责任保证
    GENERAL = "general"  # 一般保证


@dataclass(frozen=True, slots=True)
class Guarantor:
    kind: PartyKind
    name: str
    id_number: str
    mobile: str = ""
    guarantee_type: GuaranteeType = GuaranteeType.JOINT
    amount_fen: int | None = None  # the maximum guaranteed, when limited

    def problems(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        if not self.name.strip():
            out.append(("name", "is empty"))
        check = id_number_problem if self.kind is PartyKind.INDIVIDUAL else uscc_problem
        if problem := check(self.id_number):
            out.append(("id_number", problem))
        if self.mobile and (problem := mobile_problem(self.mobile)):
            out.append(("mobile", problem))
        if self.amount_fen is not None and self.amount_fen <= 0:
            out.append(("amount", "a guaranteed maximum must be positive"))
        return out


class CollateralKind(StrEnum):
    REAL_ESTATE = "real_estate"  # 房产
    VEHICLE = "vehicle"  # 车辆
    EQUIPMENT = "equipment"  # 设备
    DEPOSIT = "deposit"  # 存单
    EQUITY = "equity"  # 股权
    RECEIVABLE = "receivable"  # 应收账款
    LAND_USE_RIGHT = "land_use_right"  # 土地使用权


# Custody moves forward only: registered or held, then released (清户撤押) or disposed (处置).
CUSTODY_NEXT: dict[CustodyStatus, frozenset[CustodyStatus]] = {
    CustodyStatus.REGISTERED: frozenset({CustodyStatus.IN_CUSTODY, CustodyStatus.RELEASED, CustodyStatus.DISPOSED}),
    CustodyStatus.IN_CUSTODY: frozenset({CustodyStatus.RELEASED, CustodyStatus.DISPOSED}),
    CustodyStatus.RELEASED: frozenset(),
    CustodyStatus.DISPOSED: frozenset(),
}


@dataclass(frozen=True, slots=True)
class Collateral:
    kind: CollateralKind
    description: str
    owner: str = ""
    registration_no: str = ""
    custody_status: CustodyStatus = CustodyStatus.REGISTERED
    valuations: tuple[Valuation, ...] = ()

    @property
    def latest_value_fen(self) -> int | None:
        if not self.valuations:
            return None
        return max(self.valuations, key=lambda v: v.valued_on).value_fen

    def value_change(self) -> Decimal | None:
        """The relative change between the last two valuations (-0.25 = fell by a quarter), for early warning."""
        ordered = sorted(self.valuations, key=lambda v: v.valued_on)
        if len(ordered) < 2 or ordered[-2].value_fen == 0:
            return None
        return Decimal(ordered[-1].value_fen - ordered[-2].value_fen) / ordered[-2].value_fen

"""Borrowers, their emergency contacts, guarantors and collateral: who and what stands behind a loan."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
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

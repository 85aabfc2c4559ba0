"""Commands: what a caller asks the service to do, already parsed into domain types."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from daihou.domain.products import RepaymentMethod


@dataclass(frozen=True, slots=True)
class BookLoan:
    loan_no: str
    borrower_no: str
    principal_fen: int
    rate_annual: Decimal
    periods: int
    disbursed_on: date
    product_code: str = "STD"
    method: RepaymentMethod | None = None  # None: the product's method
    first_due_on: date | None = None
    penalty_rate_annual: Decimal | None = None  # None: contract rate × the product's multiplier
    officer: str = ""
    purpose: str = ""
    contract_no: str = ""

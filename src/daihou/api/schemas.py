"""API schemas (DESIGN.md §4.7: domain `Loan`, table `loans`, API `LoanPublic`/`PaymentCreate`).

Money is a string in yuan with two decimals ("5307.27"); dates are ISO `YYYY-MM-DD`. Personal data
(name, ID number, mobile) is always masked here; `POST /borrowers/{no}/reveal` shows one field, audited.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

MONEY_PATTERN = r"^-?\d+\.\d{2}$"
Money = str  # documented by pattern on each field

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    page: int
    size: int


class BorrowerPublic(BaseModel):
    borrower_no: str
    kind: str
    name: str = Field(description="masked")
    id_number: str = Field(description="masked")
    mobile: str | None = Field(description="masked")
    masked: bool = True


class BorrowerDetail(BorrowerPublic):
    address: str | None = Field(default=None, description="masked")
    employer: str | None = None
    loan_nos: list[str] = Field(default_factory=list, description="the borrower's loans inside the caller's scope")


class RevealCreate(BaseModel):
    field: Literal["name", "id_number", "mobile", "address"]


class RevealPublic(BaseModel):
    borrower_no: str
    field: str
    value: str | None
    audited: bool = True


class LoanSummary(BaseModel):
    loan_no: str
    borrower_no: str
    borrower_name: str = Field(description="masked")
    product_code: str
    officer: str | None
    status: str
    principal: str = Field(pattern=MONEY_PATTERN)
    dpd: int
    classification: str
    disbursement_date: date
    accrued_through: date


class InstallmentPublic(BaseModel):
    model_config = ConfigDict(extra="allow")

    no: int
    due_date: date
    principal: str = Field(pattern=MONEY_PATTERN)
    interest: str = Field(pattern=MONEY_PATTERN)
    payment: str = Field(pattern=MONEY_PATTERN)
    outstanding: str = Field(pattern=MONEY_PATTERN)
    state: str


class LoanPublic(BaseModel):
    """`daihou loan show --json` (DESIGN.md §6); more fields may be added, none renamed."""

    model_config = ConfigDict(extra="allow")

    loan_no: str
    status: str
    as_of: date
    dpd: int
    bucket: str
    classification: str
    ifrs9_stage: int
    outstanding_principal: str = Field(pattern=MONEY_PATTERN)
    overdue_principal: str = Field(pattern=MONEY_PATTERN)
    overdue_interest: str = Field(pattern=MONEY_PATTERN)
    penalty_interest: str = Field(pattern=MONEY_PATTERN)
    provision: str = Field(pattern=MONEY_PATTERN)
    next_due_date: date | None
    borrower: dict[str, Any] | None
    installments: list[InstallmentPublic]


class SchedulePublic(BaseModel):
    loan_no: str
    as_of: date
    schedule_version: int
    installments: list[InstallmentPublic]


class PaymentCreate(BaseModel):
    amount: str = Field(pattern=r"^\d{1,12}(\.\d{1,2})?$", description="yuan, e.g. 5307.27", examples=["5307.27"])
    paid_on: date = Field(description="value date")
    reference: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description="the payment's unique reference (default: the Idempotency-Key)",
    )


class PaymentPublic(BaseModel):
    model_config = ConfigDict(extra="allow")

    code: Literal["accepted", "duplicate"]
    message: str
    loan_no: str
    reference: str


class PortfolioPublic(BaseModel):
    date: date
    loans: int
    outstanding: str = Field(pattern=MONEY_PATTERN)
    npl: str = Field(pattern=MONEY_PATTERN)
    npl_ratio: float
    provision: str = Field(pattern=MONEY_PATTERN)
    coverage: float
    provision_to_loan: float
    by_bucket: dict[str, str]
    by_class: dict[str, str]


class AuditPublic(BaseModel):
    id: int
    at: str
    actor: str
    actor_role: str
    action: str
    entity: str
    entity_id: str
    before: Any = None
    after: Any = None
    ip: str | None = None


class UserPublic(BaseModel):
    username: str
    display_name: str
    role: str
    active: bool
    agency_id: int | None = None
    borrower_id: int | None = None


class UserCreate(BaseModel):
    username: str = Field(min_length=2, max_length=64)
    password: str = Field(min_length=1, max_length=200)
    role: str
    display_name: str | None = Field(default=None, max_length=100)
    agency_id: int | None = Field(default=None, ge=1, le=2_000_000_000)
    borrower_no: str | None = Field(default=None, max_length=64)

"""The ports the service needs from the outside world; storage implements them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from types import TracebackType
from typing import Protocol, Self

from daihou.domain.journal import JournalEntry
from daihou.domain.loan import Loan
from daihou.domain.parties import Borrower, Collateral, CustodyStatus, Guarantor, Valuation
from daihou.domain.products import Product
from daihou.domain.servicing import Event


class Clock(Protocol):
    def now(self) -> datetime: ...


class ConcurrencyError(Exception):
    """Another writer changed the aggregate since it was read (optimistic locking)."""


@dataclass(frozen=True, slots=True)
class LoanInfo:
    """What a loan carries besides its money: who, which product, who looks after it."""

    loan_no: str
    borrower_no: str
    product_code: str
    officer: str = ""
    purpose: str = ""
    contract_no: str = ""


@dataclass(frozen=True, slots=True)
class TransactionRecord:
    id: int
    loan_no: str
    kind: str
    reference: str
    value_date: date
    amount_fen: int
    reversed: bool
    result: str  # JSON of the outcome, returned again on a replay of the same reference


@dataclass(frozen=True, slots=True)
class NewTransaction:
    kind: str
    reference: str
    value_date: date
    amount_fen: int
    component: str | None = None
    mode: str | None = None
    reason: str | None = None
    reverses_id: int | None = None
    result: str = "{}"


class Loans(Protocol):
    def get(self, loan_no: str) -> Loan | None: ...
    def info(self, loan_no: str) -> LoanInfo | None: ...
    def add(self, loan: Loan, info: LoanInfo) -> None: ...
    def save(self, loan: Loan, reason: str, on: date) -> None: ...
    def opening(self, loan_no: str) -> Loan: ...
    def events(self, loan_no: str) -> list[tuple[int, Event]]: ...
    def existing(self, loan_nos: Iterable[str]) -> set[str]: ...


class Transactions(Protocol):
    def by_reference(self, reference: str) -> TransactionRecord | None: ...
    def existing(self, references: Iterable[str]) -> set[str]: ...
    def add(self, loan_no: str, txn: NewTransaction) -> int: ...
    def mark_reversed(self, txn_id: int) -> None: ...


class Journal(Protocol):
    def add(self, loan_no: str, entries: Sequence[JournalEntry], transaction_id: int | None) -> None: ...
    def balances(self, loan_no: str) -> dict[str, int]: ...


class Borrowers(Protocol):
    def get(self, borrower_no: str) -> Borrower | None: ...
    def add(self, borrower: Borrower) -> None: ...
    def existing(self, borrower_nos: Iterable[str]) -> set[str]: ...


class Products(Protocol):
    def get(self, code: str) -> Product | None: ...
    def add(self, product: Product) -> None: ...
    def all(self) -> list[Product]: ...


class Securities(Protocol):
    """Guarantors and collateral of loans (担保)."""

    def add_guarantor(self, loan_no: str, guarantor: Guarantor) -> int: ...
    def guarantors(self, loan_no: str) -> list[Guarantor]: ...
    def add_collateral(self, loan_no: str, collateral: Collateral) -> int: ...
    def collateral(self, loan_no: str) -> list[tuple[int, Collateral]]: ...
    def get_collateral(self, collateral_id: int) -> Collateral | None: ...
    def add_valuation(self, collateral_id: int, valuation: Valuation) -> None: ...
    def set_custody(self, collateral_id: int, status: CustodyStatus) -> None: ...


@dataclass(frozen=True, slots=True)
class OverrideRecord:
    id: int
    loan_no: str
    grade: str
    reason: str
    maker: str
    checker: str | None
    status: str  # pending, approved, rejected, superseded
    effective_on: date


class Overrides(Protocol):
    """Manual five-category classification (人工认定) with maker and checker."""

    def add(self, loan_no: str, grade: str, reason: str, maker: str, status: str, effective_on: date) -> int: ...
    def get(self, override_id: int) -> OverrideRecord | None: ...
    def decide(self, override_id: int, status: str, checker: str | None) -> None: ...
    def supersede(self, loan_no: str, keep_id: int) -> None: ...
    def pending(self) -> list[OverrideRecord]: ...
    def current_grade(self, loan_no: str) -> str | None: ...


class UnitOfWork(Protocol):
    @property
    def loans(self) -> Loans: ...
    @property
    def transactions(self) -> Transactions: ...
    @property
    def journal(self) -> Journal: ...
    @property
    def borrowers(self) -> Borrowers: ...
    @property
    def products(self) -> Products: ...
    @property
    def securities(self) -> Securities: ...
    @property
    def overrides(self) -> Overrides: ...

    def __enter__(self) -> Self: ...
    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...


# ---------------------------------------------------------------- recovery (restructuring, legal, agencies, write-off)


@dataclass(frozen=True, slots=True)
class RecoveryRequest:
    """A settlement, restructuring or write-off request (maker) awaiting or past its checkers."""

    id: int
    loan_no: str
    kind: str  # waiver, extension, reschedule, plan, writeoff
    status: str  # pending, approved, rejected
    amount_fen: int
    component: str | None
    share_ppm: int | None
    periods: int | None
    rate_annual_ppm: int | None
    method: str | None
    arrears: str | None
    first_due_on: date | None
    reason: str
    maker: str
    maker_role: str
    tier: str
    approvals_required: int
    reference: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class RecoveryDecision:
    user: str
    role: str
    approve: bool
    comment: str
    at: datetime


@dataclass(frozen=True, slots=True)
class LegalMatter:
    id: int
    loan_no: str
    stage: str  # lawyer_letter, litigation, enforcement, closed
    lawyer: str | None
    court: str | None
    case_no: str | None
    filed_on: date | None
    claim_fen: int | None
    judgment_on: date | None
    judgment_fen: int | None
    judgment_summary: str | None
    enforcement_case_no: str | None
    enforcement_filed_on: date | None
    opened_on: date
    closed_on: date | None


@dataclass(frozen=True, slots=True)
class AgencyRecord:
    id: int
    code: str
    name: str
    contact: str
    active: bool


@dataclass(frozen=True, slots=True)
class PlacementRecord:
    id: int
    agency_code: str
    loan_no: str
    stage: str
    balance_fen: int
    placed_on: date
    recall_on: date
    recalled_on: date | None
    status: str  # active, recalled
    recovered_fen: int = 0  # filled by `placements(..., as_of)`: money received while placed


class RecoveryStore(Protocol):
    """What the recovery use cases need beyond the ledger; it shares the unit of work's transaction."""

    def add_request(self, loan_no: str, values: dict[str, object]) -> int: ...
    def get_request(self, request_id: int) -> RecoveryRequest | None: ...
    def requests(self, status: str | None, kinds: Iterable[str] | None, limit: int) -> list[RecoveryRequest]: ...
    def add_decision(self, request_id: int, decision: RecoveryDecision) -> None: ...
    def decisions(self, request_id: int) -> list[RecoveryDecision]: ...
    def close_request(self, request_id: int, status: str, reference: str | None, at: datetime) -> None: ...
    def add_restructuring(self, reference: str, request_id: int | None, values: dict[str, object]) -> None: ...
    def mark_restructured(self, loan_no: str, until: date, floor: str) -> None: ...
    def add_write_off(self, reference: str, request_id: int | None, values: dict[str, object]) -> None: ...
    def mark_written_off(self, loan_no: str) -> None: ...
    def write_offs(self) -> list[dict[str, object]]: ...
    def recoveries(self, since: date | None, until: date | None) -> list[dict[str, object]]: ...
    def add_matter(self, loan_no: str, values: dict[str, object]) -> int: ...
    def get_matter(self, matter_id: int) -> LegalMatter | None: ...
    def update_matter(self, matter_id: int, values: dict[str, object]) -> None: ...
    def add_legal_event(self, matter_id: int, values: dict[str, object]) -> None: ...
    def matters(self, loan_no: str | None) -> list[LegalMatter]: ...
    def legal_events(self, matter_id: int) -> list[dict[str, object]]: ...
    def add_agency(self, code: str, name: str, contact: str) -> int: ...
    def agency(self, code: str) -> AgencyRecord | None: ...
    def add_evaluation(self, agency_id: int, values: dict[str, object]) -> None: ...
    def evaluations(self, agency_id: int) -> list[tuple[int, date, date]]: ...
    def active_placement(self, loan_no: str) -> PlacementRecord | None: ...
    def place(self, agency_id: int, loan_no: str, values: dict[str, object]) -> int: ...
    def recall(self, placement_id: int, on: date, reason: str) -> None: ...
    def placements(self, agency_code: str | None, as_of: date) -> list[PlacementRecord]: ...
    def set_case_agency(self, loan_no: str, agency_id: int | None) -> int: ...
    def guarantors(self, loan_no: str) -> list[tuple[int, Guarantor]]: ...
    def add_demand(self, loan_no: str, guarantor_id: int, on: date, amount_fen: int, by: str) -> int: ...
    def add_receipt(
        self, loan_no: str, source: str, source_id: int, reference: str, on: date, amount_fen: int
    ) -> None: ...
    def collateral_loan(self, collateral_id: int) -> str | None: ...
    def add_disposal(self, collateral_id: int, loan_no: str, values: dict[str, object]) -> None: ...
    def borrower_letter_facts(self, loan_no: str) -> dict[str, object] | None: ...


class RecoveryUnitOfWork(UnitOfWork, Protocol):
    @property
    def recovery(self) -> RecoveryStore: ...

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

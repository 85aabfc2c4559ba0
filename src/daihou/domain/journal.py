"""The append-only double-entry journal and its chart of accounts.

Debits are positive, credits negative; every entry sums to zero. An entry is never changed: a
correction is a new entry that names the one it corrects (`reverses`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum


class Account(StrEnum):
    CASH = "cash_clearing"  # 1001 cash / clearing with the payment channels
    PRINCIPAL_RECEIVABLE = "principal_receivable"  # 1301 loan principal outstanding
    INTEREST_RECEIVABLE = "interest_receivable"  # 1302 accrued interest not yet received
    PENALTY_RECEIVABLE = "penalty_receivable"  # 1303 penalty and compound interest
    FEE_RECEIVABLE = "fee_receivable"  # 1304 fees charged to the borrower
    COST_RECEIVABLE = "cost_receivable"  # 1305 collection costs advanced by the lender
    BORROWER_CREDIT = "borrower_credit"  # 2241 overpayments held for the borrower (suspense)
    INTEREST_INCOME = "interest_income"  # 6011
    PENALTY_INCOME = "penalty_income"  # 6012 penalty and compound interest income
    FEE_INCOME = "fee_income"  # 6021
    WRITE_OFF = "write_off"  # 6701 principal and costs written off or waived
    RECOVERY_INCOME = "recovery_income"  # 6301 money recovered on loans already written off (核销后收回)


class EntryKind(StrEnum):
    DISBURSEMENT = "disbursement"
    ACCRUAL = "accrual"
    PAYMENT = "payment"
    PREPAYMENT = "prepayment"
    WAIVER = "waiver"
    CHARGE = "charge"
    REVERSAL = "reversal"
    RESTRUCTURE = "restructure"
    WRITE_OFF = "write_off"


@dataclass(frozen=True, slots=True)
class JournalLine:
    account: Account
    amount_fen: int  # debit > 0, credit < 0


@dataclass(frozen=True, slots=True)
class JournalEntry:
    kind: EntryKind
    booked_on: date
    lines: tuple[JournalLine, ...]
    memo: str = ""

    def __post_init__(self) -> None:
        total = sum(line.amount_fen for line in self.lines)
        assert total == 0, f"journal entry {self.kind} on {self.booked_on} does not balance: {total}"

    @classmethod
    def from_movements(
        cls, kind: EntryKind, booked_on: date, movements: Mapping[Account, int], memo: str = ""
    ) -> JournalEntry | None:
        """An entry with one line per account that moved; None when nothing moved."""
        lines = tuple(JournalLine(a, n) for a, n in sorted(movements.items()) if n)
        return cls(kind, booked_on, lines, memo) if lines else None

    def amount(self, account: Account) -> int:
        return sum(line.amount_fen for line in self.lines if line.account is account)

"""Booking a loan: contract terms from a product, the first schedule, and what the caps say."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from daihou.domain.caps import CapFinding, collectable_rates
from daihou.domain.journal import Account, EntryKind, JournalEntry, JournalLine
from daihou.domain.loan import Loan, LoanTerms, open_loan
from daihou.domain.money import quantize_rate
from daihou.domain.products import Product
from daihou.domain.schedule import Schedule, ScheduleTerms, build_schedule


@dataclass(frozen=True, slots=True)
class Booked:
    loan: Loan
    schedule: Schedule
    entry: JournalEntry
    findings: tuple[CapFinding, ...]


def book(
    product: Product,
    loan_no: str,
    principal_fen: int,
    rate_annual: Decimal,
    periods: int,
    disbursed_on: date,
    first_due_on: date | None = None,
    penalty_rate_annual: Decimal | None = None,
) -> Booked:
    """Terms, first schedule and disbursement entry of a new loan. Raises ValueError on bad terms."""
    schedule_terms = ScheduleTerms(
        principal_fen,
        rate_annual,
        periods,
        product.method,
        disbursed_on,
        first_due_on,
        product.frequency,
        product.day_count,
    )
    schedule = build_schedule(schedule_terms)
    contractual_penalty = penalty_rate_annual or quantize_rate(rate_annual * product.penalty_multiplier)
    rates = collectable_rates(product.cap_profile, rate_annual, contractual_penalty, disbursed_on)
    terms = LoanTerms(
        loan_no=loan_no,
        principal_fen=principal_fen,
        rate_annual=rate_annual,
        penalty_rate_annual=rates.penalty_rate_annual,
        periods=periods,
        method=product.method,
        disbursed_on=disbursed_on,
        first_due_on=first_due_on,
        frequency=product.frequency,
        day_count=product.day_count,
        grace_days=product.grace_days,
        dpd_tolerance_fen=product.dpd_tolerance_fen,
        compound_interest=product.compound_interest,
        allocation=product.allocation,
    )
    loan = open_loan(terms, schedule)
    entry = JournalEntry(
        EntryKind.DISBURSEMENT,
        disbursed_on,
        (JournalLine(Account.PRINCIPAL_RECEIVABLE, principal_fen), JournalLine(Account.CASH, -principal_fen)),
        memo=loan_no,
    )
    return Booked(loan, schedule, entry, rates.findings)

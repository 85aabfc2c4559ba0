"""Repayment schedules (还款计划) for the four methods, with a broken first period.

Rules (DESIGN.md §5): period interest is remaining principal × annual rate / periods per year; a
broken first period (first due date not one period after disbursement) charges daily interest
(annual rate / 360, or /365) for its actual days. Each amount is rounded half-up to the fen and the
last installment absorbs the rounding, so the principal column sums exactly to the loan.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, localcontext

from daihou.domain.calendar import DayCount, Frequency, days_between
from daihou.domain.money import div_round, rate_ppm, round_fen
from daihou.domain.products import RepaymentMethod

PPM = 1_000_000


@dataclass(frozen=True, slots=True)
class Period:
    start: date
    due: date


@dataclass(frozen=True, slots=True)
class ScheduledInstallment:
    no: int
    start_date: date
    due_date: date
    principal_fen: int
    interest_fen: int
    remaining_principal_fen: int  # after this installment is paid

    @property
    def payment_fen(self) -> int:
        return self.principal_fen + self.interest_fen


@dataclass(frozen=True, slots=True)
class Schedule:
    installments: tuple[ScheduledInstallment, ...]

    @property
    def total_principal_fen(self) -> int:
        return sum(i.principal_fen for i in self.installments)

    @property
    def total_interest_fen(self) -> int:
        return sum(i.interest_fen for i in self.installments)

    @property
    def total_payment_fen(self) -> int:
        return self.total_principal_fen + self.total_interest_fen


@dataclass(frozen=True, slots=True)
class ScheduleTerms:
    """What a schedule is built from. `first_due` defaults to one period after `start`."""

    principal_fen: int
    rate_annual: Decimal
    periods: int
    method: RepaymentMethod
    start: date
    first_due: date | None = None
    frequency: Frequency = Frequency.MONTHLY
    day_count: DayCount = DayCount.ACT_360

    def validate(self) -> list[str]:
        problems = []
        if self.principal_fen <= 0:
            problems.append("principal must be positive")
        if not 1 <= self.periods <= 600:
            problems.append("the number of periods must be between 1 and 600")
        if self.rate_annual < 0 or self.rate_annual > 1:
            problems.append("the annual rate must be between 0 % and 100 %")
        if self.first_due is not None and self.first_due <= self.start:
            problems.append("the first due date must be after disbursement")
        return problems


def period_dates(terms: ScheduleTerms) -> tuple[Period, ...]:
    """Due dates, each computed from its anchor (never chained, so no drift at month ends); bullet has one."""
    freq = terms.frequency
    if terms.method is RepaymentMethod.BULLET:
        return (Period(terms.start, terms.first_due or freq.advance(terms.start, terms.periods)),)
    if terms.first_due is None:  # anchored on disbursement: a loan of Jan 31 falls due on each month's end
        dues = [freq.advance(terms.start, k + 1) for k in range(terms.periods)]
    else:  # anchored on the first due date, which fixes the repayment day
        dues = [freq.advance(terms.first_due, k) for k in range(terms.periods)]
    starts = [terms.start, *dues[:-1]]
    return tuple(Period(s, d) for s, d in zip(starts, dues, strict=True))


def equal_installment_payment(principal_fen: int, rate_annual: Decimal, periods: int, per_year: int) -> int:
    """等额本息 level payment P·r·(1+r)^n / ((1+r)^n − 1), r = annual / periods per year, half-up."""
    if rate_annual == 0:
        return div_round(principal_fen, periods)
    with localcontext() as ctx:
        ctx.prec = 40
        r = rate_annual / per_year
        growth = (1 + r) ** periods
        return round_fen(Decimal(principal_fen) * r * growth / (growth - 1))


def period_interest(
    remaining_fen: int,
    ppm: int,
    period: Period,
    regular: bool,
    per_year: int,
    day_count: DayCount,
    span: int = 1,
) -> int:
    """Interest of one period: by the period rate when regular, by actual days when broken."""
    if regular:
        return div_round(remaining_fen * ppm * span, PPM * per_year)
    return div_round(remaining_fen * ppm * days_between(period.start, period.due), PPM * day_count.year_days)


def build_schedule(terms: ScheduleTerms) -> Schedule:
    problems = terms.validate()
    if problems:
        raise ValueError("; ".join(problems))
    periods = period_dates(terms)
    # a bullet's single period spans the whole term; every other method's first period is one period
    span = terms.periods if terms.method is RepaymentMethod.BULLET else 1
    regular = periods[0].due == terms.frequency.advance(terms.start, span)
    return amortize(
        terms.principal_fen,
        terms.rate_annual,
        periods,
        terms.method,
        terms.frequency,
        terms.day_count,
        first_regular=regular,
        bullet_span=span,
    )


def amortize(
    principal_fen: int,
    rate_annual: Decimal,
    periods: Sequence[Period],
    method: RepaymentMethod,
    frequency: Frequency,
    day_count: DayCount,
    *,
    first_regular: bool = True,
    level_fen: int | None = None,
    first_no: int = 1,
    bullet_span: int = 1,
) -> Schedule:
    """Spread `principal_fen` over `periods`.

    `level_fen` fixes the level amount instead of deriving it (the payment for 等额本息, the principal
    per period for 等额本金): a prepayment that keeps the installment passes the old one and the
    schedule ends as soon as the principal is repaid, which shortens the term.
    """
    assert principal_fen > 0 and periods
    ppm, per_year, n = rate_ppm(rate_annual), frequency.periods_per_year, len(periods)
    if method is RepaymentMethod.EQUAL_INSTALLMENT and level_fen is None:
        level_fen = equal_installment_payment(principal_fen, rate_annual, n, per_year)
    elif method is RepaymentMethod.EQUAL_PRINCIPAL and level_fen is None:
        level_fen = div_round(principal_fen, n)
    remaining = principal_fen
    rows: list[ScheduledInstallment] = []
    for k, period in enumerate(periods):
        span = bullet_span if method is RepaymentMethod.BULLET else 1
        interest = period_interest(remaining, ppm, period, k > 0 or first_regular, per_year, day_count, span)
        last = k == n - 1
        if method is RepaymentMethod.EQUAL_INSTALLMENT:
            assert level_fen is not None
            # A broken first period charges its actual days of interest, but repays the principal of a
            # regular period, so the rest of the schedule stays level (首期按实际天数计息).
            regular = (
                interest
                if k > 0 or first_regular
                else period_interest(remaining, ppm, period, True, per_year, day_count)
            )
            principal = max(0, level_fen - regular)
        elif method is RepaymentMethod.EQUAL_PRINCIPAL:
            assert level_fen is not None
            principal = level_fen
        else:  # interest-only and bullet repay all principal at the end
            principal = 0
        if last or principal >= remaining:
            principal = remaining
        remaining -= principal
        rows.append(ScheduledInstallment(first_no + k, period.start, period.due, principal, interest, remaining))
        if remaining == 0:
            break
    return Schedule(tuple(rows))

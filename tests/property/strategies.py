"""Hypothesis strategies for the domain: products, schedule terms, booked loans and histories.

A history is drawn as abstract `Step`s (how many days later, what kind of event, how big relative
to what is owed then) and made concrete against the loan as it stands at that moment by
`run_history`. That keeps most drawn waivers and payments meaningful (a waiver of "half the
penalty outstanding") while still reaching rejections (a waiver of 150 % of it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from hypothesis import strategies as st

from daihou.domain.booking import Booked, book
from daihou.domain.calendar import DayCount, Frequency
from daihou.domain.loan import ONE_DAY, Loan
from daihou.domain.products import (
    CIVIL_CODE_561,
    AllocationMode,
    AllocationRule,
    Component,
    Product,
    RepaymentMethod,
)
from daihou.domain.schedule import ScheduleTerms
from daihou.domain.servicing import (
    Applied,
    Charge,
    Event,
    Payment,
    Prepayment,
    PrepaymentMode,
    Rejected,
    Waiver,
    apply,
    payoff_quote,
)

METHODS = tuple(RepaymentMethod)
FREQUENCIES = tuple(Frequency)

# ---------------------------------------------------------------- rates, amounts, dates


def rates(min_ppm: int = 0, max_ppm: int = 360_000) -> st.SearchStrategy[Decimal]:
    """Annual rates exact in millionths (the domain refuses anything finer)."""
    return st.integers(min_ppm, max_ppm).map(lambda ppm: Decimal(ppm).scaleb(-6))


def business_dates(lo: date = date(2019, 1, 1), hi: date = date(2032, 12, 31)) -> st.SearchStrategy[date]:
    return st.dates(min_value=lo, max_value=hi)


def allocation_rules() -> st.SearchStrategy[AllocationRule]:
    return st.builds(
        AllocationRule,
        order=st.permutations(CIVIL_CODE_561).map(tuple),
        mode=st.sampled_from(tuple(AllocationMode)),
    )


# ---------------------------------------------------------------- schedules


@st.composite
def schedule_terms(
    draw: st.DrawFn,
    methods: tuple[RepaymentMethod, ...] = METHODS,
    frequencies: tuple[Frequency, ...] = FREQUENCIES,
    max_periods: int = 360,
    max_principal_fen: int = 10_000_000_000,
    broken_first_period: bool | None = None,
) -> ScheduleTerms:
    """Terms of any method and frequency; about a third have a broken (short or long) first period."""
    frequency = draw(st.sampled_from(frequencies))
    method = draw(st.sampled_from(methods))
    start = draw(business_dates())
    periods = draw(st.integers(1, max_periods))
    broken = draw(st.booleans() if broken_first_period is None else st.just(broken_first_period))
    first_due = None
    if broken:
        one = frequency.advance(start, periods if method is RepaymentMethod.BULLET else 1)
        span = (one - start).days
        first_due = start + timedelta(days=draw(st.integers(1, 2 * span)))
    return ScheduleTerms(
        principal_fen=draw(st.integers(1, max_principal_fen)),
        rate_annual=draw(rates()),
        periods=periods,
        method=method,
        start=start,
        first_due=first_due,
        frequency=frequency,
        day_count=draw(st.sampled_from(tuple(DayCount))),
    )


# ---------------------------------------------------------------- products and loans


@st.composite
def products(draw: st.DrawFn) -> Product:
    return Product(
        code="P" + str(draw(st.integers(1, 99))),
        name="property-test product",
        method=draw(st.sampled_from(METHODS)),
        frequency=draw(st.sampled_from(FREQUENCIES)),
        day_count=draw(st.sampled_from(tuple(DayCount))),
        penalty_multiplier=draw(st.sampled_from((Decimal(1), Decimal("1.3"), Decimal("1.5"), Decimal(2)))),
        compound_interest=draw(st.booleans()),
        grace_days=draw(st.sampled_from((0, 0, 1, 3, 10))),
        dpd_tolerance_fen=draw(st.sampled_from((0, 0, 100, 10_000))),
        allocation=draw(allocation_rules()),
        cap_profile=draw(st.sampled_from(("bank", "none", "private_lending"))),
    )


@st.composite
def booked_loans(draw: st.DrawFn, max_periods: int = 24, product: Product | None = None) -> Booked:
    """A freshly booked loan (small terms keep histories short enough to run many of them)."""
    prod = product if product is not None else draw(products())
    start = draw(business_dates(date(2020, 1, 1), date(2030, 12, 31)))
    periods = draw(st.integers(1, max_periods))
    first_due = None
    if draw(st.integers(0, 3)) == 0:
        span = prod.frequency.advance(start, periods if prod.method is RepaymentMethod.BULLET else 1)
        first_due = start + timedelta(days=draw(st.integers(1, 2 * (span - start).days)))
    return book(
        prod,
        "L" + str(draw(st.integers(1, 10**6))),
        principal_fen=draw(st.integers(10_000, 500_000_000)),
        rate_annual=draw(rates(0, 240_000)),
        periods=periods,
        disbursed_on=start,
        first_due_on=first_due,
    )


def loans(max_periods: int = 24) -> st.SearchStrategy[Loan]:
    return booked_loans(max_periods).map(lambda b: b.loan)


# ---------------------------------------------------------------- histories

KINDS = ("payment", "payment", "payment", "prepay_reduce", "prepay_shorten", "waiver", "charge")


@dataclass(frozen=True, slots=True)
class Step:
    """One event, relative to the loan as it stands: `permille` of the thing it is sized against."""

    gap_days: int
    kind: str
    permille: int
    component: Component


@st.composite
def steps(draw: st.DrawFn) -> Step:
    return Step(
        gap_days=draw(st.one_of(st.integers(0, 3), st.integers(4, 45), st.integers(46, 200))),
        kind=draw(st.sampled_from(KINDS)),
        permille=draw(st.one_of(st.integers(1, 1000), st.integers(1001, 1600), st.just(1000))),
        component=draw(st.sampled_from(tuple(Component))),
    )


def histories(max_steps: int = 8) -> st.SearchStrategy[list[Step]]:
    return st.lists(steps(), min_size=1, max_size=max_steps)


def _scaled(base_fen: int, permille: int) -> int:
    return max(1, base_fen * permille // 1000)


def realize(loan: Loan, step: Step, on: date) -> Event:
    """The concrete event a step stands for, sized against the loan's balances on `on`."""
    ref = f"{step.kind}-{on.isoformat()}-{step.permille}"
    if step.kind == "charge":
        component = Component.FEE if step.component in (Component.FEE, Component.PENALTY) else Component.COST
        return Charge(on, component, _scaled(50_000, step.permille), ref)
    if step.kind == "waiver":
        if step.component in (Component.FEE, Component.COST):
            owed = loan.fee if step.component is Component.FEE else loan.cost
            base = owed.outstanding
        else:
            due_by = None if step.component is Component.PRINCIPAL else on
            base = loan.owed_total(step.component, due_by=due_by)
        if base == 0:  # nothing of that component is owed yet: waive principal, which always is
            return Waiver(on, Component.PRINCIPAL, _scaled(loan.outstanding_principal_fen, step.permille), ref)
        return Waiver(on, step.component, _scaled(base, step.permille), ref)
    if step.kind.startswith("prepay"):
        mode = PrepaymentMode.REDUCE_INSTALLMENT if step.kind == "prepay_reduce" else PrepaymentMode.SHORTEN_TERM
        return Prepayment(on, _scaled(payoff_quote(loan, on).total_fen, step.permille // 2), ref, mode)
    # A payment: a share of the next installment, or now and then of the payoff.
    if step.permille % 7 == 0:
        base = payoff_quote(loan, on).total_fen
    else:
        nxt = loan.next_due_date(on)
        inst = [i for i in loan.installments if i.due_date == nxt]
        base = (inst[0].principal.due + inst[0].interest.due) if inst else 10_000
    return Payment(on, _scaled(base, step.permille), ref)


@dataclass(frozen=True, slots=True)
class History:
    opening: Loan
    events: tuple[Event, ...]
    results: tuple[Applied | Rejected, ...]
    loan: Loan  # after the last event (closed through the day before it)


def run_history(opening: Loan, drawn: list[Step]) -> History:
    """Apply the steps one after another, each `gap_days` after the previous (the first after booking)."""
    loan, events, results = opening, list[Event](), list[Applied | Rejected]()
    on = opening.terms.disbursed_on
    for step in drawn:
        on = on + timedelta(days=step.gap_days)
        assert loan.accrued_through is not None
        on = max(on, loan.accrued_through + ONE_DAY)
        event = realize(loan, step, on)
        result = apply(loan, event)
        events.append(event)
        results.append(result)
        if isinstance(result, Applied):
            loan = result.loan
    return History(opening, tuple(events), tuple(results), loan)


def last_event_day(history: History) -> date:
    return history.events[-1].on if history.events else history.opening.terms.disbursed_on

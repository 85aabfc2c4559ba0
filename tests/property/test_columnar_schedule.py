"""The columnar schedule generator equals the scalar reference `build_schedule`, installment by installment."""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daihou.batch.schedules import (
    MAX_PRINCIPAL_FEN,
    METHOD_CODES,
    ScheduleColumns,
    build_schedules,
    build_schedules_from_terms,
)
from daihou.domain.calendar import DayCount, Frequency, add_months
from daihou.domain.products import RepaymentMethod
from daihou.domain.schedule import ScheduleTerms, build_schedule

CODE_METHODS = {code: method for method, code in METHOD_CODES.items()}


def rate(ppm: int) -> Decimal:
    return Decimal(ppm) / 1_000_000


def assert_same_as_scalar(terms: list[ScheduleTerms], cols: ScheduleColumns) -> None:
    rows = 0
    for i, t in enumerate(terms):
        expected = build_schedule(t).installments
        assert cols.installments(i) == expected, f"loan {i}: {t}"
        rows += len(expected)
    assert len(cols) == rows
    assert_well_formed(cols)


def assert_well_formed(cols: ScheduleColumns) -> None:
    assert cols.loan_index.dtype == np.int64 and cols.no.dtype == np.int32
    assert cols.start_date.dtype == np.dtype("datetime64[D]") and cols.due_date.dtype == np.dtype("datetime64[D]")
    for money in (cols.principal_fen, cols.interest_fen, cols.remaining_principal_fen):
        assert money.dtype == np.int64
    key = cols.loan_index * 1000 + cols.no
    assert (np.diff(key) > 0).all(), "rows are sorted by loan, then installment"


# -- strategies --------------------------------------------------------------------------------------

years = st.integers(2000, 2040)
months = st.integers(1, 12)


def month_end_ish(y: int, m: int, d: int) -> date:
    return date(y, m, min(d, calendar.monthrange(y, m)[1]))


starts = st.one_of(
    st.dates(date(2000, 1, 1), date(2040, 12, 31)),
    st.builds(month_end_ish, years, months, st.integers(28, 31)),  # month ends, 29–31 Jan among them
    st.sampled_from([date(2024, 1, 29), date(2024, 1, 30), date(2024, 1, 31), date(2025, 1, 31)]),
)
principals = st.one_of(st.integers(1, 1_000), st.integers(1, 10**9))
rates_ppm = st.one_of(st.just(0), st.integers(0, 360_000))


@st.composite
def loans(draw: st.DrawFn, max_principal: int = 10**9, max_periods: int = 360, max_ppm: int = 360_000) -> ScheduleTerms:
    method = draw(st.sampled_from(RepaymentMethod))
    periods = draw(st.integers(1, max_periods))
    start = draw(starts)
    first_due = None
    if draw(st.booleans()):  # a first due date up to 60 days off the regular one (0: given but regular)
        regular = add_months(start, periods if method is RepaymentMethod.BULLET else 1)
        first_due = max(start + timedelta(days=1), regular + timedelta(days=draw(st.integers(-60, 60))))
    return ScheduleTerms(
        principal_fen=draw(st.one_of(st.integers(1, 1_000), st.integers(1, max_principal))),
        rate_annual=rate(draw(st.one_of(st.just(0), st.integers(0, max_ppm)))),
        periods=periods,
        method=method,
        start=start,
        first_due=first_due,
        day_count=draw(st.sampled_from(DayCount)),
    )


# -- properties --------------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(loans(), min_size=1, max_size=6))
def test_a_batch_of_random_loans_gets_exactly_the_scalar_schedules(terms: list[ScheduleTerms]) -> None:
    assert_same_as_scalar(terms, build_schedules_from_terms(terms))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(loans(max_principal=MAX_PRINCIPAL_FEN, max_periods=600, max_ppm=1_000_000), min_size=1, max_size=4))
def test_loans_at_the_edge_of_the_supported_range_still_match_to_the_fen(terms: list[ScheduleTerms]) -> None:
    assert_same_as_scalar(terms, build_schedules_from_terms(terms))


@settings(max_examples=60, deadline=None)
@given(loans())
def test_the_principal_column_sums_to_the_loan_and_remaining_counts_down_to_zero(terms: ScheduleTerms) -> None:
    cols = build_schedules_from_terms([terms])
    assert int(cols.principal_fen.sum()) == terms.principal_fen
    assert cols.remaining_principal_fen[-1] == 0
    assert (np.diff(cols.remaining_principal_fen) <= 0).all()
    assert (cols.start_date < cols.due_date).all()
    assert (cols.start_date[1:] == cols.due_date[:-1]).all()


# -- a book built with NumPy's generator ----------------------------------------------------------------


def test_two_thousand_random_loans_match_the_scalar_function() -> None:
    rng = np.random.default_rng(20261122)
    n = 2_000
    method = rng.integers(0, 4, size=n).astype(np.int8)
    principal = np.where(rng.random(n) < 0.1, rng.integers(1, 1_000, size=n), rng.integers(1, 10**9, size=n))
    ppm = np.where(rng.random(n) < 0.05, 0, rng.integers(0, 360_001, size=n))
    usual_terms = rng.choice([1, 3, 6, 12, 24, 36, 60, 120, 240, 360], size=n)
    periods = np.where(rng.random(n) < 0.5, usual_terms, rng.integers(1, 361, size=n))
    start = np.datetime64("2023-01-01") + rng.integers(0, 3 * 365, size=n)
    start[rng.random(n) < 0.1] = np.datetime64("2024-01-31")
    first_due = np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
    broken = rng.random(n) < 0.3
    first_due[broken] = start[broken] + rng.integers(1, 61, size=int(broken.sum()))
    year_days = rng.choice([360, 365], size=n)
    cols = build_schedules(principal, ppm, periods, method, start, first_due, year_days)
    terms = [
        ScheduleTerms(
            principal_fen=int(principal[i]),
            rate_annual=rate(int(ppm[i])),
            periods=int(periods[i]),
            method=CODE_METHODS[int(method[i])],
            start=start[i].item(),
            first_due=None if np.isnat(first_due[i]) else first_due[i].item(),
            day_count=DayCount.ACT_365 if year_days[i] == 365 else DayCount.ACT_360,
        )
        for i in range(n)
    ]
    assert_same_as_scalar(terms, cols)


# -- examples ---------------------------------------------------------------------------------------------


def test_a_tiny_loan_whose_rounded_up_level_repays_it_early_stops_early_like_the_scalar() -> None:
    terms = [
        ScheduleTerms(2, Decimal(0), 3, RepaymentMethod.EQUAL_PRINCIPAL, date(2024, 1, 31)),
        ScheduleTerms(2, Decimal("0.36"), 3, RepaymentMethod.EQUAL_INSTALLMENT, date(2024, 1, 31)),
        ScheduleTerms(1_000_000, Decimal("0.049"), 12, RepaymentMethod.EQUAL_INSTALLMENT, date(2024, 1, 31)),
    ]
    cols = build_schedules_from_terms(terms)
    assert [len(cols.installments(i)) for i in range(3)] == [2, 2, 12]
    assert_same_as_scalar(terms, cols)


def test_a_level_payment_exactly_on_a_half_fen_is_rounded_up_like_the_scalar() -> None:
    # 100 fen at 6 % over one month: 100 × 1.005 = 100.5 fen exactly -> 101
    terms = [ScheduleTerms(100, Decimal("0.06"), 1, RepaymentMethod.EQUAL_INSTALLMENT, date(2024, 3, 15))]
    cols = build_schedules_from_terms(terms)
    assert int(cols.principal_fen[0] + cols.interest_fen[0]) == 101
    assert_same_as_scalar(terms, cols)


def test_due_dates_are_anchored_on_the_first_due_date_with_month_end_clamping() -> None:
    terms = [
        ScheduleTerms(10_000, Decimal("0.1"), 4, RepaymentMethod.INTEREST_ONLY, date(2024, 12, 20), date(2025, 1, 31))
    ]
    cols = build_schedules_from_terms(terms)
    assert cols.due_date.tolist() == [date(2025, 1, 31), date(2025, 2, 28), date(2025, 3, 31), date(2025, 4, 30)]
    assert_same_as_scalar(terms, cols)


def test_a_bullet_without_a_first_due_date_matures_after_its_term() -> None:
    cols = build_schedules(
        [500_000], [120_000], [7], [METHOD_CODES[RepaymentMethod.BULLET]], [np.datetime64("2024-01-31")]
    )
    assert len(cols) == 1 and cols.due_date[0] == np.datetime64("2024-08-31")
    assert int(cols.interest_fen[0]) == 35_000  # 500,000 × 12 % × 7 / 12


def test_scalar_arguments_and_an_empty_book_are_accepted() -> None:
    assert len(build_schedules(np.array([], np.int64), [], [], [], np.array([], "datetime64[D]"))) == 0
    cols = build_schedules([100_000], [48_000], [3], [0], ["2024-05-31"], None, 365)
    assert cols.no.tolist() == [1, 2, 3]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"principal_fen": [0]}, "principal_fen"),
        ({"principal_fen": [MAX_PRINCIPAL_FEN + 1]}, "principal_fen"),
        ({"principal_fen": [1.5]}, "integers"),
        ({"rate_ppm": [1_000_001]}, "rate_ppm"),
        ({"periods": [0]}, "periods"),
        ({"periods": [601]}, "periods"),
        ({"method": [4]}, "method"),
        ({"first_due": ["2024-01-31"]}, "after disbursement"),
        ({"day_count_year_days": 364}, "day_count_year_days"),
        ({"start": ["9999-06-30"]}, "9999-12-31"),
        ({"start": ["NaT"]}, "NaT"),
        ({"start": [20240131]}, "dates"),
        ({"rate_ppm": [1, 2]}, "elements"),
    ],
)
def test_inputs_outside_the_supported_range_are_refused(change: dict[str, object], message: str) -> None:
    args: dict[str, object] = {
        "principal_fen": [100_000],
        "rate_ppm": [49_000],
        "periods": [12],
        "method": [0],
        "start": ["2024-01-31"],
        "first_due": None,
        "day_count_year_days": 360,
    }
    with pytest.raises(ValueError, match=message):
        build_schedules(**{**args, **change})  # type: ignore[arg-type]


def test_other_frequencies_are_left_to_the_scalar_function() -> None:
    terms = ScheduleTerms(
        10_000, Decimal("0.1"), 4, RepaymentMethod.EQUAL_PRINCIPAL, date(2024, 1, 1), frequency=Frequency.QUARTERLY
    )
    with pytest.raises(ValueError, match="monthly only"):
        build_schedules_from_terms([terms])

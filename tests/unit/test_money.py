"""Money, rounding, rates and calendar arithmetic."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from daihou.domain.calendar import DayCount, Frequency, add_months, days_between
from daihou.domain.money import (
    Money,
    MoneyFormatError,
    check_rate,
    div_round,
    parse_rate_percent,
    quantize_rate,
    rate_ppm,
    round_fen,
    yuan_text,
)

# ---------------------------------------------------------------- parsing and printing yuan


@pytest.mark.parametrize(
    ("text", "fen"),
    [
        ("5307.27", 530727),
        ("5307.2", 530720),
        ("5307", 530700),
        ("0.01", 1),
        ("0", 0),
        ("-12.50", -1250),
        (" 1,234,567.89 ", 123456789),
    ],
)
def test_yuan_text_is_parsed_to_exact_fen(text: str, fen: int) -> None:
    assert Money.yuan(text) == Money(fen)


@pytest.mark.parametrize("text", ["5307.271", "0.001", "1.999", "12.345"])
def test_an_amount_with_three_decimals_is_refused(text: str) -> None:
    with pytest.raises(MoneyFormatError, match="not an amount"):
        Money.yuan(text)


@pytest.mark.parametrize("text", ["", "abc", "1.", ".5", "1e3", "¥12", "1.2.3", "--1", "NaN"])
def test_text_that_is_not_an_amount_is_refused(text: str) -> None:
    with pytest.raises(MoneyFormatError):
        Money.yuan(text)


def test_a_decimal_with_three_decimals_is_refused_but_two_are_exact() -> None:
    assert Money.yuan(Decimal("5307.27")) == Money(530727)
    assert Money.yuan(Decimal("5307.270")) == Money(530727)  # a trailing zero is still two decimals
    with pytest.raises(MoneyFormatError):
        Money.yuan(Decimal("5307.271"))


def test_whole_yuan_given_as_an_int_are_hundred_fen_each() -> None:
    assert Money.yuan(5307) == Money(530700)


def test_money_prints_as_yuan_with_two_decimals() -> None:
    assert Money(530727).to_yuan() == "5307.27"
    assert Money(5).to_yuan() == "0.05"
    assert Money(-5).to_yuan() == "-0.05"
    assert Money(-100).to_yuan() == "-1.00"
    assert str(Money(123456)) == "¥1234.56"
    assert yuan_text(0) == "0.00"


def test_printed_yuan_parse_back_to_the_same_money() -> None:
    for fen in (0, 1, 99, 100, 530727, -1, -530727, 10**15):
        assert Money.yuan(Money(fen).to_yuan()) == Money(fen)


def test_money_holds_only_integer_fen() -> None:
    with pytest.raises(AssertionError):
        Money(1.5)  # type: ignore[arg-type]
    with pytest.raises(AssertionError):
        Money(True)
    with pytest.raises(AssertionError):
        Money(Decimal(1))  # type: ignore[arg-type]


def test_money_adds_subtracts_negates_and_compares_as_fen() -> None:
    assert Money(150) + Money(250) == Money(400)
    assert Money(150) - Money(250) == Money(-100)
    assert -Money(7) == Money(-7)
    assert Money(1) < Money(2)
    assert not Money.zero()
    assert Money(1)


def test_money_is_immutable() -> None:
    m = Money(1)
    with pytest.raises(AttributeError):
        m.fen = 2  # type: ignore[misc]


# ---------------------------------------------------------------- rounding


@pytest.mark.parametrize(
    ("value", "fen"),
    [("0.5", 1), ("1.5", 2), ("2.5", 3), ("2.4999", 2), ("-0.5", -1), ("-2.5", -3), ("-2.4", -2), ("7", 7)],
)
def test_round_fen_rounds_half_up_away_from_zero(value: str, fen: int) -> None:
    assert round_fen(Decimal(value)) == fen


@pytest.mark.parametrize(
    ("n", "d", "fen"),
    [(1, 2, 1), (3, 2, 2), (5, 2, 3), (-1, 2, -1), (-3, 2, -2), (7, 3, 2), (8, 3, 3), (-8, 3, -3), (0, 9, 0)],
)
def test_integer_division_rounds_half_up_like_round_fen(n: int, d: int, fen: int) -> None:
    assert div_round(n, d) == fen == round_fen(Decimal(n) / Decimal(d))


def test_integer_division_needs_a_positive_denominator() -> None:
    with pytest.raises(AssertionError):
        div_round(1, 0)


# ---------------------------------------------------------------- rates


def test_a_percentage_text_becomes_a_decimal_rate() -> None:
    assert parse_rate_percent("4.9") == Decimal("0.049")
    assert parse_rate_percent("4.9%") == Decimal("0.049")
    assert parse_rate_percent(" 24 ") == Decimal("0.24")
    assert parse_rate_percent(0) == Decimal(0)


@pytest.mark.parametrize("text", ["abc", "NaN", "Infinity", "-1", "4.90000001", ""])
def test_a_bad_percentage_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_rate_percent(text)


def test_rates_are_exact_in_millionths() -> None:
    assert rate_ppm(Decimal("0.049")) == 49000
    assert rate_ppm(Decimal("0.0435")) == 43500
    assert check_rate(Decimal("0.000001")) == Decimal("0.000001")
    with pytest.raises(ValueError, match="decimal places"):
        check_rate(Decimal("0.0000001"))
    with pytest.raises(ValueError, match="negative"):
        check_rate(Decimal("-0.01"))


def test_a_derived_rate_is_rounded_half_up_to_the_millionth() -> None:
    assert quantize_rate(Decimal("0.049") * Decimal("1.5")) == Decimal("0.0735")
    assert quantize_rate(Decimal("0.0000005")) == Decimal("0.000001")
    assert quantize_rate(Decimal("0.04353335")) == Decimal("0.043533")


# ---------------------------------------------------------------- calendar


def test_adding_months_keeps_the_day_or_clamps_to_the_month_end() -> None:
    assert add_months(date(2026, 1, 15), 1) == date(2026, 2, 15)
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2028, 1, 31), 1) == date(2028, 2, 29)
    assert add_months(date(2026, 1, 31), 3) == date(2026, 4, 30)
    assert add_months(date(2026, 11, 30), 2) == date(2027, 1, 30)
    assert add_months(date(2026, 3, 31), -1) == date(2026, 2, 28)


def test_frequencies_advance_by_their_period() -> None:
    anchor = date(2026, 1, 31)
    assert Frequency.MONTHLY.advance(anchor, 2) == date(2026, 3, 31)
    assert Frequency.QUARTERLY.advance(anchor, 1) == date(2026, 4, 30)
    assert Frequency.BIWEEKLY.advance(anchor, 2) == date(2026, 2, 28)
    assert [f.periods_per_year for f in Frequency] == [12, 4, 26]


def test_day_counts_count_nights_over_360_or_365_day_years() -> None:
    assert days_between(date(2026, 1, 15), date(2026, 2, 15)) == 31
    assert days_between(date(2028, 2, 1), date(2028, 3, 1)) == 29
    assert DayCount.ACT_360.year_days == 360
    assert DayCount.ACT_365.year_days == 365

"""Properties of money, rounding and rates that must hold for every amount."""

from __future__ import annotations

import calendar
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daihou.domain.calendar import add_months
from daihou.domain.money import (
    Money,
    MoneyFormatError,
    div_round,
    parse_rate_percent,
    rate_ppm,
    round_fen,
    yuan_text,
)

fen = st.integers(-(10**15), 10**15)


@given(st.integers(-(10**18), 10**18), st.integers(1, 10**12))
def test_integer_division_rounds_exactly_like_round_fen(n: int, d: int) -> None:
    assert div_round(n, d) == round_fen(Decimal(n) / Decimal(d))


@given(st.integers(-(10**12), 10**12), st.integers(1, 10**6))
def test_integer_division_is_within_half_a_fen_and_rounds_ties_away_from_zero(n: int, d: int) -> None:
    q = div_round(n, d)
    assert abs(2 * (n - q * d)) <= d
    if 2 * abs(n - q * d) == d:  # a tie
        assert abs(q * d) > abs(n)


@given(fen)
def test_printed_yuan_parse_back_to_the_same_fen(amount: int) -> None:
    assert Money.yuan(Money(amount).to_yuan()) == Money(amount)
    assert Money.yuan(Decimal(yuan_text(amount))) == Money(amount)


@given(st.integers(0, 10**12), st.integers(1, 9))
def test_an_amount_with_a_third_decimal_is_always_refused(whole_fen: int, third: int) -> None:
    text = yuan_text(whole_fen) + str(third)
    with pytest.raises(MoneyFormatError):
        Money.yuan(text)
    with pytest.raises(MoneyFormatError):
        Money.yuan(Decimal(text))


@given(fen, fen, fen)
def test_money_addition_is_exact_and_associative(a: int, b: int, c: int) -> None:
    assert (Money(a) + Money(b)) + Money(c) == Money(a) + (Money(b) + Money(c)) == Money(a + b + c)
    assert Money(a) - Money(b) == Money(a) + -Money(b)


@given(st.integers(0, 1_000_000))
def test_a_rate_in_millionths_survives_the_percentage_text_and_the_integer_column(ppm: int) -> None:
    rate = Decimal(ppm).scaleb(-6)
    percent_text = str(rate * 100)
    assert parse_rate_percent(percent_text) == rate
    assert rate_ppm(parse_rate_percent(percent_text)) == ppm


@given(st.dates(date(1900, 1, 1), date(2100, 12, 31)), st.integers(-240, 240))
def test_adding_months_keeps_the_day_or_clamps_it_to_the_month_end(d: date, months: int) -> None:
    moved = add_months(d, months)
    assert (moved.year * 12 + moved.month) - (d.year * 12 + d.month) == months
    assert moved.day == min(d.day, calendar.monthrange(moved.year, moved.month)[1])

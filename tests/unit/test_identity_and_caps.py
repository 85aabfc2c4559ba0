"""Identity numbers and masking (PIPL), and the legal caps on penalty interest."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from daihou.domain.booking import book
from daihou.domain.caps import CAP_PROFILES, collectable_rates, lpr_1y
from daihou.domain.identity import (
    id_check_char,
    id_number_problem,
    mask_address,
    mask_id_number,
    mask_mobile,
    mask_name,
    mobile_problem,
    uscc_check_char,
    uscc_problem,
)
from daihou.domain.products import Product

# ---------------------------------------------------------------- resident ID numbers (GB 11643-1999)


@pytest.mark.parametrize("number", ["11010519491231002X", "11010519491231002x", " 440524188001010014 "])
def test_a_resident_id_number_with_a_right_check_digit_is_valid(number: str) -> None:
    assert id_number_problem(number) is None


def test_the_check_digit_is_iso_7064_mod_11_2() -> None:
    assert id_check_char("11010519491231002") == "X"
    assert id_check_char("44052418800101001") == "4"


@pytest.mark.parametrize(
    ("number", "problem"),
    [
        ("110105194912310021", "check digit is wrong"),
        ("11010519491231002Y", "17 digits and a check digit"),
        ("1101051949123100", "17 digits and a check digit"),
        ("110105194912310", "17 digits and a check digit"),  # the old 15-digit form is not accepted
        ("11010519491331002X", "birth date 19491331"),
        ("11010520230229002X", "birth date 20230229"),  # 2023 was not a leap year
        ("", "17 digits"),
    ],
)
def test_an_invalid_resident_id_number_says_what_is_wrong(number: str, problem: str) -> None:
    found = id_number_problem(number)
    assert found is not None and problem in found


def test_every_wrong_check_digit_is_caught() -> None:
    valid = "11010519491231002X"
    for wrong in "0123456789":
        assert id_number_problem(valid[:17] + wrong) is not None


# ---------------------------------------------------------------- unified social credit codes (GB 32100-2015)


@pytest.mark.parametrize("code", ["91350100M000100Y43", "91110000600037341L", "91110000600037341l"])
def test_a_unified_social_credit_code_with_a_right_check_character_is_valid(code: str) -> None:
    assert uscc_problem(code) is None


def test_the_credit_code_check_character_is_mod_31() -> None:
    assert uscc_check_char("91350100M000100Y4") == "3"


@pytest.mark.parametrize(
    ("code", "problem"),
    [
        ("91350100M000100Y44", "check character is wrong"),
        ("9135O100M000100Y43", "no I, O, S, V, Z"),  # letter O instead of zero
        ("91350100M000100Y4", "18 characters"),
        ("91350100M000100Y433", "18 characters"),
    ],
)
def test_an_invalid_credit_code_says_what_is_wrong(code: str, problem: str) -> None:
    found = uscc_problem(code)
    assert found is not None and problem in found


# ---------------------------------------------------------------- mobiles and masking


@pytest.mark.parametrize("number", ["13812345678", "19912345678", " 15000000000 "])
def test_mainland_mobile_numbers_are_valid(number: str) -> None:
    assert mobile_problem(number) is None


@pytest.mark.parametrize("number", ["12812345678", "1381234567", "138123456789", "+8613812345678", "1381234567a"])
def test_other_phone_numbers_are_not_mobiles(number: str) -> None:
    assert mobile_problem(number) is not None


def test_an_id_number_is_masked_to_its_region_and_last_four() -> None:
    assert mask_id_number("11010519491231002X") == "110105********002X"
    assert "19491231" not in mask_id_number("11010519491231002X")


def test_a_short_value_is_masked_entirely() -> None:
    assert mask_id_number("1234567890") == "**********"
    assert mask_mobile("1234567") == "*******"


def test_a_mobile_is_masked_in_the_middle() -> None:
    assert mask_mobile("13812345678") == "138****5678"


@pytest.mark.parametrize(
    ("name", "masked"), [("张三", "张*"), ("张小明", "张*明"), ("欧阳小明", "欧**明"), ("李", "李")]
)
def test_a_name_keeps_its_family_name_and_last_character(name: str, masked: str) -> None:
    assert mask_name(name) == masked


def test_an_address_keeps_only_province_and_city() -> None:
    assert mask_address("北京市朝阳区建国路88号") == "北京市朝阳区****"
    assert mask_address("北京市") == "北京市"


# ---------------------------------------------------------------- legal caps

CONTRACT_DAY = date(2026, 1, 15)


def test_a_bank_penalty_rate_above_one_and_a_half_times_the_contract_rate_is_clamped() -> None:
    rates = collectable_rates("bank", Decimal("0.049"), Decimal("0.1"), CONTRACT_DAY)
    assert rates.penalty_rate_annual == Decimal("0.0735")
    assert [f.code for f in rates.findings] == ["penalty_above_cap"]


def test_a_bank_penalty_rate_within_the_cap_is_kept_without_findings() -> None:
    rates = collectable_rates("bank", Decimal("0.049"), Decimal("0.0735"), CONTRACT_DAY)
    assert rates.penalty_rate_annual == Decimal("0.0735") and rates.findings == ()


def test_private_lending_is_capped_at_four_times_the_lpr_on_the_contract_date() -> None:
    assert lpr_1y(date(2026, 1, 15)) == Decimal("0.030")
    assert lpr_1y(date(2024, 8, 1)) == Decimal("0.0335")
    rates = collectable_rates("private_lending", Decimal("0.15"), Decimal("0.2"), date(2024, 8, 1))
    assert rates.penalty_rate_annual == Decimal("0.134")  # 4 × 3.35 %
    assert [f.code for f in rates.findings] == ["interest_above_cap", "penalty_above_cap"]


def test_private_lending_uses_the_lpr_in_force_on_the_contract_date_not_today() -> None:
    older = collectable_rates("private_lending", Decimal("0.1"), Decimal("0.2"), date(2020, 1, 1))
    newer = collectable_rates("private_lending", Decimal("0.1"), Decimal("0.2"), date(2025, 6, 1))
    assert older.penalty_rate_annual == Decimal("0.166")  # 4 × 4.15 %
    assert newer.penalty_rate_annual == Decimal("0.12")  # 4 × 3.0 %


def test_a_contract_before_the_first_lpr_fixing_uses_the_first_fixing() -> None:
    assert lpr_1y(date(2018, 1, 1)) == Decimal("0.0425")


def test_a_licensed_lender_above_24_percent_is_flagged_but_not_clamped() -> None:
    flagged = collectable_rates("licensed_lender", Decimal("0.2401"), Decimal("0.36"), CONTRACT_DAY)
    assert flagged.penalty_rate_annual == Decimal("0.36")
    assert [f.code for f in flagged.findings] == ["all_in_cost_above_24"]
    assert collectable_rates("licensed_lender", Decimal("0.24"), Decimal("0.36"), CONTRACT_DAY).findings == ()


def test_an_unknown_cap_profile_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown legal-cap profile"):
        collectable_rates("wild_west", Decimal("0.1"), Decimal("0.2"), CONTRACT_DAY)


def test_every_cap_profile_names_its_source() -> None:
    assert all(p.source for p in CAP_PROFILES.values())


def test_booking_a_bank_loan_charges_the_capped_penalty_rate_and_reports_the_finding() -> None:
    booked = book(Product("B", "bank"), "L1", 1_000_000, Decimal("0.12"), 12, CONTRACT_DAY, None, Decimal("0.3"))
    assert booked.loan.terms.penalty_rate_annual == Decimal("0.18")
    assert [f.code for f in booked.findings] == ["penalty_above_cap"]


def test_booking_without_a_penalty_rate_uses_the_product_multiplier() -> None:
    booked = book(Product("B", "bank"), "L1", 1_000_000, Decimal("0.049"), 12, CONTRACT_DAY)
    assert booked.loan.terms.penalty_rate_annual == Decimal("0.0735")
    assert booked.findings == ()

"""Collection conduct rules: quiet hours, daily caps, disputes, third parties, banned language."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from daihou.domain.compliance import (
    BANNED_LANGUAGE,
    DEFAULT_CONDUCT,
    Allowed,
    Code,
    ContactRequest,
    Refused,
    banned_phrases_in,
    check,
    template_problems,
)

SH = ZoneInfo("Asia/Shanghai")


def at(text: str) -> datetime:
    """A local Shanghai time, e.g. "2026-03-10 21:59"."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=SH)


def sms(when: str, **kw: object) -> Allowed | Refused:
    return check(ContactRequest("sms", at(when), **kw))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("when", "allowed"),
    [
        ("2026-03-10 21:59", True),
        ("2026-03-10 22:00", False),
        ("2026-03-10 23:30", False),
        ("2026-03-11 00:00", False),
        ("2026-03-11 07:59", False),
        ("2026-03-11 08:00", True),
        ("2026-03-11 12:00", True),
    ],
)
def test_sms_is_allowed_from_08_00_until_just_before_22_00_shanghai_time(when: str, allowed: bool) -> None:
    assert sms(when).ok is allowed


def test_a_message_refused_in_the_evening_moves_to_eight_the_next_morning() -> None:
    refused = sms("2026-03-10 22:00")
    assert isinstance(refused, Refused)
    assert refused.code is Code.OUTSIDE_CONTACT_HOURS
    assert refused.next_allowed_at == at("2026-03-11 08:00")
    assert "GB/T 45251" in refused.reason


def test_a_message_refused_before_dawn_moves_to_eight_the_same_morning() -> None:
    refused = sms("2026-03-11 07:59")
    assert isinstance(refused, Refused) and refused.next_allowed_at == at("2026-03-11 08:00")


def test_quiet_hours_are_judged_in_shanghai_time_whatever_zone_the_clock_gives() -> None:
    utc_evening = datetime(2026, 3, 10, 14, 30, tzinfo=UTC)  # 22:30 in Shanghai
    refused = check(ContactRequest("sms", utc_evening))
    assert isinstance(refused, Refused)
    assert refused.next_allowed_at == at("2026-03-11 08:00")


@pytest.mark.parametrize("channel", ["call", "robot_call", "sms", "email", "inbox"])
def test_quiet_hours_cover_every_reminder_channel_by_default(channel: str) -> None:
    assert not check(ContactRequest(channel, at("2026-03-10 23:00"))).ok


def test_a_lender_can_let_email_through_at_night_by_changing_the_data() -> None:
    quiet = replace(DEFAULT_CONDUCT.quiet_hours, channels=frozenset({"call", "robot_call", "sms"}))
    rules = replace(DEFAULT_CONDUCT, quiet_hours=quiet)
    assert check(ContactRequest("email", at("2026-03-10 23:00")), rules).ok
    assert not check(ContactRequest("sms", at("2026-03-10 23:00")), rules).ok


def test_a_fourth_connected_call_in_a_day_waits_for_the_next_morning() -> None:
    third = ContactRequest("robot_call", at("2026-03-10 15:00"), today={Code.VOICE_CAP_REACHED: 2})
    fourth = ContactRequest("robot_call", at("2026-03-10 15:00"), today={Code.VOICE_CAP_REACHED: 3})
    assert check(third).ok
    refused = check(fourth)
    assert isinstance(refused, Refused)
    assert refused.code is Code.VOICE_CAP_REACHED
    assert refused.next_allowed_at == at("2026-03-11 08:00")


def test_a_seventh_dial_to_one_number_in_a_day_is_refused() -> None:
    assert check(ContactRequest("robot_call", at("2026-03-10 11:00"), today={Code.DIAL_CAP_REACHED: 5})).ok
    refused = check(ContactRequest("robot_call", at("2026-03-10 11:00"), today={Code.DIAL_CAP_REACHED: 6}))
    assert isinstance(refused, Refused) and refused.code is Code.DIAL_CAP_REACHED


def test_voice_caps_do_not_limit_sms() -> None:
    assert sms("2026-03-10 11:00", today={Code.VOICE_CAP_REACHED: 9, Code.DIAL_CAP_REACHED: 9}).ok


def test_a_disputed_debt_is_held_without_a_time_until_the_dispute_is_resolved() -> None:
    refused = sms("2026-03-10 11:00", disputed=True)
    assert isinstance(refused, Refused)
    assert refused.code is Code.DEBT_DISPUTED and refused.next_allowed_at is None


def test_a_contact_person_is_never_told_about_the_debt() -> None:
    refused = sms("2026-03-10 11:00", to_contact_person=True, discloses_debt=True)
    assert isinstance(refused, Refused) and refused.code is Code.THIRD_PARTY_DISCLOSURE
    assert sms("2026-03-10 11:00", to_contact_person=True, discloses_debt=False).ok


def test_every_rule_names_its_source() -> None:
    assert DEFAULT_CONDUCT.quiet_hours.source
    assert all(cap.source for cap in DEFAULT_CONDUCT.caps)
    assert DEFAULT_CONDUCT.quiet_hours.start == time(22) and DEFAULT_CONDUCT.quiet_hours.end == time(8)
    assert {c.limit for c in DEFAULT_CONDUCT.caps} == {3, 6}


# ---------------------------------------------------------------- banned language


@pytest.mark.parametrize(
    "text",
    [
        "再不还款就让你坐牢",
        "我们将通知公安机关",
        "你是老赖",
        "我们会上门拜访",
        "将在朋友圈曝光你",
        "我们会联系你通讯录里的所有人",
        "The police will arrest you",
        "You will go to JAIL",
        "Shame on you",
        "We were arrested",
    ],
)
def test_threats_insults_and_false_authority_are_found(text: str) -> None:
    assert banned_phrases_in(text)


@pytest.mark.parametrize(
    "text",
    [
        "您的贷款第3期将于2026-03-15到期，应还1066.19元。",
        "Installment 3 of your loan is due on 2026-03-15. Please repay in the app.",
        "Our policy is to help: call us if you have difficulties.",  # "policy" is not "police"
        "Please keep a healthy diet",  # "diet" is not "die"
    ],
)
def test_ordinary_reminder_language_passes(text: str) -> None:
    assert banned_phrases_in(text) == ()


def test_a_template_with_banned_phrases_is_refused_with_every_phrase_listed() -> None:
    problems = template_problems(["逾期将被公安立案，你这个老赖", "police"], [], to_contact_person=False)
    assert [p.code for p in problems] == [Code.BANNED_LANGUAGE]
    reason = problems[0].reason
    assert "公安" in reason and "老赖" in reason and "police" in reason
    assert BANNED_LANGUAGE.source.split(":")[0] in reason


def test_a_template_for_a_contact_person_may_not_carry_the_amount_or_due_date() -> None:
    problems = template_problems(["请转告{{ name }}还款{{ amount }}元"], ["name", "amount", "due_date"], True)
    assert [p.code for p in problems] == [Code.DEBT_PLACEHOLDER_FOR_CONTACT]
    assert "amount" in problems[0].reason and "due_date" in problems[0].reason
    assert template_problems(["请转告{{ name }}致电我们"], ["name"], True) == ()


def test_the_borrower_may_be_told_the_amount() -> None:
    assert template_problems(["应还{{ amount }}元"], ["amount", "due_date"], to_contact_person=False) == ()

"""Reminder policy as data, step arithmetic, template rendering and checks, and the dispatcher's
decisions (against an in-memory store; tests/integration runs them against real databases)."""

from __future__ import annotations

import tomllib
from dataclasses import replace
from datetime import UTC, date, datetime, time
from importlib import resources
from zoneinfo import ZoneInfo

import pytest

from daihou.channels.ports import Failed, Message, Sent
from daihou.domain.compliance import Code
from daihou.domain.reminders import (
    Audience,
    Channel,
    Retry,
    Template,
    Text,
    planned_at,
    policy_from_dict,
    steps_on,
    template_digest,
)
from daihou.workflow.ports import Due, Finish
from daihou.workflow.reminders import Rejected, dispatch, load_policy, template_problems
from daihou.workflow.templates import RenderError, render

SH = ZoneInfo("Asia/Shanghai")
POLICY = load_policy()


def _data() -> dict:  # type: ignore[type-arg]
    return tomllib.loads(resources.files("daihou.workflow").joinpath("reminder_policy.toml").read_text("utf-8"))


# ---------------------------------------------------------------- steps


def test_the_default_policy_reminds_at_t_minus_3_t_minus_1_due_day_and_t_plus_1_3_7() -> None:
    assert [s.offset_days for s in POLICY.steps] == [-3, -1, 0, 1, 3, 7]
    assert {s.channel for s in POLICY.steps} == set(Channel)


@pytest.mark.parametrize(
    ("day", "codes"),
    [
        ("2026-03-12", ["T-3"]),
        ("2026-03-13", []),
        ("2026-03-14", ["T-1"]),
        ("2026-03-15", ["T0"]),
        ("2026-03-16", ["T+1"]),
        ("2026-03-18", ["T+3"]),
        ("2026-03-22", ["T+7"]),
        ("2026-03-23", []),
    ],
)
def test_the_steps_due_on_a_day_are_those_whose_offset_from_the_due_date_hits_it(day: str, codes: list[str]) -> None:
    assert [s.code for s in steps_on(POLICY, date(2026, 3, 15), date.fromisoformat(day))] == codes


def test_a_reminder_is_planned_on_the_business_date_at_the_steps_shanghai_time() -> None:
    step = POLICY.steps[0]
    assert planned_at(step, date(2026, 3, 12), SH) == datetime(2026, 3, 12, 9, 0, tzinfo=SH)
    assert planned_at(step, date(2026, 3, 12), SH).astimezone(UTC).hour == 1


def test_backoff_doubles_from_the_first_delay_up_to_the_maximum() -> None:
    retry = Retry(max_attempts=6, first_delay_s=300, factor=2, max_delay_s=1000)
    assert [retry.delay_s(n) for n in range(1, 5)] == [300, 600, 1000, 1000]


def test_a_policy_with_a_step_inside_quiet_hours_is_refused() -> None:
    data = _data()
    data["steps"][0]["send_at"] = "07:30"
    with pytest.raises(ValueError, match=r"T-3 is planned at 07:30, inside quiet hours"):
        policy_from_dict(data)


def test_a_policy_naming_a_missing_template_or_locale_is_refused_with_each_problem() -> None:
    data = _data()
    data["steps"][1]["template"] = "nope"
    del data["templates"]["sms_overdue"]["en"]
    with pytest.raises(ValueError) as info:
        policy_from_dict(data)
    assert "T-1 names unknown template nope" in str(info.value)
    assert "template sms_overdue has no text for en" in str(info.value)


# ---------------------------------------------------------------- templates

FACTS = {
    "name": "张三",
    "loan_no": "LN0001",
    "installment_no": "3",
    "due_date": "2026-03-15",
    "amount": "1066.19",
    "days": "3",
}


def test_a_template_renders_in_chinese_with_amount_due_date_how_to_pay_and_contact_line() -> None:
    _, body = render(POLICY.template("sms_before_due"), "zh-CN", {**POLICY.shared_texts("zh-CN"), **FACTS})
    assert body.startswith("【示例银行】张三您好")
    assert "2026-03-15到期，应还1066.19元" in body
    assert "手机银行" in body and "95555" in body


def test_a_template_renders_in_english_with_a_subject() -> None:
    subject, body = render(POLICY.template("email_before_due"), "en", {**POLICY.shared_texts("en"), **FACTS})
    assert subject == "Repayment reminder: CNY 1066.19 due on 2026-03-15"
    assert "Installment 3 of your loan LN0001 with Example Bank is due on 2026-03-15" in body
    assert "95555" in body


def test_a_missing_variable_is_an_error_not_a_blank() -> None:
    facts = {k: v for k, v in FACTS.items() if k != "amount"}
    with pytest.raises(RenderError, match="'amount' is undefined"):
        render(POLICY.template("sms_due_today"), "zh-CN", {**POLICY.shared_texts("zh-CN"), **facts})


def test_templates_cannot_reach_python_internals() -> None:
    evil = Template("x", Channel.SMS, Audience.BORROWER, (Text("zh-CN", "", "{{ name.__class__.__mro__ }}"),))
    with pytest.raises(Exception, match=r"unsafe|access"):
        render(evil, "zh-CN", {"name": "a"})


def test_every_shipped_template_passes_the_language_check() -> None:
    assert {t.id: template_problems(POLICY, t) for t in POLICY.templates} == {t.id: () for t in POLICY.templates}


def test_a_shipped_contact_template_never_names_the_debt() -> None:
    contact = POLICY.template("contact_callback")
    assert contact.audience is Audience.CONTACT
    assert not contact.placeholders & {"amount", "due_date", "loan_no", "installment_no"}


def test_editing_a_template_changes_its_digest_so_it_needs_a_new_activation() -> None:
    t = POLICY.template("sms_due_today")
    edited = replace(t, texts=(replace(t.texts[0], body=t.texts[0].body + "谢谢"), *t.texts[1:]))
    assert template_digest(POLICY, t) == template_digest(POLICY, POLICY.template("sms_due_today"))
    assert template_digest(POLICY, edited) != template_digest(POLICY, t)


# ---------------------------------------------------------------- the dispatcher's decisions


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


class MemoryStore:
    """Just enough of the store for the dispatcher: reminders in a dict, attempts in a list."""

    def __init__(self, *dues: Due) -> None:
        self.rows = {d.id: {"due": d, "status": "pending", "next": d.planned_at, "token": None} for d in dues}
        self.attempts: list[tuple[int, Finish]] = []
        self.active = {(t.id, template_digest(POLICY, t)) for t in POLICY.templates}

    def claim(self, now, channels, template_ids, token, limit):  # type: ignore[no-untyped-def]
        out = []
        for row in self.rows.values():
            due = row["due"]
            if row["status"] == "pending" and row["next"] <= now and due.channel in channels:
                row.update(status="sending", token=token)
                out.append(due)
        return out[:limit]

    def today_counts(self, due, caps, start, end):  # type: ignore[no-untyped-def]
        return {}

    def finish(self, due, token, outcome):  # type: ignore[no-untyped-def]
        row = self.rows[due.id]
        if row["token"] != token or row["status"] != "sending":
            return False
        row.update(status=outcome.status, next=outcome.next_attempt_at, token=None)
        row["due"] = replace(due, failures=outcome.failures)
        self.attempts.append((due.id, outcome))
        return True

    def release(self, ids, token):  # type: ignore[no-untyped-def]
        for i in ids:
            self.rows[i].update(status="pending", token=None)

    def waiting(self, now):  # type: ignore[no-untyped-def]
        return 0

    def activated(self):  # type: ignore[no-untyped-def]
        return self.active


class Flaky:
    name = "sms"

    def __init__(self, *answers: Sent | Failed) -> None:
        self.answers, self.sent = list(answers), []

    def send(self, message: Message) -> Sent | Failed:
        self.sent.append(message)
        return self.answers.pop(0) if self.answers else Sent("ok")


def _due(**kw: object) -> Due:
    base = Due(
        1,
        "LN0001",
        3,
        date(2026, 3, 15),
        "T0",
        "sms",
        "sms_due_today",
        "zh-CN",
        7,
        "张三",
        "13800000000",
        datetime(2026, 3, 15, 9, 0, tzinfo=SH),
        0,
        106_619,
        True,
        False,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def test_a_due_reminder_is_rendered_and_sent_once() -> None:
    store, sms = MemoryStore(_due()), Flaky()
    result = dispatch(store, {"sms": sms}, POLICY, Clock(datetime(2026, 3, 15, 9, 0, tzinfo=SH)))
    again = dispatch(store, {"sms": sms}, POLICY, Clock(datetime(2026, 3, 15, 9, 5, tzinfo=SH)))
    assert (result.sent, again.sent) == (1, 0)
    assert len(sms.sent) == 1 and "应还1066.19元" in sms.sent[0].body
    assert sms.sent[0].params["amount"] == "1066.19" and sms.sent[0].provider_code == "SMS_480000002"


def test_a_reminder_due_in_quiet_hours_is_rescheduled_to_eight_not_dropped() -> None:
    store, sms = MemoryStore(_due(planned_at=datetime(2026, 3, 15, 6, 0, tzinfo=SH))), Flaky()
    result = dispatch(store, {"sms": sms}, POLICY, Clock(datetime(2026, 3, 15, 7, 59, tzinfo=SH)))
    assert result.rescheduled == 1 and sms.sent == []
    assert store.rows[1]["status"] == "pending" and store.rows[1]["next"] == datetime(2026, 3, 15, 8, 0, tzinfo=SH)
    assert store.attempts[0][1].code == Code.OUTSIDE_CONTACT_HOURS
    assert dispatch(store, {"sms": sms}, POLICY, Clock(datetime(2026, 3, 15, 8, 0, tzinfo=SH))).sent == 1


def test_a_failed_send_is_retried_with_exponential_backoff_then_given_up() -> None:
    store = MemoryStore(_due())
    sms = Flaky(*(Failed("isp.SYSTEM_ERROR", "busy") for _ in range(9)))
    now = datetime(2026, 3, 15, 9, 0, tzinfo=SH)
    delays = []
    for _ in range(POLICY.retry.max_attempts):
        dispatch(store, {"sms": sms}, POLICY, Clock(now))
        nxt = store.rows[1]["next"]
        if nxt is not None:
            delays.append((nxt - now).total_seconds())
            now = nxt
    assert delays == [300, 600, 1200]
    assert store.rows[1]["status"] == "failed" and len(sms.sent) == POLICY.retry.max_attempts


def test_a_permanent_provider_error_is_not_retried() -> None:
    store, sms = MemoryStore(_due()), Flaky(Failed("isv.MOBILE_NUMBER_ILLEGAL", "bad number", retryable=False))
    result = dispatch(store, {"sms": sms}, POLICY, Clock(datetime(2026, 3, 15, 9, 0, tzinfo=SH)))
    assert result.given_up == 1 and store.rows[1]["status"] == "failed"


def test_a_reminder_for_an_installment_paid_meanwhile_is_cancelled_unsent() -> None:
    store, sms = MemoryStore(_due(installment_open=False)), Flaky()
    result = dispatch(store, {"sms": sms}, POLICY, Clock(datetime(2026, 3, 15, 9, 0, tzinfo=SH)))
    assert result.cancelled == 1 and sms.sent == [] and store.rows[1]["status"] == "cancelled"


def test_a_disputed_debt_holds_the_reminder() -> None:
    store, sms = MemoryStore(_due(disputed=True)), Flaky()
    result = dispatch(store, {"sms": sms}, POLICY, Clock(datetime(2026, 3, 15, 9, 0, tzinfo=SH)))
    assert result.held == 1 and sms.sent == [] and store.rows[1]["status"] == "held"


def test_the_overdue_message_counts_days_from_the_due_date_to_the_sending_day() -> None:
    due = _due(step_code="T+3", template_id="sms_overdue", planned_at=datetime(2026, 3, 18, 10, tzinfo=SH))
    store, sms = MemoryStore(due), Flaky()
    dispatch(store, {"sms": sms}, POLICY, Clock(datetime(2026, 3, 18, 10, 0, tzinfo=SH)))
    assert "已逾期3天" in sms.sent[0].body


def test_activating_an_unknown_template_is_refused() -> None:
    from daihou.workflow.reminders import activate

    outcome = activate(MemoryStore(), POLICY, "nope", "tester", datetime(2026, 3, 1, tzinfo=UTC))  # type: ignore[arg-type]
    assert isinstance(outcome, Rejected) and outcome.code == "unknown_template"


def test_planned_times_of_the_default_policy_are_all_inside_contact_hours() -> None:
    assert all(time(8) <= s.send_at < time(22) for s in POLICY.steps)


def test_a_crash_after_claiming_gives_unsent_reminders_back_but_never_one_that_reached_the_channel() -> None:
    class Crashing(MemoryStore):
        def finish(self, due, token, outcome):  # type: ignore[no-untyped-def]
            raise ConnectionError("database went away")

    store, sms = Crashing(_due(id=1), _due(id=2), _due(id=3)), Flaky()
    with pytest.raises(ConnectionError):
        dispatch(store, {"sms": sms}, POLICY, Clock(datetime(2026, 3, 15, 9, 0, tzinfo=SH)))
    assert [m.reminder_id for m in sms.sent] == [1]
    assert [store.rows[i]["status"] for i in (1, 2, 3)] == ["sending", "pending", "pending"]

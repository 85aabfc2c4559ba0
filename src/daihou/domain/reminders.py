"""Repayment reminders (还款提醒) as data: a policy of steps around each due date, and templates.

A step says "`offset_days` from the due date, on `channel`, at `send_at` local time, with `template`":
T-3 is offset -3, the due day 0, T+7 is 7. Which steps fall on a business date and when each is
planned are pure functions here; rendering (Jinja2) lives in `daihou.workflow`, sending in
`daihou.channels`, and the language rules a template must pass in `daihou.domain.compliance`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from daihou.domain.compliance import DEFAULT_CONDUCT, ConductRules

LOCALES = ("zh-CN", "en")
SHARED_KEYS = ("lender", "how_to_pay", "contact_line")  # per-locale texts every template may use


class Channel(StrEnum):
    SMS = "sms"
    EMAIL = "email"
    INBOX = "inbox"  # the borrower portal's message box (站内信)
    ROBOT_CALL = "robot_call"  # a task for the outbound robot dialler (智能语音外呼)


class Audience(StrEnum):
    BORROWER = "borrower"
    CONTACT = "contact"  # an emergency contact: may never be told the debt


@dataclass(frozen=True, slots=True)
class Step:
    code: str  # "T-3", "T0", "T+7"
    offset_days: int  # from the due date: -3 is three days before it
    channel: Channel
    send_at: time  # local time of day
    template_id: str


@dataclass(frozen=True, slots=True)
class Text:
    locale: str
    subject: str  # email and inbox; empty for SMS and calls
    body: str


@dataclass(frozen=True, slots=True)
class Template:
    id: str
    channel: Channel
    audience: Audience
    texts: tuple[Text, ...]
    provider_code: str = ""  # the template registered with an SMS provider (e.g. SMS_480000001)

    def text(self, locale: str) -> Text:
        for t in self.texts:
            if t.locale == locale:
                return t
        raise KeyError(f"template {self.id} has no {locale} text")

    @property
    def placeholders(self) -> frozenset[str]:
        return frozenset(p for t in self.texts for p in placeholders(t.subject) | placeholders(t.body))


@dataclass(frozen=True, slots=True)
class Retry:
    """Failed sends are retried after first_delay_s × factor^(n-1), at most max_delay_s, up to max_attempts."""

    max_attempts: int = 4
    first_delay_s: int = 300
    factor: int = 2
    max_delay_s: int = 7200

    def delay_s(self, failures: int) -> int:
        assert failures >= 1
        return int(min(self.first_delay_s * self.factor ** (failures - 1), self.max_delay_s))


@dataclass(frozen=True, slots=True)
class ReminderPolicy:
    name: str
    effective: date
    timezone: str
    default_locale: str
    steps: tuple[Step, ...]
    templates: tuple[Template, ...]
    shared: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]  # locale -> (key, text)
    retry: Retry = Retry()

    def template(self, template_id: str) -> Template:
        for t in self.templates:
            if t.id == template_id:
                return t
        raise KeyError(template_id)

    def shared_texts(self, locale: str) -> dict[str, str]:
        return dict(dict(self.shared)[locale])

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_]\w*)")


def placeholders(text: str) -> frozenset[str]:
    """The variable names a Jinja2 text uses in `{{ … }}` (the first name of each expression)."""
    return frozenset(_PLACEHOLDER.findall(text))


def steps_on(policy: ReminderPolicy, due_date: date, day: date) -> tuple[Step, ...]:
    """The steps of an installment due on `due_date` that fall on business date `day`."""
    return tuple(s for s in policy.steps if due_date + timedelta(days=s.offset_days) == day)


def due_date_hit(step: Step, day: date) -> date:
    """The due date whose installments `step` reminds on `day` (the inverse of `steps_on`)."""
    return day - timedelta(days=step.offset_days)


def planned_at(step: Step, day: date, tz: ZoneInfo) -> datetime:
    """When the step's reminder should go out: `day` at the step's time, local."""
    return datetime.combine(day, step.send_at, tzinfo=tz)


def checked_texts(policy: ReminderPolicy, template: Template) -> tuple[str, ...]:
    """Everything a template can put in front of a person: its texts and the shared texts it uses."""
    used = template.placeholders
    shared = tuple(v for _, pairs in policy.shared for k, v in pairs if k in used)
    return tuple(x for t in template.texts for x in (t.subject, t.body)) + shared


def template_digest(policy: ReminderPolicy, template: Template) -> str:
    """SHA-256 of what a template sends: an activation holds for exactly these texts."""
    data = {
        "id": template.id,
        "channel": template.channel.value,
        "audience": template.audience.value,
        "provider_code": template.provider_code,
        "texts": [[t.locale, t.subject, t.body] for t in template.texts],
        "shared": checked_texts(policy, template)[2 * len(template.texts) :],
    }
    return hashlib.sha256(json.dumps(data, ensure_ascii=False, sort_keys=True).encode()).hexdigest()


# ---------------------------------------------------------------- the policy file


def policy_from_dict(data: Mapping[str, Any], conduct: ConductRules = DEFAULT_CONDUCT) -> ReminderPolicy:
    """Parse and check a policy (the TOML form); raises ValueError naming every problem."""
    try:
        policy = _parse(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"invalid reminder policy: {exc!r}") from exc
    if problems := policy_problems(policy, conduct):
        raise ValueError("invalid reminder policy: " + "; ".join(problems))
    return policy


def _parse(data: Mapping[str, Any]) -> ReminderPolicy:
    templates = tuple(
        Template(
            tid,
            Channel(t["channel"]),
            Audience(t.get("audience", "borrower")),
            tuple(Text(loc, str(t[loc].get("subject", "")), str(t[loc]["body"])) for loc in LOCALES if loc in t),
            str(t.get("provider_code", "")),
        )
        for tid, t in data["templates"].items()
    )
    steps = tuple(
        Step(
            str(s["code"]),
            int(s["offset_days"]),
            Channel(s["channel"]),
            time.fromisoformat(s["send_at"]),
            s["template"],
        )
        for s in data["steps"]
    )
    shared = tuple(
        (loc, tuple((k, str(data["shared"][loc][k])) for k in SHARED_KEYS)) for loc in LOCALES if loc in data["shared"]
    )
    r = data.get("retry", {})
    retry = Retry(
        int(r.get("max_attempts", 4)),
        int(r.get("first_delay_s", 300)),
        int(r.get("factor", 2)),
        int(r.get("max_delay_s", 7200)),
    )
    return ReminderPolicy(
        str(data["name"]),
        date.fromisoformat(str(data["effective"])),
        str(data.get("timezone", "Asia/Shanghai")),
        str(data.get("default_locale", "zh-CN")),
        steps,
        templates,
        shared,
        retry,
    )


def policy_problems(policy: ReminderPolicy, conduct: ConductRules = DEFAULT_CONDUCT) -> list[str]:
    """What is inconsistent in a policy: unknown templates, missing locales, steps in quiet hours, …"""
    out: list[str] = []
    ids = {t.id for t in policy.templates}
    codes = [s.code for s in policy.steps]
    if len(set(codes)) != len(codes):
        out.append("step codes must be unique")
    if policy.default_locale not in LOCALES:
        out.append(f"default_locale {policy.default_locale} is not one of {', '.join(LOCALES)}")
    for loc in LOCALES:
        if loc not in dict(policy.shared):
            out.append(f"shared texts for {loc} are missing")
    for t in policy.templates:
        missing = [loc for loc in LOCALES if loc not in {x.locale for x in t.texts}]
        if missing:
            out.append(f"template {t.id} has no text for {', '.join(missing)}")
    for s in policy.steps:
        if s.template_id not in ids:
            out.append(f"step {s.code} names unknown template {s.template_id}")
        elif policy.template(s.template_id).channel is not s.channel:
            out.append(f"step {s.code} sends on {s.channel} but template {s.template_id} is for another channel")
        elif policy.template(s.template_id).audience is not Audience.BORROWER:
            out.append(f"step {s.code}: reminders go to the borrower, template {s.template_id} does not")
        quiet = conduct.quiet_hours
        if s.channel.value in quiet.channels and quiet.contains(s.send_at):
            out.append(f"step {s.code} is planned at {s.send_at:%H:%M}, inside quiet hours")
    rt = policy.retry
    if rt.max_attempts < 1 or rt.first_delay_s < 1 or rt.factor < 1 or rt.max_delay_s < rt.first_delay_s:
        out.append("retry: max_attempts ≥ 1, first_delay_s ≥ 1, factor ≥ 1, max_delay_s ≥ first_delay_s")
    return out

"""Repayment reminders (还款提醒): generate them for a business date, dispatch the due ones.

- `generate_reminders(target, day)` creates, set-based and idempotently, one reminder per policy
  step that falls on `day` for every open installment not yet settled (the close of business calls
  it for the next business date).
- `dispatch(...)` sends what is due: claims by a conditional UPDATE (never twice), cancels what was
  paid meanwhile, checks conduct rules (quiet hours, caps, disputes) and moves refused reminders to
  the next allowed time, sends through the channel ports, records every attempt and retries failures
  with exponential backoff up to the policy's maximum.
- `build(app)` wires the store and the configured channels for the CLI (which may not import storage).
"""

from __future__ import annotations

import tomllib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from daihou.channels.ports import ChannelPort, Failed, Message, Sent
from daihou.domain import compliance
from daihou.domain.compliance import DEBT_PLACEHOLDERS, ConductRules, ContactRequest, Refused
from daihou.domain.money import yuan_text
from daihou.domain.reminders import (
    Audience,
    ReminderPolicy,
    Template,
    checked_texts,
    policy_from_dict,
    template_digest,
)
from daihou.service.ports import Clock
from daihou.workflow.ports import Due, Finish, ReminderStore, ReminderView
from daihou.workflow.templates import RenderError, render

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

    from daihou.bootstrap import App

BATCH = 200  # reminders claimed per round


def load_policy(path: Path | None = None, conduct: ConductRules = compliance.DEFAULT_CONDUCT) -> ReminderPolicy:
    """The policy in `path` (TOML), or the default shipped with daihou."""
    if path is None:
        text = resources.files("daihou.workflow").joinpath("reminder_policy.toml").read_text(encoding="utf-8")
    else:
        text = path.read_text(encoding="utf-8")
    return policy_from_dict(tomllib.loads(text), conduct)


# ---------------------------------------------------------------- generation


@dataclass(frozen=True, slots=True)
class Generated:
    business_date: date
    per_step: dict[str, int]

    @property
    def created(self) -> int:
        return sum(self.per_step.values())


def generate_reminders(
    target: App | Engine | Connection,
    day: date,
    *,
    now: datetime | None = None,
    policy: ReminderPolicy | None = None,
) -> Generated:
    """Create the reminders planned on business date `day` (idempotent: a rerun creates nothing new).

    `target` is the App (its clock stamps the rows), an Engine (own transaction) or a Connection
    (the caller's transaction: the close of business can include it in its write-back).
    """
    from sqlalchemy import Connection, Engine

    from daihou.storage.reminder_store import generate

    policy = policy or load_policy()
    if not isinstance(target, Engine | Connection):
        now = now or target.clock.now()
        target = target.engine
    assert now is not None, "pass `now` (the clock) with an Engine or a Connection"
    if isinstance(target, Connection):
        return Generated(day, generate(target, day, policy, now))
    with target.begin() as conn:
        return Generated(day, generate(conn, day, policy, now))


# ---------------------------------------------------------------- dispatch


@dataclass
class Dispatched:
    sent: int = 0
    delivered: int = 0
    failed: int = 0  # attempts that failed (retried later or given up)
    given_up: int = 0  # reminders that reached the maximum attempts or failed for good
    rescheduled: int = 0
    held: int = 0
    cancelled: int = 0
    waiting: int = 0  # due but not sendable now: template not activated or channel not configured
    codes: dict[str, int] = field(default_factory=dict)

    def count(self, finish: Finish) -> None:
        setattr(self, finish.attempt_status, getattr(self, finish.attempt_status) + 1)
        if finish.status == "failed":
            self.given_up += 1
        if finish.code:
            self.codes[finish.code] = self.codes.get(finish.code, 0) + 1


def active_templates(policy: ReminderPolicy, activated: set[tuple[str, str]]) -> list[str]:
    """Templates whose current texts were activated (an edited template must be activated again)."""
    return [t.id for t in policy.templates if (t.id, template_digest(policy, t)) in activated]


def dispatch(
    store: ReminderStore,
    channels: Mapping[str, ChannelPort],
    policy: ReminderPolicy,
    clock: Clock,
    conduct: ConductRules = compliance.DEFAULT_CONDUCT,
    batch: int = BATCH,
) -> Dispatched:
    """Send every reminder due by the clock's now on a configured channel with an active template."""
    result = Dispatched()
    templates = active_templates(policy, store.activated())
    token = uuid.uuid4().hex
    while claimed := store.claim(clock.now(), sorted(channels), templates, token, batch):
        unsent = {d.id for d in claimed}
        try:
            for due in claimed:
                now = clock.now()
                decided = _decide(due, store, policy, now, conduct)
                if isinstance(decided, Message):
                    unsent.discard(due.id)  # it may reach the borrower now: never given back to the queue
                    decided = _after_send(due, channels[due.channel].send(decided), policy, now)
                if store.finish(due, token, decided):
                    result.count(decided)
                unsent.discard(due.id)
        finally:
            store.release(unsent, token)  # claimed, never sent: back to the queue as they were
    result.waiting = store.waiting(clock.now())
    return result


def _decide(
    due: Due, store: ReminderStore, policy: ReminderPolicy, now: datetime, conduct: ConductRules
) -> Finish | Message:
    """The message to send now, or why not (paid meanwhile, refused by a conduct rule, unrenderable)."""
    if not due.installment_open or due.amount_due_fen <= 0:
        return Finish("cancelled", "cancelled", now, code="installment_settled", failures=due.failures)
    template = policy.template(due.template_id)
    start, end = conduct.day_window(now)
    verdict = compliance.check(
        ContactRequest(
            due.channel,
            now,
            to_contact_person=template.audience is Audience.CONTACT,
            discloses_debt=bool(template.placeholders & DEBT_PLACEHOLDERS),
            disputed=due.disputed,
            today=store.today_counts(due, conduct.caps, start, end),
        ),
        conduct,
    )
    if isinstance(verdict, Refused):
        if verdict.next_allowed_at is None:
            return Finish("held", "held", now, code=verdict.code, detail=verdict.reason, failures=due.failures)
        return Finish(
            "pending",
            "rescheduled",
            now,
            next_attempt_at=verdict.next_allowed_at,
            code=verdict.code,
            detail=verdict.reason,
            failures=due.failures,
        )
    try:
        return _message(due, template, policy, now)
    except RenderError as exc:
        return Finish("failed", "failed", now, code="template_error", detail=str(exc), failures=due.failures + 1)


def _after_send(due: Due, outcome: Sent | Failed, policy: ReminderPolicy, now: datetime) -> Finish:
    if isinstance(outcome, Sent):
        status = "delivered" if outcome.delivered else "sent"
        return Finish(status, status, now, provider_message_id=outcome.provider_message_id, failures=due.failures)
    return _failed(due, outcome, policy, now)


def _failed(due: Due, outcome: Failed, policy: ReminderPolicy, now: datetime) -> Finish:
    failures = due.failures + 1
    if outcome.retryable and failures < policy.retry.max_attempts:
        retry_at = now + timedelta(seconds=policy.retry.delay_s(failures))
        return Finish("pending", "failed", now, retry_at, failures, outcome.code, outcome.reason)
    return Finish("failed", "failed", now, None, failures, outcome.code, outcome.reason)


def variables(due: Due, policy: ReminderPolicy, locale: str, now: datetime) -> dict[str, str]:
    """What a template may use: the reminder's facts and the policy's shared texts."""
    today = now.astimezone(policy.tz).date()
    return {
        **policy.shared_texts(locale),
        "name": due.borrower_name,
        "loan_no": due.loan_no,
        "installment_no": str(due.installment_no),
        "due_date": due.due_date.isoformat(),
        "amount": yuan_text(due.amount_due_fen),
        "days": str(abs((today - due.due_date).days)),
    }


def _message(due: Due, template: Template, policy: ReminderPolicy, now: datetime) -> Message:
    locale = due.locale if due.locale in {t.locale for t in template.texts} else policy.default_locale
    params = variables(due, policy, locale, now)
    subject, body = render(template, locale, params)
    used = {k: v for k, v in params.items() if k in template.placeholders}
    return Message(
        due.id, due.channel, due.address, subject, body, locale, due.borrower_id, template.provider_code, used
    )


# ---------------------------------------------------------------- templates


@dataclass(frozen=True, slots=True)
class TemplateView:
    id: str
    channel: str
    audience: str
    active: bool
    problems: tuple[Refused, ...]


@dataclass(frozen=True, slots=True)
class Activated:
    template_id: str
    digest: str
    ok = True


@dataclass(frozen=True, slots=True)
class Rejected:
    code: str  # unknown_template, banned_language, debt_placeholder_for_contact
    reason: str
    ok = False


def template_problems(policy: ReminderPolicy, template: Template) -> tuple[Refused, ...]:
    return compliance.template_problems(
        checked_texts(policy, template), template.placeholders, template.audience is Audience.CONTACT
    )


def activate(
    store: ReminderStore, policy: ReminderPolicy, template_id: str, by: str, at: datetime
) -> Activated | Rejected:
    """Let a template send, once it passes the language check (banned phrases, no debt to contacts)."""
    try:
        template = policy.template(template_id)
    except KeyError:
        return Rejected("unknown_template", f"no template {template_id} in policy {policy.name}")
    if problems := template_problems(policy, template):
        return Rejected(problems[0].code.value, "; ".join(p.reason for p in problems))
    digest = template_digest(policy, template)
    store.activate(template_id, digest, by, at)
    return Activated(template_id, digest)


# ---------------------------------------------------------------- wiring for drivers


@dataclass
class ReminderService:
    """The reminder use cases bound to one store, policy, clock and set of channels."""

    store: ReminderStore
    engine: Any
    clock: Clock
    policy: ReminderPolicy
    channels: dict[str, ChannelPort]
    conduct: ConductRules = compliance.DEFAULT_CONDUCT

    def generate(self, day: date) -> Generated:
        return generate_reminders(self.engine, day, now=self.clock.now(), policy=self.policy)

    def dispatch(self, clock: Clock | None = None) -> Dispatched:
        return dispatch(self.store, self.channels, self.policy, clock or self.clock, self.conduct)

    def reminders(self, day: date | None = None, status: str | None = None, limit: int = 1000) -> list[ReminderView]:
        return self.store.reminders(day, status, limit)

    def templates(self) -> list[TemplateView]:
        active = set(active_templates(self.policy, self.store.activated()))
        return [
            TemplateView(t.id, t.channel.value, t.audience.value, t.id in active, template_problems(self.policy, t))
            for t in self.policy.templates
        ]

    def activate(self, template_id: str, by: str) -> Activated | Rejected:
        return activate(self.store, self.policy, template_id, by, self.clock.now())

    def open_dispute(self, loan_no: str, reason: str) -> bool:
        return self.store.open_dispute(loan_no, reason, self.clock.now())

    def resolve_dispute(self, loan_no: str) -> int:
        return self.store.resolve_dispute(loan_no, self.clock.now())

    def set_recipient(self, borrower_no: str, email: str | None = None, locale: str | None = None) -> bool:
        return self.store.set_recipient(borrower_no, email, locale)


def build(
    app: App,
    policy_path: Path | None = None,
    channels: Mapping[str, ChannelPort] | None = None,
    settings: Any = None,
) -> ReminderService:
    """The reminder service over the app's store, with the channels `ChannelSettings` configures
    (or the `channels` given, for tests). Raises pydantic's ValidationError on bad channel settings."""
    from daihou.channels.wiring import from_settings
    from daihou.storage.reminder_store import SqlReminderStore

    wired = dict(channels) if channels is not None else from_settings(settings, app.engine, app.clock.now)
    return ReminderService(SqlReminderStore(app.engine), app.engine, app.clock, load_policy(policy_path), wired)

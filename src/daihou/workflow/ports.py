"""What the reminder workflow needs from the store; `daihou.storage.reminder_store` implements it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from daihou.domain.compliance import Code, DailyCap


@dataclass(frozen=True, slots=True)
class Due:
    """A claimed reminder with what sending it needs, re-read at claim time."""

    id: int
    loan_no: str
    installment_no: int
    due_date: date
    step_code: str
    channel: str
    template_id: str
    locale: str
    borrower_id: int
    borrower_name: str
    address: str
    planned_at: datetime
    failures: int
    amount_due_fen: int  # still to pay to clear everything due up to this installment, net of credit
    installment_open: bool  # the installment is in the current schedule and not settled
    disputed: bool


@dataclass(frozen=True, slots=True)
class Finish:
    """How an attempt ended: the reminder's new status and the attempt record."""

    status: str  # pending (retry or reschedule), sent, delivered, failed, held, cancelled
    attempt_status: str  # sent, delivered, failed, rescheduled, held, cancelled
    at: datetime
    next_attempt_at: datetime | None = None
    failures: int = 0
    code: str | None = None
    detail: str | None = None
    provider_message_id: str | None = None


@dataclass(frozen=True, slots=True)
class ReminderView:
    id: int
    loan_no: str
    installment_no: int
    due_date: date
    step_code: str
    channel: str
    business_date: date
    planned_at: datetime
    amount_due_fen: int
    status: str
    failures: int
    last_code: str | None
    provider_message_id: str | None


class ReminderStore(Protocol):
    def claim(
        self, now: datetime, channels: Sequence[str], template_ids: Sequence[str], token: str, limit: int
    ) -> list[Due]: ...
    def today_counts(self, due: Due, caps: Iterable[DailyCap], start: datetime, end: datetime) -> dict[Code, int]: ...
    def finish(self, due: Due, token: str, outcome: Finish) -> bool: ...
    def release(self, ids: Iterable[int], token: str) -> None: ...
    def waiting(self, now: datetime) -> int: ...
    def reminders(self, day: date | None, status: str | None, limit: int) -> list[ReminderView]: ...
    def activated(self) -> set[tuple[str, str]]: ...
    def activate(self, template_id: str, digest: str, by: str, at: datetime) -> None: ...
    def open_dispute(self, loan_no: str, reason: str, at: datetime) -> bool: ...
    def resolve_dispute(self, loan_no: str, at: datetime) -> int: ...
    def set_recipient(self, borrower_no: str, email: str | None, locale: str | None) -> bool: ...

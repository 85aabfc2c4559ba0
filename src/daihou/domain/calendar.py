"""Dates of periods and day counts. No clock: every date is passed in."""

from __future__ import annotations

import calendar as _cal
from datetime import date, timedelta
from enum import StrEnum


class DayCount(StrEnum):
    ACT_360 = "act_360"
    ACT_365 = "act_365"

    @property
    def year_days(self) -> int:
        return 360 if self is DayCount.ACT_360 else 365


class Frequency(StrEnum):
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    BIWEEKLY = "biweekly"

    @property
    def periods_per_year(self) -> int:
        return {Frequency.MONTHLY: 12, Frequency.QUARTERLY: 4, Frequency.BIWEEKLY: 26}[self]

    def advance(self, anchor: date, periods: int) -> date:
        """The date `periods` periods after `anchor`, keeping the anchor's day of month (clamped)."""
        if self is Frequency.BIWEEKLY:
            return anchor + timedelta(days=14 * periods)
        return add_months(anchor, periods * (3 if self is Frequency.QUARTERLY else 1))


def add_months(d: date, months: int) -> date:
    """Same day of month `months` later; the 31st becomes the month's last day (Jan 31 + 1 = Feb 28)."""
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    return date(year, month, min(d.day, _cal.monthrange(year, month)[1]))


def days_between(start: date, end: date) -> int:
    """Actual days from start to end (ACT): the number of nights."""
    return (end - start).days

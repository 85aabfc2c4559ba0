"""The staff dashboard's figures: computed once per closed business day, read in one lookup.

The close of business writes a snapshot of every loan; `refresh` turns that snapshot (and the day's
activity in the workflow tables) into one small JSON document — book size, overdue ratio by bucket,
NPL ratio, provisions, roll rates, vintage curves, reminders, visits, warnings, cases, promises,
collection recovery — and stores it (`DashboardStore.save`). A page view then reads one row
(`latest`), whatever the size of the book: with 1,000,000 loans the request never scans loans.

When no snapshot exists (a book that was never closed) `refresh` falls back to the loans table's
close-of-business columns (`store.book_from_loans`), once, set-based. Workflow tables that another
capability has not created yet show as absent ("not yet"), not as zero.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Protocol

ACTIVITY = ("reminders", "visits", "warnings", "cases", "promises")
VINTAGE_MONTHS = 12  # month-end snapshots read for the vintage curves
ROLL_LOOKBACK_DAYS = 30  # roll rates from the snapshot about a month before the day


@dataclass(frozen=True, slots=True)
class Figures:
    business_date: date
    payload: dict[str, Any]
    computed_at: datetime
    elapsed_ms: int

    def to_json(self) -> str:
        return json.dumps(self.payload, ensure_ascii=False, separators=(",", ":"), default=str)


@dataclass(frozen=True, slots=True)
class Book:
    """The book on one day, from the snapshot or from the loans table."""

    loans: int
    outstanding_fen: int
    provision_fen: int
    by_bucket_fen: dict[str, int]
    by_bucket_count: dict[str, int]
    by_class_fen: dict[str, int]
    source: str  # "snapshot" or "loans"
    extra: dict[str, Any] = field(default_factory=dict)


class DashboardStore(Protocol):
    def latest(self) -> Figures | None: ...
    def on(self, day: date) -> Figures | None: ...
    def save(self, figures: Figures) -> None: ...
    def last_business_date(self) -> date | None: ...
    def book_from_loans(self) -> Book: ...
    def activity(self, day: date) -> dict[str, dict[str, int] | None]: ...
    def collected_fen(self, start: date, end: date) -> int | None: ...
    def records(self, loan_no: str, limit: int = 50) -> dict[str, list[dict[str, Any]] | None]: ...


class SnapshotSource(Protocol):
    """The close of business's snapshots (implemented over `daihou.analytics` in storage)."""

    def days(self) -> list[date]: ...
    def book(self, day: date) -> Book | None: ...
    def flow_rates(self, start: date, end: date) -> dict[str, float]: ...
    def vintage(self, days: list[date]) -> list[tuple[str, int, float]]: ...


NPL_CLASSES = ("substandard", "doubtful", "loss")


def _month_ends(days: list[date]) -> list[date]:
    """The last snapshot day of each month, newest `VINTAGE_MONTHS`."""
    last: dict[tuple[int, int], date] = {}
    for d in days:
        last[(d.year, d.month)] = max(d, last.get((d.year, d.month), d))
    return sorted(last.values())[-VINTAGE_MONTHS:]


def _ratio(a: int, b: int) -> float:
    return a / b if b else 0.0


def compute(store: DashboardStore, snapshots: SnapshotSource, day: date) -> dict[str, Any]:
    """The dashboard's document for business date `day` (see the module docstring)."""
    days = [d for d in snapshots.days() if d <= day]
    book = snapshots.book(day) if day in days else None
    if book is None:
        book = store.book_from_loans()
    npl = sum(book.by_class_fen.get(c, 0) for c in NPL_CLASSES)
    buckets = sorted(set(book.by_bucket_fen) | set(book.by_bucket_count), key=_bucket_key)
    payload: dict[str, Any] = {
        "business_date": day.isoformat(),
        "source": book.source,
        "book": {
            "loans": book.loans,
            "outstanding_fen": book.outstanding_fen,
            "provision_fen": book.provision_fen,
            "npl_fen": npl,
            "npl_ratio": _ratio(npl, book.outstanding_fen),
            "coverage": _ratio(book.provision_fen, npl),
            "provision_to_loan": _ratio(book.provision_fen, book.outstanding_fen),
            "overdue_fen": sum(v for k, v in book.by_bucket_fen.items() if k != "M0"),
        },
        "buckets": [
            {
                "bucket": b,
                "loans": book.by_bucket_count.get(b, 0),
                "balance_fen": book.by_bucket_fen.get(b, 0),
                "share": _ratio(book.by_bucket_fen.get(b, 0), book.outstanding_fen),
            }
            for b in buckets
        ],
        "classes": book.by_class_fen,
        "roll": None,
        "vintage": None,
    }
    payload["book"]["overdue_ratio"] = _ratio(payload["book"]["overdue_fen"], book.outstanding_fen)
    earlier = [d for d in days if d <= day - timedelta(days=ROLL_LOOKBACK_DAYS)] or [d for d in days if d < day]
    if book.source == "snapshot" and earlier:
        start = earlier[-1]
        payload["roll"] = {"start": start.isoformat(), "end": day.isoformat(), "flow": snapshots.flow_rates(start, day)}
    ends = _month_ends(days)
    if book.source == "snapshot" and ends:
        payload["vintage"] = _vintage_series(snapshots.vintage(ends))
    payload["activity"] = store.activity(day)
    payload["recovery"] = {"collected_30d_fen": store.collected_fen(day - timedelta(days=29), day)}
    return payload


def _bucket_key(name: str) -> tuple[int, str]:
    digits = "".join(ch for ch in name if ch.isdigit())
    return (int(digits) if digits else 99, name)


def _vintage_series(rows: list[tuple[str, int, float]]) -> dict[str, Any]:
    mobs = sorted({mob for _, mob, _ in rows})
    series: dict[str, list[float | None]] = {}
    for vintage, mob, share in rows:
        series.setdefault(vintage, [None] * len(mobs))[mobs.index(mob)] = round(share, 6)
    return {"mob": mobs, "series": dict(sorted(series.items())[-VINTAGE_MONTHS:])}


def refresh(store: DashboardStore, snapshots: SnapshotSource, day: date, now: datetime) -> Figures:
    """Compute and store the figures for `day` (idempotent: a rerun replaces the day's row)."""
    started = time.perf_counter()
    payload = compute(store, snapshots, day)
    figures = Figures(day, payload, now, int((time.perf_counter() - started) * 1000))
    store.save(figures)
    return figures


def latest(store: DashboardStore) -> Figures | None:
    """What the dashboard shows: the newest day's figures (one indexed lookup)."""
    return store.latest()


def loan_records(store: DashboardStore, loan_no: str) -> dict[str, list[dict[str, Any]] | None]:
    """What the loan 360° page lists beside the schedule: transactions, cases, contacts, promises,
    visits, warnings, requests, reminders, portal requests and uploads (None: not recorded by this
    installation yet). Phone numbers and raw evidence are left out."""
    return store.records(loan_no)

"""The dashboard's document (`daihou.service.dashboard.compute`) with fake stores: which snapshot it
reads, how it picks the roll-rate window, the ratios, and what "not yet" looks like."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from daihou.service import dashboard as dash
from daihou.service.dashboard import Book, Figures

DAY = date(2026, 11, 20)


def _book(source: str, outstanding: int = 10_000_00, npl: int = 500_00, provision: int = 300_00) -> Book:
    return Book(
        loans=3,
        outstanding_fen=outstanding,
        provision_fen=provision,
        by_bucket_fen={"M0": outstanding - npl - 1_000_00, "M1": 1_000_00, "M7+": npl},
        by_bucket_count={"M0": 1, "M1": 1, "M7+": 1},
        by_class_fen={"normal": outstanding - npl - 1_000_00, "special_mention": 1_000_00, "loss": npl},
        source=source,
    )


class Store:
    def __init__(self) -> None:
        self.saved: list[Figures] = []
        self.fallbacks = 0

    def latest(self) -> Figures | None:
        return self.saved[-1] if self.saved else None

    def on(self, day: date) -> Figures | None:
        return next((f for f in self.saved if f.business_date == day), None)

    def save(self, figures: Figures) -> None:
        self.saved.append(figures)

    def last_business_date(self) -> date | None:
        return None

    def book_from_loans(self) -> Book:
        self.fallbacks += 1
        return _book("loans")

    def activity(self, day: date) -> dict[str, dict[str, int] | None]:
        return {"reminders": {"sent": 4, "recent_sent": 2}, "visits": None}

    def collected_fen(self, start: date, end: date) -> int | None:
        assert (end - start).days == 29
        return None

    def records(self, loan_no: str, limit: int = 50) -> dict[str, list[dict[str, Any]] | None]:
        return {}


class Snapshots:
    def __init__(self, days: list[date]) -> None:
        self._days = days
        self.flows: list[tuple[date, date]] = []

    def days(self) -> list[date]:
        return self._days

    def book(self, day: date) -> Book | None:
        return _book("snapshot")

    def flow_rates(self, start: date, end: date) -> dict[str, float]:
        self.flows.append((start, end))
        return {"M0→M1": 0.02}

    def vintage(self, days: list[date]) -> list[tuple[str, int, float]]:
        return [("2026-01", 9, 0.1), ("2026-01", 10, 0.12), ("2026-03", 7, 0.0)]


def test_the_figures_come_from_the_days_snapshot_with_ratios_over_the_outstanding_balance() -> None:
    store = Store()
    payload = dash.compute(store, Snapshots([DAY]), DAY)
    book = payload["book"]
    assert payload["source"] == "snapshot" and store.fallbacks == 0
    assert book["npl_fen"] == 500_00 and book["npl_ratio"] == 0.05
    assert book["coverage"] == 0.6 and book["provision_to_loan"] == 0.03
    assert book["overdue_fen"] == 1_500_00 and book["overdue_ratio"] == 0.15
    assert [b["bucket"] for b in payload["buckets"]] == ["M0", "M1", "M7+"]
    assert sum(b["balance_fen"] for b in payload["buckets"]) == book["outstanding_fen"]
    assert payload["activity"]["visits"] is None  # not installed: "not yet", not zero
    assert payload["recovery"] == {"collected_30d_fen": None}


def test_without_a_snapshot_for_the_day_the_loans_table_answers_and_no_curves_are_drawn() -> None:
    store = Store()
    payload = dash.compute(store, Snapshots([]), DAY)
    assert payload["source"] == "loans" and store.fallbacks == 1
    assert payload["roll"] is None and payload["vintage"] is None


def test_roll_rates_compare_with_the_snapshot_a_month_before_or_else_the_previous_one() -> None:
    month_ago = DAY - timedelta(days=31)
    snaps = Snapshots([month_ago, DAY - timedelta(days=10), DAY - timedelta(days=1), DAY])
    assert dash.compute(Store(), snaps, DAY)["roll"]["start"] == month_ago.isoformat()
    recent = Snapshots([DAY - timedelta(days=2), DAY - timedelta(days=1), DAY])
    assert dash.compute(Store(), recent, DAY)["roll"]["start"] == (DAY - timedelta(days=1)).isoformat()
    assert dash.compute(Store(), Snapshots([DAY]), DAY)["roll"] is None  # one day: nothing to compare


def test_vintage_curves_align_each_vintage_on_the_months_on_book() -> None:
    payload = dash.compute(Store(), Snapshots([DAY]), DAY)
    assert payload["vintage"] == {
        "mob": [7, 9, 10],
        "series": {"2026-01": [None, 0.1, 0.12], "2026-03": [0.0, None, None]},
    }


def test_an_empty_book_has_zero_ratios_not_a_division_error() -> None:
    class Empty(Snapshots):
        def book(self, day: date) -> Book | None:
            return Book(0, 0, 0, {}, {}, {}, "snapshot")

    payload = dash.compute(Store(), Empty([DAY]), DAY)
    assert payload["book"]["npl_ratio"] == 0.0 and payload["book"]["coverage"] == 0.0 and payload["buckets"] == []


def test_a_refresh_stores_the_days_figures_and_latest_reads_them() -> None:
    store = Store()
    figures = dash.refresh(store, Snapshots([DAY]), DAY, datetime(2026, 11, 20, 18, 0))
    assert store.saved == [figures] and dash.latest(store) is figures
    assert figures.business_date == DAY and figures.elapsed_ms >= 0
    assert '"business_date":"2026-11-20"' in figures.to_json()

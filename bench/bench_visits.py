"""Benchmark: the after-close visit planning (`daihou.workflow.visits.plan_visits`) over a big book.

1. Uses a book built by `bench/make_book.py` (built here when `--book` does not exist; not
   measured) and empties the visit tables, so that the run can be repeated on the same file.
2. History, set-based (not measured): every open loan was last visited on one of the 89 days before
   the business date, so that plans spread over the quarter as in a running system.
3. Day 1 (the business date): planning the whole book from that history — every open loan gets its
   next plan (a bulk insert of ~950,000 plans: the one-off cost of switching visits on).
4. Then `--days` days (default 4), each after a day's events, set-based: officers complete the plans
   due that day (nine in ten; the rest are missed), 0.1 % of the loans turn overdue and 0.05 % are
   paid off. Each day's planning is the figure the close of business adds: next plans for the
   visited loans, tightened plans for the newly overdue, cancelled plans of the paid-off, missed
   visits marked overdue. Day 2 still catches up with the visits day 1 put on the business date
   (first visits and high-risk loans of the history); the later days are ordinary. Last, a rerun
   of the last day (idempotent: nothing new).

    .venv/bin/python bench/bench_visits.py --book /tmp/book.db [--loans 1000000]

Prints a Markdown block for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
DAY = date(2026, 11, 22)


class _Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


def _app(db: Path, day: date) -> Any:
    from daihou.bootstrap import App
    from daihou.config import Settings
    from daihou.storage.engine import make_engine

    url = f"sqlite:///{db}"
    return App(
        Settings(database_url=url), make_engine(url), _Clock(datetime(day.year, day.month, day.day, 14, tzinfo=UTC))
    )


def _timed(label: str, fn: Any, *args: Any) -> tuple[float, Any]:
    """Wall time; CPU time of this process too (SQLite runs in it), which the other work on a shared
    machine inflates far less than the wall time."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn(*args)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"  {label}: {seconds:.2f} s wall, {cpu:.2f} s CPU  {out}", flush=True)
    CPU[label] = cpu
    return seconds, out


CPU: dict[str, float] = {}
STATEMENTS: list[tuple[str, float, float]] = []


def _watch(engine: Any) -> None:
    """Keep each statement's wall and CPU time (the planning's breakdown)."""
    from sqlalchemy import event

    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        conn.info["bench_t0"] = (time.perf_counter(), time.process_time())

    @event.listens_for(engine, "after_cursor_execute")
    def _after(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        t0, c0 = conn.info["bench_t0"]
        STATEMENTS.append((" ".join(statement.split())[:60], time.perf_counter() - t0, time.process_time() - c0))


def _history(app: Any, day: date) -> int:
    """Each open loan last visited on one of the 89 days before `day` (spread by loan id)."""
    stamp = datetime(day.year, day.month, day.day, tzinfo=UTC).isoformat(sep=" ")
    with app.engine.begin() as conn:
        return int(
            conn.execute(
                text(
                    "INSERT INTO visit_records (loan_id, visit_type, visited_on, officers, answers, fund_misuse,"
                    " risk_flags, recorded_by, policy_version, created_at) "
                    "SELECT id, 'phone', date(julianday(:day) - 1 - id % 89), 'bench', '{}', 0, '', 'bench',"
                    " 'default@2026-01-01', :at FROM loans "
                    "WHERE status IN ('active', 'overdue', 'restructured')"
                    " AND disbursed_on < date(julianday(:day) - 89)"
                ),
                {"day": day.isoformat(), "at": stamp},
            ).rowcount
        )


def _between_days(app: Any, day: date, salt: int) -> dict[str, int]:
    """A day's events, set-based: nine in ten of the visits due on `day` done, 0.1 % of the loans
    newly overdue, 0.05 % paid off."""
    stamp = datetime(day.year, day.month, day.day, 18, tzinfo=UTC).isoformat(sep=" ")
    with app.engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS temp.visited"))
        conn.execute(
            text(
                "CREATE TEMP TABLE visited AS SELECT id AS plan_id, loan_id FROM visit_plans "
                "WHERE status IN ('planned', 'overdue') AND due_on <= :day AND id % 10 <> 0"
            ),
            {"day": day.isoformat()},
        )
        conn.execute(
            text(
                "INSERT INTO visit_records (loan_id, plan_id, visit_type, visited_on, officers, answers, fund_misuse,"
                " risk_flags, recorded_by, policy_version, created_at) "
                "SELECT loan_id, plan_id, 'phone', :day, 'bench', '{}', 0, '', 'bench', 'default@2026-01-01', :at "
                "FROM temp.visited"
            ),
            {"day": day.isoformat(), "at": stamp},
        )
        visited = conn.execute(
            text(
                "UPDATE visit_plans SET status = 'done', done_on = :day WHERE id IN (SELECT plan_id FROM temp.visited)"
            ),
            {"day": day.isoformat()},
        ).rowcount
        overdue = conn.execute(
            text(
                "UPDATE loans SET dpd = 1, classification = 'special_mention', status = 'overdue' "
                "WHERE status = 'active' AND (id + :salt) % 1000 = 0"
            ),
            {"salt": salt},
        ).rowcount
        paid = conn.execute(
            text("UPDATE loans SET status = 'paid_off' WHERE status = 'active' AND (id * 7 + :salt) % 2000 = 1"),
            {"salt": salt},
        ).rowcount
    return {"visited": visited, "newly_overdue": overdue, "paid_off": paid}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--book", type=Path, required=True, help="a make_book.py SQLite file (built when absent)")
    parser.add_argument("--loans", type=int, default=1_000_000, help="book size when it has to be built")
    parser.add_argument("--days", type=int, default=4, help="ordinary days planned after the first")
    args = parser.parse_args(argv)
    if not args.book.exists():
        from make_book import build_book

        print(f"building a {args.loans:,}-loan book at {args.book} (not measured)", flush=True)
        build_book(args.book, args.loans, day=DAY, progress=lambda m: print("  " + m, flush=True))

    from daihou.storage.engine import migrate
    from daihou.workflow.visits import plan_visits

    app = _app(args.book, DAY)
    migrate(app.engine)
    with app.engine.begin() as conn:
        for table in ("visit_attachments", "visit_records", "visit_cadence_overrides", "visit_plans"):
            conn.execute(text(f"DELETE FROM {table}"))
        loans = conn.execute(text("SELECT count(*) FROM loans")).scalar_one()
        open_loans = conn.execute(
            text("SELECT count(*) FROM loans WHERE status IN ('active', 'overdue', 'restructured')")
        ).scalar_one()
    print(f"book: {loans:,} loans, {open_loans:,} open", flush=True)

    _timed("history: last visits over the past 89 days (set-up)", lambda: _history(app, DAY))
    first, counts1 = _timed(f"day 1 ({DAY}): planning the whole book", lambda: plan_visits(app, DAY))
    salt = int(time.time())  # other loans turn overdue or pay off on each run of the same book
    days: list[tuple[date, float, dict[str, int], dict[str, int], float]] = []
    for n in range(1, args.days + 1):
        previous, day = DAY + timedelta(days=n - 1), DAY + timedelta(days=n)
        app = _app(args.book, day)
        _, events = _timed(f"events of {previous} (set-up)", _between_days, app, previous, salt + n)
        _watch(app.engine)
        STATEMENTS.clear()
        label = f"day {n + 1} ({day}): planning"
        seconds, counts = _timed(label, plan_visits, app, day)
        for statement, took, cpu in STATEMENTS:
            print(f"    {took:6.2f} s wall {cpu:6.2f} s CPU  {statement}", flush=True)
        days.append((day, seconds, events, counts, CPU[label]))
    last = days[-1][0]
    rerun, counts3 = _timed("rerun", plan_visits, app, last)
    load = os.getloadavg()
    print()
    print(f"#### Follow-up visit planning over {loans:,} loans ({open_loans:,} open), SQLite")
    print()
    print(
        f"`.venv/bin/python bench/bench_visits.py --book BOOK` — {platform.python_version()}, "
        f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} at the end"
    )
    print()
    print("| run | wall time | CPU time | counts |")
    print("|---|---:|---:|---|")
    cpu1, cpu3 = CPU[f"day 1 ({DAY}): planning the whole book"], CPU["rerun"]
    print(f"| {DAY}: planning the whole book (one-off, bulk insert) | {first:.2f} s | {cpu1:.2f} s | {counts1} |")
    for day, seconds, events, counts, cpu in days:
        print(f"| {day} (after {events}) | {seconds:.2f} s | {cpu:.2f} s | {counts} |")
    print(f"| {last} rerun (idempotent) | {rerun:.2f} s | {cpu3:.2f} s | {counts3} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

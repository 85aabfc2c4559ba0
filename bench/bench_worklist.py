"""Benchmark: the day's collection work lists and dialer queue over 1,000,000 open cases.

Fills a fresh store set-based (one INSERT … SELECT each from a generated series: borrowers, then
open cases with random stages, treatments, balances, scores, collectors; some disputes and pending
promises), then times `daihou.workflow.collections.build_worklists` (one INSERT … SELECT with window
functions: rank by expected value per collector within capacity, at most 6 items per number, the
day's contact window) and the dialer CSV export. Loans are not needed by the work list, so foreign-key
checks are off while filling (SQLite pragma; PostgreSQL replica role). Prints a Markdown block:

    .venv/bin/python bench/bench_worklist.py --cases 1000000 [--db postgresql://…]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import text

from daihou.bootstrap import App
from daihou.config import Settings
from daihou.storage.engine import make_engine, migrate, reset
from daihou.workflow import collections as wc

DAY = date(2026, 11, 23)
COLLECTORS = 2_000
CAPACITY = 60
ROBOT_CAPACITY = 200_000
STAGES = ["pre_due", "m1_early", "m2_m3_middle", "m4_plus_late", "legal"]


class Clock:
    def now(self) -> datetime:
        return datetime(2026, 11, 22, 12, tzinfo=UTC)


def _series(dialect: str, n: int) -> str:
    """A table expression `s(i)` of 1..n."""
    if dialect == "postgresql":
        return f"generate_series(1, {n}) AS s(i)"
    return f"(WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < {n}) SELECT i FROM r) AS s"


def fill(app: App, cases: int) -> float:
    started = time.perf_counter()
    d = app.engine.dialect.name
    s = _series(d, cases)
    ts = "'2026-11-22 12:00:00'"
    contacted = "DATE '2026-11-22'" if d == "postgresql" else "'2026-11-22'"
    # a deterministic pseudo-random h(i, k) in [0, 1000): the same book on every run
    h = "((s.i * {k} + 7919) % 1000)"
    stage = (
        "CASE "
        + " ".join(f"WHEN {h.format(k=31)} < {200 * (n + 1)} THEN '{st}'" for n, st in enumerate(STAGES))
        + " END"
    )
    with app.engine.begin() as conn:
        if d == "postgresql":
            conn.execute(text("SET session_replication_role = replica"))
        else:
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")  # before the first write: outside a transaction
        conn.execute(
            text(
                f"INSERT INTO borrowers (id, borrower_no, kind, name, id_number, mobile, version, created_at) "
                f"SELECT s.i, 'B' || s.i, 'individual', 'n', 'x', '13' || ((s.i * 7) % {cases - cases // 50}), 1, {ts} "
                f"FROM {s}"
            )
        )  # ~2 % of the numbers are shared by two borrowers
        conn.execute(
            text(
                "INSERT INTO collectors (code, name, team, role, stages, capacity, active, created_at) "
                f"VALUES ('robot', 'robot', 'robot', 'robot', '', {ROBOT_CAPACITY}, true, {ts})"
            )
        )
        conn.execute(
            text(
                "INSERT INTO collectors (code, name, team, role, stages, capacity, active, created_at) "
                f"SELECT 'c' || s.i, 'c', 't' || (s.i % 50), 'collector', 'm1_early', {CAPACITY}, true, {ts} "
                f"FROM {_series(d, COLLECTORS)}"
            )
        )
        conn.execute(
            text(
                "INSERT INTO collection_cases (id, loan_id, borrower_id, stage, status, opened_on, open_reason, "
                "stage_since, collector, team, segment, strategy_arm, treatment, worker, score_band, balance_band, "
                "balance_at_open_fen, balance_fen, overdue_fen, collectable_fen, collected_fen, pd_ppm, dpd, "
                "last_contact_on, version, created_at, updated_at) "
                f"SELECT s.i, s.i, s.i, {stage}, 'open', '2026-10-01', 'bench', '2026-10-01', "
                f"CASE WHEN {h.format(k=17)} < 250 THEN 'robot' ELSE 'c' || (1 + s.i % {COLLECTORS}) END, 't', 'seg', "
                f"CASE WHEN {h.format(k=13)} < 200 THEN 'challenger' ELSE 'champion' END, "
                f"CASE WHEN {h.format(k=17)} < 250 THEN 'sms_robot' ELSE 'daily_call' END, "
                f"CASE WHEN {h.format(k=17)} < 250 THEN 'robot' ELSE 'in_house' END, 'unscored', 'small', "
                f"100000 + {h.format(k=101)} * 5000, 100000 + {h.format(k=101)} * 5000, "
                f"10000 + {h.format(k=103)} * 500, 10000 + {h.format(k=107)} * 600, 0, "
                f"CASE WHEN {h.format(k=19)} < 300 THEN NULL ELSE 1000 * {h.format(k=23)} END, "
                f"1 + {h.format(k=29)} % 200, CASE WHEN {h.format(k=37)} < 100 THEN {contacted} ELSE NULL END, "
                f"1, {ts}, {ts} "
                f"FROM {s}"
            )
        )
        conn.execute(
            text(
                "INSERT INTO loan_disputes (loan_id, reason, opened_at) "
                f"SELECT s.i * 97, 'bench', {ts} FROM {_series(d, cases // 100)}"
            )
        )
        conn.execute(
            text(
                "INSERT INTO promises (case_id, loan_id, promised_on, due_on, amount_fen, paid_fen, status, "
                "created_by, created_at) SELECT s.i * 53, s.i * 53, '2026-11-20', '2026-11-25', 1000, 0, 'pending', "
                f"'bench', {ts} FROM {_series(d, cases // 60)}"
            )
        )
    with app.engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--db", default=None, help="Database URL (default: a fresh SQLite file).")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_worklist_"))
    url = args.db or f"sqlite:///{tmp / 'bench.db'}"
    engine = make_engine(url)
    if args.db:
        reset(engine)
    migrate(engine)
    app = App(Settings(database_url=url, data_dir=tmp / "data"), engine, Clock())
    filled = fill(app, args.cases)
    times, cpus, items = [], [], 0
    for _ in range(args.repeat):
        started, cpu = time.perf_counter(), time.process_time()
        items = wc.build_worklists(app, DAY)
        times.append(time.perf_counter() - started)
        cpus.append(time.process_time() - cpu)
    started = time.perf_counter()
    csv_text = wc.export_dialer(app, DAY)
    exported = time.perf_counter() - started
    started = time.perf_counter()
    one = wc.worklist(app, DAY, "c1")
    one_s = time.perf_counter() - started
    load = os.getloadavg()
    runs = ", ".join(f"{t:.2f}" for t in times)
    best_cpu = cpus[times.index(min(times))]
    print(f"""
| step | {engine.dialect.name} |
|---|---|
| fill {args.cases:,} open cases (set-based) | {filled:.1f} s |
| work lists + dialer queue (best of {args.repeat}) | **{min(times):.2f} s** (all runs: {runs}) |
| CPU of this process, best run (SQLite works in it; PostgreSQL in its server) | {best_cpu:.2f} s |
| items queued | {items:,} ({COLLECTORS:,} collectors × {CAPACITY} + robot queue) |
| dialer CSV export (voice items) | {exported:.2f} s, {len(csv_text.splitlines()) - 1:,} rows |
| one collector's list read | {one_s * 1000:.0f} ms, {len(one)} items |
| load average (1/5/15 min) | {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} |
""")


if __name__ == "__main__":
    main()

"""Benchmark: agency commission over many placements (one set-based query, then the rules in Python).

Fills a fresh store set-based: N loans (minimal rows, foreign-key checks off while filling), 3
payments each on dates around the placement, 20 agencies with evaluations, one placement per loan
(a quarter recalled). Times `daihou.service.recovery.commissions` — the money each placement
recovered while placed, one correlated sum per placement row — and the commission rules over all
rows. Prints a Markdown block:

    .venv/bin/python bench/bench_recovery.py --placements 200000 [--db postgresql://…]
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
from daihou.service import recovery as svc
from daihou.storage.engine import make_engine, migrate, reset
from daihou.workflow.recovery import build

AS_OF = date(2026, 11, 20)
AGENCIES = 20


class Clock:
    def now(self) -> datetime:
        return datetime(2026, 11, 22, 12, tzinfo=UTC)


def _series(dialect: str, n: int) -> str:
    if dialect == "postgresql":
        return f"generate_series(1, {n}) AS s(i)"
    return f"(WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < {n}) SELECT i FROM r) AS s"


def _date(dialect: str, iso: str) -> str:
    return f"DATE '{iso}'" if dialect == "postgresql" else f"'{iso}'"


def _plus_days(dialect: str, iso: str, days: str) -> str:
    if dialect == "postgresql":
        return f"(DATE '{iso}' + ({days})::int)"
    return f"date('{iso}', '+' || ({days}) || ' days')"


def fill(app: App, n: int) -> float:
    started = time.perf_counter()
    d = app.engine.dialect.name
    s = _series(d, n)
    ts = "'2026-11-22 12:00:00'"
    true = "true"
    with app.engine.begin() as conn:
        if d == "postgresql":
            conn.execute(text("SET session_replication_role = replica"))
        else:
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        conn.execute(
            text(
                "INSERT INTO loans (id, loan_no, borrower_id, product_id, principal_fen, rate_annual_ppm, "
                "penalty_rate_annual_ppm, periods, method, frequency, day_count, disbursed_on, grace_days, "
                "dpd_tolerance_fen, compound_interest, allocation_order, allocation_mode, status, cost_due_fen, "
                "cost_paid_fen, cost_waived_fen, fee_due_fen, fee_paid_fen, fee_waived_fen, credit_fen, received_fen, "
                "accrued_through, schedule_version, dpd, classification, ifrs9_stage, provision_fen, version, "
                "created_at, updated_at) "
                "SELECT s.i, 'L' || s.i, 1, 1, 5000000, 120000, 180000, 12, 'equal_installment', 'monthly', "
                f"'act_360', "
                f"{_date(d, '2026-01-15')}, 0, 0, {true}, 'cost,fee,penalty,compound,interest,principal', "
                f"'vertical', 'overdue', 0, 0, 0, 0, 0, 0, 0, 0, {_date(d, '2026-11-19')}, 1, 60, 'special_mention', "
                f"2, 0, 1, {ts}, {ts} FROM {s}"
            )
        )
        for k, offset in enumerate(("(s.i % 40)", "40 + (s.i % 60)", "100 + (s.i % 80)")):
            conn.execute(
                text(
                    "INSERT INTO transactions (loan_id, kind, reference, value_date, amount_fen, reversed, created_at) "
                    f"SELECT s.i, 'payment', 'P{k}-' || s.i, {_plus_days(d, '2026-08-15', offset)}, "
                    f"10000 + (s.i * {7 + k}) % 900000, false, {ts} FROM {s}"
                )
            )
        conn.execute(
            text(
                "INSERT INTO agencies (id, code, name, active, created_at) "
                f"SELECT s.i, 'AG' || s.i, 'agency', {true}, {ts} FROM {_series(d, AGENCIES)}"
            )
        )
        conn.execute(
            text(
                "INSERT INTO agency_evaluations (agency_id, score, evaluated_on, valid_until, evaluator, created_at) "
                f"SELECT s.i, 80, {_date(d, '2026-01-01')}, {_date(d, '2026-12-31')}, 'bench', {ts} "
                f"FROM {_series(d, AGENCIES)}"
            )
        )
        stage = "CASE s.i % 4 WHEN 0 THEN 'M2' WHEN 1 THEN 'M3' WHEN 2 THEN 'M4' ELSE 'M7+' END"
        conn.execute(
            text(
                "INSERT INTO agency_placements (agency_id, loan_id, stage, balance_fen, placed_on, recall_on, "
                "recalled_on, status, placed_by, created_at) "
                f"SELECT 1 + s.i % {AGENCIES}, s.i, {stage}, 5000000, {_date(d, '2026-09-01')}, "
                f"{_date(d, '2026-11-30')}, CASE WHEN s.i % 4 = 0 THEN {_date(d, '2026-10-15')} ELSE NULL END, "
                f"CASE WHEN s.i % 4 = 0 THEN 'recalled' ELSE 'active' END, 'bench', {ts} FROM {s}"
            )
        )
    with app.engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--placements", type=int, default=200_000)
    parser.add_argument("--db", default=None, help="Database URL (default: a fresh SQLite file).")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_recovery_"))
    url = args.db or f"sqlite:///{tmp / 'bench.db'}"
    engine = make_engine(url)
    if args.db:
        reset(engine)
    migrate(engine)
    app = App(Settings(database_url=url, data_dir=tmp / "data"), engine, Clock())
    filled = fill(app, args.placements)
    rec = build(app)
    times, lines = [], []
    for _ in range(args.repeat):
        started = time.perf_counter()
        lines = svc.commissions(rec.uow(), rec.commission, AS_OF)
        times.append(time.perf_counter() - started)
    recovered = sum(c.placement.recovered_fen for c in lines)
    commission = sum(c.commission_fen for c in lines)
    load = os.getloadavg()
    runs = ", ".join(f"{t:.2f}" for t in times)
    print(f"""
| step | {engine.dialect.name} |
|---|---|
| fill {args.placements:,} loans, {3 * args.placements:,} payments, {args.placements:,} placements | {filled:.1f} s |
| commission over every placement (best of {args.repeat}) | **{min(times):.2f} s** (all runs: {runs}) |
| placements / recovered / commission | {len(lines):,} / ¥{recovered / 100:,.2f} / ¥{commission / 100:,.2f} |
| load average (1/5/15 min) | {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} |
""")


if __name__ == "__main__":
    main()

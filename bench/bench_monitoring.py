"""Benchmark: the after-close monitoring steps (reminders, visit plans, warnings, …) over a big book,
against the close of business itself, for one business day.

1. Builds the book once with `bench/make_book.py` (not measured) and copies it for the run.
2. Adds what the early-warning rules read besides DPD (not measured): collateral with two
   valuations for 10 % of the loans (1 % of them down 40 %), two behaviour scorings per open loan
   (0.5 % fall by more than 50 points), 2,000 external signals (1,000 on our borrowers), 50,000
   visit records (1 % with fund misuse).
3. In a fresh child process: the close of business for the day (`run_day`, as `daihou cob run`),
   timed; then each step of `daihou.workflow.daily.steps()` timed on its own, in order, as
   `run_after_close` runs them; then `evaluate_warnings` again for the same day (a rerun: every
   rule's query, nothing new to insert — the steady-state cost of a night whose alerts are open).

    .venv/bin/python bench/bench_monitoring.py --loans 1000000

Prints a Markdown block for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
DAY = date(2026, 11, 22)
SCORE_SQL = (
    "INSERT INTO loan_scores (loan_id, model, model_version, scored_on, score, pd_ppm) "
    "VALUES (?, 'bcard', 1, ?, ?, 20000)"
)


def load_average() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


def vm_hwm_gib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 2**20
    return 0.0


# ---------------------------------------------------------------- side data for the rules


def plant(db: Path, day: date, seed: int) -> dict[str, int]:
    """Rows the non-DPD rules read, bulk-inserted with sqlite3 (not measured)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    con = sqlite3.connect(db)
    con.execute("PRAGMA synchronous=OFF")
    ids = np.array([r[0] for r in con.execute("SELECT id FROM loans WHERE status IN ('active','overdue') ORDER BY id")])
    borrowers = dict(con.execute("SELECT id, borrower_id FROM loans"))
    numbers = dict(con.execute("SELECT id, id_number FROM borrowers"))
    created = datetime(2026, 1, 1, tzinfo=UTC).isoformat(sep=" ")
    iso = day.isoformat()
    counts: dict[str, int] = {}

    secured = rng.choice(ids, size=len(ids) // 10, replace=False)
    first_id = (con.execute("SELECT COALESCE(MAX(id), 0) FROM collateral").fetchone()[0] or 0) + 1
    con.executemany(
        "INSERT INTO collateral (id, loan_id, kind, description, custody_status, created_at) "
        "VALUES (?, ?, 'real_estate', 'bench', 'registered', ?)",
        ((first_id + k, int(loan), created) for k, loan in enumerate(secured)),
    )
    dropped = rng.random(len(secured)) < 0.01
    rows = []
    for k, drop in enumerate(dropped):
        cid = first_id + k
        rows.append((cid, "2026-01-05", 100_000_000))
        rows.append(
            (cid, (day - timedelta(days=int(rng.integers(0, 60)))).isoformat(), 60_000_000 if drop else 95_000_000)
        )
    con.executemany("INSERT INTO collateral_valuations (collateral_id, valued_on, value_fen) VALUES (?, ?, ?)", rows)
    counts["collateral"] = len(secured)

    before = (day - timedelta(days=30)).isoformat()
    falls = rng.random(len(ids)) < 0.005
    base = rng.integers(550, 750, size=len(ids))
    con.executemany(
        SCORE_SQL,
        ((int(i), before, int(s)) for i, s in zip(ids, base, strict=True)),
    )
    con.executemany(
        SCORE_SQL,
        ((int(i), iso, int(s - (80 if f else 10))) for i, s, f in zip(ids, base, falls, strict=True)),
    )
    counts["loan_scores"] = 2 * len(ids)

    subjects = rng.choice(ids, size=1000, replace=False)
    five_days_ago = (day - timedelta(days=5)).isoformat()
    signals = [
        (
            numbers[borrowers[int(i)]],
            borrowers[int(i)],
            "lawsuit",
            "bench",
            five_days_ago,
            iso,
            k,
        )
        for k, i in enumerate(subjects)
    ]
    signals += [(f"9111000000000{k:05d}", None, "enforcement", "bench", iso, iso, 1000 + k) for k in range(1000)]
    con.executemany(
        "INSERT OR IGNORE INTO external_signals (subject_id_number, borrower_id, kind, source, observed_on, "
        "imported_on, imported_at, file_sha256, row_no) VALUES (?, ?, ?, ?, ?, ?, '2026-11-21 08:00:00', 'bench', ?)",
        signals,
    )
    counts["external_signals"] = len(signals)

    visited = rng.choice(ids, size=50_000, replace=False)
    misuse = rng.random(len(visited)) < 0.01
    con.executemany(
        "INSERT INTO visit_records (loan_id, visit_type, visited_on, officers, answers, fund_misuse, risk_flags, "
        "recorded_by, created_at) VALUES (?, 'phone', ?, 'bench', '{}', ?, '', 'bench', ?)",
        (
            (int(i), (day - timedelta(days=int(d))).isoformat(), bool(m), created)
            for i, d, m in zip(visited, rng.integers(0, 60, size=len(visited)), misuse, strict=True)
        ),
    )
    counts["visit_records"] = len(visited)
    con.commit()
    con.close()
    return counts


# ---------------------------------------------------------------- the run (child process)


def child(db: Path, data_dir: Path, engine: str, day: date) -> None:
    from daihou.batch.cob.engines import connect
    from daihou.batch.cob.runner import Refused, run_day
    from daihou.bootstrap import App
    from daihou.config import Settings
    from daihou.storage.engine import make_engine
    from daihou.workflow import daily
    from daihou.workflow.warnings import evaluate_warnings

    class Clock:
        def now(self) -> datetime:
            return datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=13)

    settings = Settings(database_url=f"sqlite:///{db}", data_dir=data_dir)
    app = App(settings, make_engine(settings.database_url), Clock())
    store = app.cob_store()
    con = connect(engine)
    t0 = time.perf_counter()
    result = run_day(store, app.snapshots(), con, engine, day, store.rule_versions())
    cob_s = time.perf_counter() - t0
    print(f"  close of business {cob_s:.1f} s (load average {load_average()})", file=sys.stderr, flush=True)
    if isinstance(result, Refused):
        raise SystemExit(f"refused: {result.code}: {result.message}")
    steps: list[dict[str, Any]] = []
    for step in daily.steps():
        t1 = time.perf_counter()
        counts = step(app, day)
        steps.append({"step": step.__name__, "s": time.perf_counter() - t1, "counts": counts})
        print(f"  {step.__name__} {steps[-1]['s']:.1f} s {counts}", file=sys.stderr, flush=True)
    t2 = time.perf_counter()
    rerun = evaluate_warnings(app, day)
    rerun_s = time.perf_counter() - t2
    out = {
        "cob_s": cob_s,
        "cob_counts": result.counts,
        "steps": steps,
        "after_close_s": sum(s["s"] for s in steps),
        "warnings_rerun_s": rerun_s,
        "warnings_rerun_counts": rerun,
        "peak_rss_gib": vm_hwm_gib(),
    }
    print(json.dumps(out, default=str), flush=True)


def warnings_only(db: Path, day: date) -> dict[str, Any]:
    """`evaluate_warnings` alone on the book as built (its last closed day): first run, then a rerun."""
    from daihou.bootstrap import App
    from daihou.config import Settings
    from daihou.storage.engine import make_engine
    from daihou.workflow.warnings import evaluate_warnings

    class Clock:
        def now(self) -> datetime:
            return datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=13)

    settings = Settings(database_url=f"sqlite:///{db}", data_dir=db.with_name(f"{db.stem}-data"))
    app = App(settings, make_engine(settings.database_url), Clock())
    from daihou.storage.warning_store import evaluate
    from daihou.workflow.warnings import load_rules

    runs = []
    for label in ("first run", "rerun (nothing new)"):
        per_rule: dict[str, float] = {}
        counts: dict[str, int] = {}
        t0 = time.perf_counter()
        for rule in load_rules().in_force(day):  # as evaluate_warnings does, one rule at a time to time each
            t1 = time.perf_counter()
            with app.engine.begin() as conn:
                found = evaluate(conn, day, [rule], app.clock.now())
            per_rule[rule.code] = time.perf_counter() - t1
            counts[rule.code] = found["warnings_opened"]
            print(f"  {label}: {rule.code} {per_rule[rule.code]:.1f} s, {counts[rule.code]:,} opened", flush=True)
        runs.append({"run": label, "s": time.perf_counter() - t0, "per_rule_s": per_rule, "counts": counts})
        print(json.dumps(runs[-1]), flush=True)
    t2 = time.perf_counter()
    evaluate_warnings(app, day)  # the step itself, all rules in one transaction (a second rerun)
    runs.append({"run": "evaluate_warnings rerun", "s": time.perf_counter() - t2})
    print(json.dumps(runs[-1]), flush=True)
    return {"runs": runs, "peak_rss_gib": vm_hwm_gib()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loans", type=int, default=1_000_000)
    parser.add_argument("--periods", type=int, default=36)
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--book", type=Path, help="pristine book, built when missing")
    parser.add_argument("--db", type=Path, help="working copy (default: next to the book)")
    parser.add_argument("--engine", default="duckdb")
    parser.add_argument("--date", type=date.fromisoformat, default=DAY)
    parser.add_argument(
        "--warnings-only",
        action="store_true",
        help="time evaluate_warnings alone on the book's last closed day (no close of business)",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.db, args.data_dir, args.engine, args.date)
        return 0

    book = args.book or Path(f"/tmp/daihou-bench-monitoring/book-{args.loans}-{args.periods}-{args.seed}.db")
    if not book.exists():
        book.parent.mkdir(parents=True, exist_ok=True)
        print(f"building {book} …", flush=True)
        cmd = [sys.executable, str(BENCH / "make_book.py"), "--loans", str(args.loans), "--periods", str(args.periods)]
        cmd += ["--seed", str(args.seed), "--db", str(book), "--date", args.date.isoformat()]
        subprocess.run(cmd, check=True)
    db = args.db or book.with_name(f"run-{book.stem}.db")
    for suffix in ("-wal", "-shm", ""):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(book, db)
    from daihou.storage.engine import make_engine, migrate

    migrate(make_engine(f"sqlite:///{db}"))  # a book built before the monitoring tables existed
    rule_day = args.date - timedelta(days=1) if args.warnings_only else args.date  # the day the rules run
    planted = plant(db, rule_day, args.seed)
    print(f"planted {planted}", flush=True)
    if args.warnings_only:
        load_before = load_average()
        r = warnings_only(db, rule_day)
        print(f"- load average before / after: {load_before} → {load_average()}; peak RSS {r['peak_rss_gib']:.2f} GiB")
        return 0
    data_dir = db.with_name(f"{db.stem}-data")
    shutil.rmtree(data_dir, ignore_errors=True)
    load_before = load_average()
    print(f"running {args.date} (load average {load_before}) …", flush=True)
    cmd = [sys.executable, __file__, "--child", "--db", str(db), "--data-dir", str(data_dir)]
    cmd += ["--engine", args.engine, "--date", args.date.isoformat()]
    done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)  # the child's progress goes to stderr as it runs
    if done.returncode != 0:
        raise SystemExit(f"the run failed (exit {done.returncode}):\n{done.stdout}")
    r = json.loads(done.stdout.strip().splitlines()[-1])
    load_after = load_average()
    print(json.dumps(r, indent=2), flush=True)
    print()
    print(f"- command: `.venv/bin/python bench/bench_monitoring.py {' '.join(argv or sys.argv[1:])}`")
    print(f"- load average before / after the run: {load_before} → {load_after}")
    print()
    print("| part | wall | what it did |")
    print("|---|---:|---|")
    in_step = r["cob_counts"].get("loans_in_step", 0)
    print(f"| close of business ({args.engine}) | {r['cob_s']:.1f} s | {in_step:,} loans |")
    for s in r["steps"]:
        counts = ", ".join(f"{k} {v:,}" for k, v in s["counts"].items() if isinstance(v, int))
        print(f"| {s['step']} | {s['s']:.1f} s | {counts} |")
    print(f"| **after-close total** | **{r['after_close_s']:.1f} s** | |")
    print(f"| evaluate_warnings rerun (nothing new) | {r['warnings_rerun_s']:.1f} s | |")
    print(f"\npeak RSS of the run {r['peak_rss_gib']:.2f} GiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: one close-of-business day over a generated book, against the per-loan reference.

1. Builds the book once with `bench/make_book.py` (not measured) and copies it for the run.
2. Runs `daihou cob run` for one business day in a fresh child process (so that its peak memory is
   the run's own): load from the store, the columnar steps, results and snapshot, write-back to
   the store in one transaction. Wall time per phase and peak RSS (VmHWM) are reported.
3. The per-loan reference: a random sample of the run's loans, read from the store before the run
   as domain loans, closed one by one with the scalar domain functions, as a loan-by-loan engine
   works (`close_day`, then DPD, class, provision, IFRS 9 stage and the journal movements). Timed
   per loan and extrapolated to every loan of the run; the ratio is that over the columnar wall
   time. Each sampled loan must equal what the run wrote to the store (state, results, journal).
4. Optionally the same day on Spark (local mode) on another copy of the book.

    .venv/bin/python bench/bench_cob.py --loans 1000000 --periods 36 --engine duckdb,spark

Prints a Markdown block for docs/benchmarks.md; exits 1 if a sampled loan differs.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
DAY = date(2026, 11, 22)


# ---------------------------------------------------------------- the run itself (child process)


def vm_hwm_bytes(pid: int | str = "self") -> int:
    """Peak resident set of a process (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def cpu_s() -> float:
    """CPU seconds of this process so far, all threads (DuckDB's and SQLite's included)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def child_pids() -> list[int]:
    me, out = os.getpid(), []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == me:
                out.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return out


def child(db: Path, data_dir: Path, engine: str, day: date) -> None:
    """Close `day` on `db` and print one JSON line: phases, counts, peak memory."""
    import daihou.storage.cob_store as cob_store
    from daihou.batch.cob.engines import connect
    from daihou.batch.cob.runner import Refused, run_day
    from daihou.bootstrap import build
    from daihou.config import Settings

    app = build(Settings(database_url=f"sqlite:///{db}", data_dir=data_dir))
    store = app.cob_store()
    inside: list[tuple[str, float, float]] = []  # write-back sub-phases, from the crash-test checkpoints

    def mark(name: str, day: date) -> None:
        inside.append((name, time.perf_counter(), cpu_s()))

    cob_store.checkpoint = mark  # type: ignore[attr-defined]
    started = time.perf_counter()
    con = connect(engine)
    connected = time.perf_counter()
    marks: list[tuple[str, float, float]] = [("start", connected, cpu_s())]

    def progress(step: str, done: int, total: int) -> None:
        name = step.split(" ", 1)[1]
        if name == "snapshot":  # write-back starts here
            inside.append(("start", time.perf_counter(), cpu_s()))
        marks.append((name, time.perf_counter(), cpu_s()))

    result = run_day(store, app.snapshots(), con, engine, day, store.rule_versions(), progress=progress)
    finished = time.perf_counter()
    if isinstance(result, Refused):
        raise SystemExit(f"refused: {result.code}: {result.message}")
    spans = {name: t1 - t0 for (_, t0, _), (name, t1, _) in itertools.pairwise(marks)}
    cpu = {name: c1 - c0 for (_, _, c0), (name, _, c1) in itertools.pairwise(marks)}
    inside.append(("returned", marks[-1][1], marks[-1][2]))
    write_back = {name: t1 - t0 for (_, t0, _), (name, t1, _) in itertools.pairwise(inside)}
    steps = [n for n in spans if n not in ("load", "results", "snapshot", "write back")]
    phases = {
        "load": spans["load"],
        "steps": sum(spans[n] for n in steps),
        "results": spans["results"],
        "snapshot": spans["snapshot"],
        "write back": spans["write back"],
    }
    out: dict[str, Any] = {
        "engine": engine,
        "wall_s": finished - connected,  # the run (the engine is connected once per process)
        "connect_s": connected - started,
        "phases_s": phases,
        "steps_s": {n: spans[n] for n in steps},
        "cpu_s": {
            "load": cpu["load"],
            "steps": sum(cpu[n] for n in steps),
            "results": cpu["results"],
            "snapshot": cpu["snapshot"],
            "write back": cpu["write back"],
        },
        "write_back_s": write_back,  # write_back:commit → returned is the COMMIT itself
        "counts": result.counts,
        "peak_rss_bytes": vm_hwm_bytes(),
    }
    if engine == "spark":  # the JVM is a child process: its own peak
        out["jvm_peak_rss_bytes"] = sum(vm_hwm_bytes(pid) for pid in child_pids())
    print(json.dumps(out), flush=True)


def run_child(db: Path, data_dir: Path, engine: str, day: date) -> dict[str, Any]:
    shutil.rmtree(data_dir, ignore_errors=True)
    env = dict(os.environ, SPARK_LOCAL_IP="127.0.0.1")
    done = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            "--db",
            str(db),
            "--data-dir",
            str(data_dir),
            "--engine",
            engine,
            "--date",
            day.isoformat(),
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    if done.returncode != 0:
        raise SystemExit(f"the {engine} run failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


# ---------------------------------------------------------------- the per-loan reference


def in_scope_ids(db: Path, day: date) -> list[int]:
    import sqlite3

    con = sqlite3.connect(db)
    q = "SELECT id FROM loans WHERE status IN ('active', 'overdue', 'restructured') AND accrued_through = ? ORDER BY id"
    ids = [r[0] for r in con.execute(q, ((day - timedelta(days=1)).isoformat(),))]
    con.close()
    return ids


def read_loans(db: Path, ids: list[int]) -> dict[int, Any]:
    """Domain loans as the service reads them (SqlLoans), by id."""
    from sqlalchemy import select

    from daihou.storage import tables as t
    from daihou.storage.engine import make_engine
    from daihou.storage.repository import SqlLoans

    engine = make_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        nos = dict(conn.execute(select(t.loans.c.id, t.loans.c.loan_no).where(t.loans.c.id.in_(ids))).all())
        repo = SqlLoans(conn, _Clock())
        loans = {i: repo.get(nos[i]) for i in ids}
    engine.dispose()
    return loans


def scalar_close(before: dict[int, Any], day: date) -> tuple[dict[int, Any], float]:
    """Each loan closed with the scalar domain functions, loan by loan; seconds per loan."""
    from daihou.domain.grades import DEFAULT_RULES, bucket_of, classify, ifrs9_stage, provision_fen, rules_for
    from daihou.domain.loan import close_day, days_past_due, movements

    rules = rules_for(day, DEFAULT_RULES)
    out: dict[int, Any] = {}
    t0 = time.perf_counter()
    for loan_id, loan in before.items():
        after = close_day(loan, day)
        dpd = days_past_due(after, day)
        grade = classify(dpd, rules.profile, None)
        out[loan_id] = {
            "loan": after,
            "dpd": dpd,
            "bucket": bucket_of(dpd, rules.buckets),
            "classification": grade.value,
            "provision_fen": provision_fen(after.outstanding_principal_fen, grade),
            "ifrs9_stage": ifrs9_stage(dpd, grade, False, rules.stage2_dpd_over, rules.stage3_dpd_over),
            "lines": {a.value: v for a, v in movements(loan, after).items()},
        }
    return out, (time.perf_counter() - t0) / max(1, len(before))


def loan_by_loan(db: Path, ids: list[int], day: date) -> float:
    """Seconds per loan of a loan-by-loan engine: per loan, one unit of work that reads the loan,
    closes the day with the scalar functions, saves the loan and its results and posts the journal
    entry. Nothing is committed (each unit of work rolls back), so the book is left as it was and
    the commit's own cost is not counted: a figure in the scalar loop's favour."""
    from sqlalchemy import select, update

    from daihou.domain.grades import DEFAULT_RULES, classify, ifrs9_stage, provision_fen, rules_for
    from daihou.domain.journal import EntryKind, JournalEntry
    from daihou.domain.loan import close_day, days_past_due, movements
    from daihou.storage import tables as t
    from daihou.storage.engine import make_engine
    from daihou.storage.repository import SqlUnitOfWork

    rules = rules_for(day, DEFAULT_RULES)
    engine = make_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        nos = [n for (n,) in conn.execute(select(t.loans.c.loan_no).where(t.loans.c.id.in_(ids)))]
    t0 = time.perf_counter()
    for loan_no in nos:
        with SqlUnitOfWork(engine, _Clock()) as uow:
            before = uow.loans.get(loan_no)
            assert before is not None
            after = close_day(before, day)
            dpd = days_past_due(after, day)
            grade = classify(dpd, rules.profile, None)
            uow.loans.save(after, "close_of_business", day)
            uow.connection.execute(
                update(t.loans)
                .where(t.loans.c.loan_no == loan_no)
                .values(
                    dpd=dpd,
                    classification=grade.value,
                    ifrs9_stage=ifrs9_stage(dpd, grade, False, rules.stage2_dpd_over, rules.stage3_dpd_over),
                    provision_fen=provision_fen(after.outstanding_principal_fen, grade),
                )
            )
            entry = JournalEntry.from_movements(EntryKind.ACCRUAL, day, movements(before, after), "close of day")
            uow.journal.add(loan_no, [entry] if entry else [], None)
            # leaving without commit() rolls back
    seconds = (time.perf_counter() - t0) / max(1, len(nos))
    engine.dispose()
    return seconds


def compare(db: Path, day: date, reference: dict[int, Any]) -> list[str]:
    """Differences between the run's store and the scalar reference, for the sampled loans."""
    import sqlite3

    stored = read_loans(db, list(reference))
    con = sqlite3.connect(db)
    problems = []
    for loan_id, want in reference.items():
        got = stored[loan_id]
        if got != want["loan"]:
            problems.append(f"loan {loan_id}: stored state differs from close_day")
        row = con.execute(
            "SELECT dpd, classification, provision_fen, ifrs9_stage FROM loans WHERE id = ?", (loan_id,)
        ).fetchone()
        if row != (want["dpd"], want["classification"], want["provision_fen"], want["ifrs9_stage"]):
            problems.append(f"loan {loan_id}: results {row} differ")
        lines = dict(
            con.execute(
                "SELECT l.account, SUM(l.amount_fen) FROM journal_lines l JOIN journal_entries e ON e.id = l.entry_id"
                " WHERE e.kind = 'cob' AND e.booked_on = ? AND l.loan_id = ? GROUP BY l.account",
                (day.isoformat(), loan_id),
            ).fetchall()
        )
        if lines != want["lines"]:
            problems.append(f"loan {loan_id}: journal {lines} != {want['lines']}")
    con.close()
    return problems


class _Clock:
    def now(self) -> datetime:
        return datetime(2026, 11, 21, 20, 0, tzinfo=UTC)


# ---------------------------------------------------------------- reporting


def gib(n: float) -> str:
    return f"{n / 2**30:.2f} GiB"


def machine() -> str:
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return f"{platform.machine()}, {os.cpu_count()} cores, {gib(mem)} RAM, Python {platform.python_version()}"


def load_average() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loans", type=int, default=1_000_000)
    parser.add_argument("--periods", type=int, default=36)
    parser.add_argument("--db", type=Path, help="working SQLite file (default: next to the book)")
    parser.add_argument("--book", type=Path, help="pristine book, built when missing (default /tmp/daihou-bench/…)")
    parser.add_argument("--engine", default="duckdb", help="duckdb, spark or duckdb,spark")
    parser.add_argument("--sample", type=int, default=2000, help="loans closed by the scalar reference")
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--date", type=date.fromisoformat, default=DAY)
    parser.add_argument("--in-place", action="store_true", help="run on the book itself (no copy; for huge books)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.db, args.data_dir, args.engine, args.date)
        return 0

    book = args.book or Path(f"/tmp/daihou-bench/book-{args.loans}-{args.periods}-{args.seed}.db")
    if not book.exists():
        book.parent.mkdir(parents=True, exist_ok=True)
        print(f"building {book} …", flush=True)
        subprocess.run(
            [
                sys.executable,
                str(BENCH / "make_book.py"),
                "--loans",
                str(args.loans),
                "--periods",
                str(args.periods),
                "--seed",
                str(args.seed),
                "--db",
                str(book),
                "--date",
                args.date.isoformat(),
            ],
            check=True,
        )
    ids = in_scope_ids(book, args.date)
    sample = sorted(random.Random(args.seed).sample(ids, min(args.sample, len(ids))))
    print(f"{len(ids):,} loans in scope; reading {len(sample):,} for the scalar reference", flush=True)
    before = read_loans(book, sample)
    reference, per_loan_s = scalar_close(before, args.date)
    reference, per_loan_s = scalar_close(before, args.date)  # second pass: warm
    e2e_ids = sample[: max(1, min(len(sample), args.sample // 4))]
    e2e_per_loan_s = loan_by_loan(book, e2e_ids, args.date)
    runs: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    for engine in args.engine.split(","):
        db = book if args.in_place else (args.db or book.with_name(f"run-{book.stem}.db"))
        if not args.in_place:
            for suffix in ("-wal", "-shm", ""):
                Path(f"{db}{suffix}").unlink(missing_ok=True)
            shutil.copyfile(book, db)
            os.sync()
        print(f"running {args.date} on {engine} (load average {load_average()}) …", flush=True)
        runs[engine] = run_child(db, db.with_name(f"{db.stem}-data-{engine}"), engine, args.date)
        runs[engine]["load_average_after"] = load_average()
        problems += [f"{engine}: {p}" for p in compare(db, args.date, reference)]
        print(json.dumps(runs[engine], indent=2), flush=True)

    print()
    print(f"- command: `.venv/bin/python bench/bench_cob.py {' '.join(argv or sys.argv[1:])}`")
    print(f"- machine: {machine()}; load average at the end {load_average()}")
    print(f"- date: {datetime.now().date().isoformat()}; book: {len(ids):,} loans in scope, {args.periods} periods")
    print()
    print("| engine | wall | load | steps | results | snapshot | write-back | peak RSS |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for engine, r in runs.items():
        ph = r["phases_s"]
        peak = gib(r["peak_rss_bytes"]) + (
            f" + JVM {gib(r['jvm_peak_rss_bytes'])}" if "jvm_peak_rss_bytes" in r else ""
        )
        print(
            f"| {engine} | {r['wall_s']:.1f} s | {ph['load']:.1f} s | {ph['steps']:.1f} s | {ph['results']:.1f} s"
            f" | {ph['snapshot']:.1f} s | {ph['write back']:.1f} s | {peak} |"
        )
    scalar_total = per_loan_s * len(ids)
    e2e_total = e2e_per_loan_s * len(ids)
    print()
    print(
        f"Scalar domain functions alone: {per_loan_s * 1e6:.0f} µs per loan over {len(sample):,} loans →"
        f" {scalar_total:,.0f} s for {len(ids):,} loans."
    )
    print(
        f"Loan-by-loan engine (read, close, save, post; no commit): {e2e_per_loan_s * 1e3:.2f} ms per loan over"
        f" {len(e2e_ids):,} loans → {e2e_total:,.0f} s for {len(ids):,} loans."
    )
    for engine, r in runs.items():
        print(
            f"Ratio ({engine}): {e2e_total / r['wall_s']:.0f}× against the loan-by-loan engine,"
            f" {scalar_total / r['wall_s']:.1f}× against the scalar functions alone"
        )
    print(
        f"Sampled loans equal to the scalar reference: {len(sample) - len({p.split(':')[1] for p in problems})}"
        f"/{len(sample)} per engine"
        if problems
        else f"Sampled loans equal to the scalar reference: all {len(sample)}"
    )
    for p in problems[:20]:
        print("  ", p)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark: build the demo book (`daihou.demo.build_demo_book`, what `daihou demo` runs).

Creates a fresh book (schema and default products), times `build_demo_book` on it and reports the
time by stage, the rows written and rows per second, the peak RSS and the mix of the book:

    .venv/bin/python bench/bench_demo.py --loans 200000
    .venv/bin/python bench/bench_demo.py --loans 200000 --db postgresql://postgres@127.0.0.1:5432/daihou_bench

A SQLite file given with --db is replaced; a PostgreSQL database given with --db is dropped and
created again (it must not be the server's maintenance database). Prints a Markdown block for
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from daihou.bootstrap import App
from daihou.config import Settings
from daihou.demo import DemoSummary, build_demo_book
from daihou.storage.engine import make_engine

AS_OF = date(2026, 11, 22)
NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


class FixedClock:
    def now(self) -> datetime:
        return NOW


def fresh_database(url: str) -> None:
    """Remove the SQLite file, or drop and create the PostgreSQL database, named by `url`."""
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        assert u.database, "a SQLite file, not an in-memory database"
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(u.database + suffix).unlink(missing_ok=True)
        return
    name = u.database
    if not name or name in ("postgres", "template0", "template1"):
        raise SystemExit(f"refusing to drop the database {name!r}: name a database of its own")
    admin = u.set(drivername="postgresql+psycopg", database="postgres")
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def database_size(app: App) -> str:
    url = app.engine.url
    if url.get_backend_name() == "sqlite" and url.database:
        size = sum(os.path.getsize(url.database + s) for s in ("", "-wal") if os.path.exists(url.database + s))
    else:
        with app.engine.connect() as conn:
            size = int(conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one())
    return f"{size / 1024**3:.2f} GiB"


def report(
    args: argparse.Namespace, app: App, summary: DemoSummary, initialise_s: float, load: tuple[float, ...]
) -> str:
    gib = 1024**3
    cpu = os.times()
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    stages = ", ".join(f"{k} {v:.1f} s" for k, v in summary.seconds_by_stage.items())
    tables = ", ".join(
        f"{name} {getattr(summary, name):,}"
        for name in ("borrowers", "contacts", "loans", "schedule_versions", "installments", "transactions",
                     "journal_entries", "journal_lines")
    )  # fmt: skip
    lines = [
        f"### Demo book: {args.loans:,} loans on {app.engine.dialect.name}",
        "",
        f"- command: `python {' '.join(sys.argv)}`",
        f"- machine: {platform.machine()}, {os.cpu_count()} cores, {memory / gib:.1f} GiB, "
        f"Python {platform.python_version()}",
        f"- date: {datetime.now().isoformat(timespec='seconds')}",
        f"- build_demo_book: {summary.seconds:.1f} s ({stages}); initialising the empty book before: "
        f"{initialise_s:.1f} s",
        f"- rows: {summary.rows:,} ({summary.rows / summary.seconds:,.0f} rows/s): {tables}",
        f"- CPU: {cpu.user + cpu.system:.1f} s in this process, {cpu.children_user + cpu.children_system:.1f} s in "
        f"its helper process; load average before / after: {load[0]:.1f} / {os.getloadavg()[0]:.1f} "
        f"(other jobs on the machine)",
        f"- peak RSS: {peak_rss_bytes() / gib:.2f} GiB (this process); database size: {database_size(app)}",
        f"- loans by product: {summary.loans_by_product}",
        f"- loans by behaviour: {summary.loans_by_behaviour}",
        f"- loans by status on {AS_OF}: {summary.loans_by_status}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loans", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--db", default=None, help="database URL (default: a SQLite file in a temporary directory)")
    parser.add_argument("--target-s", type=float, default=60.0, help="exit 1 when the build takes longer")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite:///{tmp}/bench_demo.db"
        fresh_database(url)
        app = App(Settings(database_url=url), make_engine(url), FixedClock())
        t0 = time.perf_counter()
        app.initialise()
        initialise_s = time.perf_counter() - t0

        def progress(stage: str, done: int, total: int) -> None:
            if done == 0:
                wall, cpu = time.perf_counter() - t1, time.process_time() - c1
                print(f"{wall:7.1f} s  cpu {cpu:6.1f} s  {stage} ({total:,})", file=sys.stderr, flush=True)

        load = os.getloadavg()
        t1, c1 = time.perf_counter(), time.process_time()
        summary = build_demo_book(app.engine, loans=args.loans, seed=args.seed, as_of=AS_OF, now=NOW,
                                  progress=progress)  # fmt: skip
        print(report(args, app, summary, initialise_s, load))
        app.engine.dispose()
    return 0 if summary.seconds <= args.target_s else 1


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: scoring every open loan with the behaviour score (B卡) inside the close of business.

1. The book of `bench/bench_cob.py` (built once with `bench/make_book.py`, not measured), copied.
2. Baseline: the close of business for the business date on DuckDB (load, steps, write-back,
   snapshot) — `run_day` alone, without the after-close steps.
3. Five month-end snapshots before the date are derived from the day's snapshot (DPD moved back a
   month at a time), so the features read a realistic history of 6 × N rows.
4. A scorecard trained on the UCI data mapped to the behaviour features (or, without the datasets
   folder, on a synthetic sample) is deployed as `bcard`.
5. Timed: `score_book` — features (one DuckDB query over the snapshots plus two aggregates in the
   store), the scorecard, and the write of one `loan_scores` row per loan — reported against the
   baseline as the time scoring adds to the close of business.

    .venv/bin/python bench/bench_scoring.py --loans 1000000
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import time
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlalchemy import inspect

from daihou.batch.cob.engines import connect
from daihou.batch.cob.runner import DayDone, run_day
from daihou.bootstrap import App
from daihou.config import Settings
from daihou.risk import behaviour
from daihou.risk.registry import Registry
from daihou.risk.train import TrainSpec, train
from daihou.storage.engine import make_engine
from daihou.storage.score_store import SqlScoreStore, month_ends_before
from daihou.workflow import scoring

BENCH = Path(__file__).parent
DAY = date(2026, 11, 22)
UCI = BENCH.parent.parent / "shared" / "datasets" / "uci_credit_card" / "UCI_Credit_Card.csv"


class Clock:
    def now(self) -> datetime:
        return datetime(2026, 11, 22, 23, 0)


def build_book(loans: int, periods: int, seed: int) -> Path:
    book = Path(f"/tmp/daihou-bench/book-{loans}-{periods}-{seed}.db")
    if not book.exists():
        book.parent.mkdir(parents=True, exist_ok=True)
        print(f"building {book} …", flush=True)
        args = ["--loans", str(loans), "--periods", str(periods), "--seed", str(seed), "--db", str(book)]
        subprocess.run([sys.executable, str(BENCH / "make_book.py"), *args, "--date", DAY.isoformat()], check=True)
    return book


def month_end_history(app: App, day: date) -> None:
    today = pq.read_table(app.settings.data_dir / "snapshots" / f"business_date={day}" / "part-0.parquet")
    for back, end in enumerate(month_ends_before(day, 5), start=1):
        dpd = pc.max_element_wise(pc.subtract(today["dpd"], 30 * back), 0)
        table = today.set_column(today.schema.get_field_index("dpd"), "dpd", dpd)
        folder = app.settings.data_dir / "snapshots" / f"business_date={end}"
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, folder / "part-0.parquet")


def training_frame() -> tuple[pd.DataFrame, str]:
    if UCI.exists():
        return behaviour.from_uci(pd.read_csv(UCI)), "UCI credit card, mapped"
    rng = np.random.default_rng(1)
    rows = 20_000
    delay = rng.choice([0, 0, 0, 0, 1, 2, 3], size=rows)
    frame = pd.DataFrame({f: rng.uniform(0, 1, rows) for f in behaviour.FEATURES})
    frame["delay_now"] = delay
    frame[behaviour.TARGET] = (rng.random(rows) < 1 / (1 + np.exp(2.5 - 0.9 * delay))).astype(int)
    return frame, "synthetic"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loans", type=int, default=1_000_000)
    parser.add_argument("--periods", type=int, default=36)
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--book", type=Path, help="an existing book of bench/make_book.py for its default --date")
    args = parser.parse_args(argv)

    book = args.book or build_book(args.loans, args.periods, args.seed)
    work = book.with_name(f"scoring-{book.stem}.db")
    data = book.with_name(f"scoring-{book.stem}-data")
    for suffix in ("-wal", "-shm", ""):
        Path(f"{work}{suffix}").unlink(missing_ok=True)
    shutil.rmtree(data, ignore_errors=True)
    shutil.copyfile(book, work)
    os.sync()
    app = App(Settings(database_url=f"sqlite:///{work}", data_dir=data), make_engine(f"sqlite:///{work}"), Clock())
    with app.engine.begin() as conn:  # a book built before loan_scores.model_name was added to migration 0011
        if "model_name" not in {c["name"] for c in inspect(conn).get_columns("loan_scores")}:
            conn.exec_driver_sql("ALTER TABLE loan_scores ADD COLUMN model_name VARCHAR(64)")

    store = app.cob_store()
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    done = run_day(store, app.snapshots(), connect("duckdb"), "duckdb", DAY, store.rule_versions())
    cob_s = time.perf_counter() - t0
    assert isinstance(done, DayDone), done
    month_end_history(app, DAY)

    frame, source = training_frame()
    fitted = train(frame, TrainSpec(target=behaviour.TARGET, seed=42))
    registry = Registry(data)
    registry.save("bcard_bench", fitted.model, fitted.card, {"source": source})
    registry.deploy("bcard", "bcard_bench", None, "bench", Clock().now().isoformat())

    scores = SqlScoreStore(app.engine, data)
    t1 = time.perf_counter()
    raw = scores.behaviour(DAY)
    t2 = time.perf_counter()
    features = behaviour.finish(raw)
    scored = fitted.model.score(features[list(fitted.model.features)])
    t3 = time.perf_counter()
    written = scores.write("bcard", "bcard_bench", 1, DAY, features.index.to_numpy(), scored.score, scored.pd)
    t4 = time.perf_counter()
    counts = scoring.score_book(app, DAY, force=True)  # the step as the close of business calls it
    step_s = time.perf_counter() - t4
    assert counts == {"scored_bcard": written}, counts
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2

    print(f"- command: `.venv/bin/python bench/bench_scoring.py {' '.join(argv or sys.argv[1:])}`")
    print(f"- machine: {os.cpu_count()} cores; load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after")
    print(f"- date: {datetime.now().date()}; book {args.loans:,} loans × {args.periods}; model trained on {source}")
    print()
    print("| | seconds | × COB |")
    print("|---|---:|---:|")
    print(f"| close of business (DuckDB, baseline) | {cob_s:.1f} | 1.00 |")
    for name, s in (
        ("features: snapshots + payments + dues", t2 - t1),
        ("scorecard", t3 - t2),
        ("write loan_scores", t4 - t3),
        ("score_book step, end to end", step_s),
    ):
        print(f"| {name} | {s:.1f} | {s / cob_s:.2f} |")
    print(f"\n{written:,} loans scored; process peak RSS {peak:.2f} GiB; mean PD {float(np.mean(scored.pd)):.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark: columnar schedules (`daihou.batch.schedules.build_schedules`) for a whole book.

Generates a random but realistic book (mixed methods, rates 3–24 %, principal 1,000–500,000 yuan,
starts spread over two years, 20 % broken first periods), times `build_schedules` on it, reports the
peak RSS, checks a random sample against the scalar `build_schedule` installment by installment and
times the scalar function on that sample as the baseline of the same run.

    .venv/bin/python bench/bench_schedules.py --loans 1000000 --periods 36

Prints a Markdown block for docs/benchmarks.md; exits 1 if any sampled loan differs.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
from datetime import datetime
from decimal import Decimal

import numpy as np

from daihou.batch.schedules import METHOD_CODES, ScheduleColumns, build_schedules
from daihou.domain.calendar import DayCount
from daihou.domain.products import RepaymentMethod
from daihou.domain.schedule import ScheduleTerms, build_schedule

CODE_METHODS = {code: method for method, code in METHOD_CODES.items()}
METHOD_MIX = {  # share of the book
    RepaymentMethod.EQUAL_INSTALLMENT: 0.50,
    RepaymentMethod.EQUAL_PRINCIPAL: 0.25,
    RepaymentMethod.INTEREST_ONLY: 0.15,
    RepaymentMethod.BULLET: 0.10,
}
BOOK_START = np.datetime64("2024-11-22", "D")
BOOK_DAYS = 730  # starts over two years
BROKEN_SHARE = 0.20
ACT_365_SHARE = 0.10


def generate_book(loans: int, periods: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    codes = np.array([METHOD_CODES[m] for m in METHOD_MIX], dtype=np.int8)
    method = rng.choice(codes, size=loans, p=list(METHOD_MIX.values()))
    rate_ppm = rng.integers(300, 2_401, size=loans, dtype=np.int64) * 100  # 3.00 % .. 24.00 %, 0.01 % steps
    yuan = np.exp(rng.uniform(np.log(1_000), np.log(500_000), size=loans))  # log-uniform amounts
    principal_fen = np.clip(np.round(yuan / 100) * 100, 1_000, 500_000).astype(np.int64) * 100
    start = BOOK_START + rng.integers(0, BOOK_DAYS, size=loans)
    # broken first periods: a first due date 10..60 days after the start (a lender's billing day);
    # for a bullet, its maturity moved by up to 15 days off the regular term
    first_due = np.full(loans, np.datetime64("NaT"), dtype="datetime64[D]")
    broken = rng.random(loans) < BROKEN_SHARE
    bullet = method == METHOD_CODES[RepaymentMethod.BULLET]
    near = broken & ~bullet
    first_due[near] = start[near] + rng.integers(10, 61, size=int(near.sum()))
    far = broken & bullet
    term_days = round(periods * 365.25 / 12)
    first_due[far] = start[far] + term_days + rng.integers(-15, 16, size=int(far.sum()))
    year_days = np.where(rng.random(loans) < ACT_365_SHARE, 365, 360).astype(np.int64)
    return {
        "principal_fen": principal_fen,
        "rate_ppm": rate_ppm,
        "periods": np.full(loans, periods, dtype=np.int64),
        "method": method,
        "start": start,
        "first_due": first_due,
        "day_count_year_days": year_days,
    }


def scalar_terms(book: dict[str, np.ndarray], i: int) -> ScheduleTerms:
    first_due = book["first_due"][i]
    return ScheduleTerms(
        principal_fen=int(book["principal_fen"][i]),
        rate_annual=Decimal(int(book["rate_ppm"][i])).scaleb(-6),
        periods=int(book["periods"][i]),
        method=CODE_METHODS[int(book["method"][i])],
        start=book["start"][i].item(),
        first_due=None if np.isnat(first_due) else first_due.item(),
        day_count=DayCount.ACT_365 if int(book["day_count_year_days"][i]) == 365 else DayCount.ACT_360,
    )


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loans", type=int, default=1_000_000)
    parser.add_argument("--periods", type=int, default=36)
    parser.add_argument("--sample", type=int, default=2000, help="loans checked against (and timed with) the scalar")
    parser.add_argument("--seed", type=int, default=20261122)
    args = parser.parse_args(argv)

    book = generate_book(args.loans, args.periods, args.seed)
    rss_book = peak_rss_bytes()

    t0 = time.perf_counter()
    cols: ScheduleColumns = build_schedules(**book)
    wall = time.perf_counter() - t0
    rss_peak = peak_rss_bytes()

    rng = np.random.default_rng(args.seed + 1)
    sample = np.sort(rng.choice(args.loans, size=min(args.sample, args.loans), replace=False)).tolist()
    terms = [scalar_terms(book, i) for i in sample]
    t0 = time.perf_counter()
    scalar = [build_schedule(t) for t in terms]
    scalar_wall = time.perf_counter() - t0
    mismatches = [i for i, s in zip(sample, scalar, strict=True) if cols.installments(i) != s.installments]

    columnar_per_loan = wall / args.loans
    scalar_per_loan = scalar_wall / len(sample)
    gib = 1024**3
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    command = " ".join(["python", *sys.argv])
    print(f"### Schedules: {args.loans:,} loans × {args.periods} months\n")
    print(f"- command: `{command}`")
    print(
        f"- machine: {platform.machine()}, {os.cpu_count()} cores, {memory / gib:.1f} GiB, "
        f"Python {platform.python_version()}, NumPy {np.__version__}"
    )
    print(f"- date: {datetime.now().isoformat(timespec='seconds')}")
    print(f"- rows: {len(cols):,} installments")
    print(f"- columnar wall time: {wall:.2f} s ({columnar_per_loan * 1e6:.2f} µs per loan)")
    print(f"- peak RSS: {rss_peak / gib:.2f} GiB (after generating the book: {rss_book / gib:.2f} GiB)")
    print(
        f"- scalar baseline (same run, {len(sample):,} sampled loans): "
        f"{scalar_per_loan * 1e6:.0f} µs per loan, {scalar_wall:.2f} s"
    )
    print(f"- per-loan speed ratio: {scalar_per_loan / columnar_per_loan:.0f}× (scalar / columnar)")
    print(f"- equality on the sample: {len(sample) - len(mismatches)}/{len(sample)} loans identical")
    if mismatches:
        print(f"- MISMATCHED loans (first 10): {mismatches[:10]}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

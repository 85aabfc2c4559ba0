"""A big loan book for the close-of-business benchmark, written straight into a SQLite store.

The demo builder (`daihou demo`) simulates every payment of every loan; for millions of loans this
module is much quicker: it generates the book columnar with NumPy, takes the schedules from
`daihou.batch.schedules.build_schedules`, sets a realistic state as of the day before the business
date, and bulk-inserts the rows with `executemany` in chunks of 500,000 (PRAGMA synchronous=OFF and
journal_mode=OFF, secondary indexes dropped and rebuilt — for the build only; the store is a normal
WAL database afterwards).

The book (defaults): 36-month loans, 55 % 等额本息 (a third of them on the CONSUMER product, 3 grace
days), 25 % 等额本金, 20 % 先息后本; rates 3–24 %; principal 1,000–500,000 yuan (log-uniform);
disbursed over the 35 months (at most periods − 1) before the business date, so that every age is
present and no term has ended; 20 % broken first
periods; 10 % ACT/365. Behaviour: 5 % paid off early (out of the run's scope), 8 % overdue (the
last 1–12 due installments unpaid, the oldest sometimes part-paid, penalty and compound interest
accrued), 3 % holding borrower credit (some of them also overdue or due on the business date, so
that credit is applied), the rest paid on time. Every open loan is closed through the day before
the business date. Journal: a disbursement, an accrual and a payment entry per loan (the history
is summarised; the run only appends to it).

    .venv/bin/python bench/make_book.py --loans 1000000 --db /tmp/book.db
"""

from __future__ import annotations

import argparse
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from daihou.batch.schedules import METHOD_CODES, build_schedules
from daihou.domain.products import RepaymentMethod
from daihou.storage.engine import make_engine, migrate

I64 = npt.NDArray[np.int64]
CHUNK = 500_000  # rows per executemany
LOANS_PER_SLICE = 500_000  # loans generated at a time (bounds the builder's memory)
BUSINESS_DATE = date(2026, 11, 22)
CREATED_AT = "2026-11-21 20:00:00.000000"
PPM = 1_000_000
EI, EP, IO = (
    METHOD_CODES[m]
    for m in (RepaymentMethod.EQUAL_INSTALLMENT, RepaymentMethod.EQUAL_PRINCIPAL, RepaymentMethod.INTEREST_ONLY)
)
METHOD_NAMES = {code: m.value for m, code in METHOD_CODES.items()}
# (method code, product code, share of the book)
MIX = ((EI, "STD", 0.37), (EI, "CONSUMER", 0.18), (EP, "MORTGAGE", 0.25), (IO, "SME_REVOLVE", 0.20))
PAID_OFF, OVERDUE, CREDIT = 0.05, 0.08, 0.03


@dataclass
class BookSummary:
    loans: int
    open_loans: int
    installments: int
    journal_entries: int
    journal_lines: int
    by_status: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def _days(d: date) -> int:
    return int(np.datetime64(d, "D").astype(np.int64))


def _div_round(n: I64, d: I64 | int) -> I64:
    out: I64 = (2 * n + d) // (2 * np.asarray(d))
    return out


def _iso(days: I64) -> list[str]:
    return days.astype("datetime64[D]").astype(str).tolist()  # type: ignore[no-any-return]


def _products(db: Path) -> dict[str, dict[str, Any]]:
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    rows = {r["code"]: dict(r) for r in con.execute("SELECT * FROM products")}
    con.close()
    return rows


def generate(
    loans: int, periods: int, seed: int, day: date, products: dict[str, dict[str, Any]], first_id: int = 1
) -> dict[str, Any]:
    """A slice of the book as NumPy columns: loans `first_id`… (one row each) and their installments
    (sorted by loan, no). Each slice has its own random stream, so a book is the same however it is cut."""
    rng = np.random.default_rng([seed, first_id])
    n = loans
    prev = _days(day) - 1  # every open loan is closed through this day
    kind = rng.choice(len(MIX), size=n, p=[m[2] for m in MIX])
    method = np.array([m[0] for m in MIX], dtype=np.int64)[kind]
    product = [products[m[1]] for m in MIX]
    product_id = np.array([p["id"] for p in product], dtype=np.int64)[kind]
    grace = np.array([p["grace_days"] for p in product], dtype=np.int64)[kind]
    multiplier = np.array([p["penalty_multiplier_ppm"] for p in product], dtype=np.int64)[kind]
    rate = rng.integers(300, 2_401, size=n, dtype=np.int64) * 100
    penalty_rate = rate * multiplier // PPM
    yuan = np.exp(rng.uniform(np.log(1_000), np.log(500_000), size=n))
    principal = np.clip(np.round(yuan / 100) * 100, 1_000, 500_000).astype(np.int64) * 100
    disbursed = prev - rng.integers(0, max(1, min(35, periods - 1) * 30), size=n)  # no term has ended yet
    first_due = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)
    broken = rng.random(n) < 0.20
    first_due[broken] = disbursed[broken] + rng.integers(10, 61, size=int(broken.sum()))
    year_days = np.where(rng.random(n) < 0.10, 365, 360).astype(np.int64)
    s = build_schedules(
        principal,
        rate,
        np.full(n, periods),
        method,
        disbursed.astype("datetime64[D]"),
        first_due.astype("datetime64[D]"),
        year_days,
    )
    li = s.loan_index
    start = s.start_date.astype(np.int64)
    due = s.due_date.astype(np.int64)
    p_due, i_due = s.principal_fen, s.interest_fen
    m = len(li)

    # -- behaviour
    u = rng.random(n)
    paid_off = u < PAID_OFF
    overdue = (u >= PAID_OFF) & (u < PAID_OFF + OVERDUE)
    credit_holder = (u >= PAID_OFF + OVERDUE) & (u < PAID_OFF + OVERDUE + CREDIT)
    # a third of the credit holders are also overdue, so that the run applies their credit
    overdue |= credit_holder & (rng.random(n) < 1 / 3)
    past = due <= prev  # fell due on or before the last closed day
    past_count = np.bincount(li, weights=past, minlength=n).astype(np.int64)
    missed = np.minimum(past_count, rng.geometric(0.3, size=n))
    missed = np.where(overdue, np.minimum(missed, 12), 0)
    first_row = np.searchsorted(li, np.arange(n))
    # installment k (0-based) of its loan is unpaid when it is one of the `missed` last past ones
    k = np.arange(m) - first_row[li]
    unpaid = past & (k >= (past_count - missed)[li]) & ~paid_off[li]
    oldest_unpaid = unpaid & (k == (past_count - missed)[li])
    part_paid = oldest_unpaid & (rng.random(m) < 0.3)

    settled = (past & ~unpaid) | paid_off[li]
    p_paid = np.where(settled, p_due, 0)
    i_paid = np.where(settled, i_due, 0)
    i_paid = np.where(part_paid, i_due, i_paid)
    p_paid = np.where(part_paid, p_due // 2, p_paid)
    # interest recognised through `prev`: in full once due, pro rata over the running period
    length = np.maximum(due - start, 1)
    elapsed = np.clip(prev - start, 0, None)
    accrued = np.where(due <= prev, i_due, _div_round(i_due * elapsed, length))
    accrued = np.where(paid_off[li], i_due, accrued)
    # penalty and compound interest for the days late past the grace days
    ppm, yd = penalty_rate[li], year_days[li]
    late_days = np.clip(prev - np.maximum(start, due + grace[li]), 0, None)
    late_days = np.where(due < prev, late_days, 0)
    pen = np.where(unpaid, _div_round((p_due - p_paid) * ppm, PPM * yd) * late_days, 0)
    comp = np.where(unpaid, _div_round((i_due - i_paid) * ppm, PPM * yd) * late_days, 0)

    # -- loan state
    arrears = (p_due - p_paid) + (i_due - i_paid)
    overdue_row = (due <= prev) & (arrears > 0)
    earliest = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(earliest, li[overdue_row], due[overdue_row])
    dpd = np.where(earliest == np.iinfo(np.int64).max, 0, prev - earliest)
    outstanding = np.bincount(li, weights=p_due - p_paid, minlength=n).astype(np.int64)
    paid_total = np.bincount(li, weights=p_paid + i_paid, minlength=n).astype(np.int64)
    next_payment = np.zeros(n, dtype=np.int64)
    upcoming = (due > prev) & ~settled
    nxt = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(nxt, li[upcoming], due[upcoming])
    first_upcoming = upcoming & (due == nxt[li])
    next_payment[li[first_upcoming]] = (p_due + i_due)[first_upcoming]
    credit = np.where(credit_holder, rng.integers(1, 3, size=n) * next_payment // 2, 0)
    status = np.where(paid_off, "paid_off", np.where(dpd > 0, "overdue", "active"))
    classification = np.select(
        [dpd > 360, dpd > 270, dpd > 90, dpd > 0], ["loss", "doubtful", "substandard", "special_mention"], "normal"
    )
    stage = np.select([dpd > 90, dpd > 30], [3, 2], 1)
    provision_ppm = np.select([dpd > 360, dpd > 270, dpd > 90, dpd > 0], [PPM, 500_000, 250_000, 20_000], 15_000)
    loans_cols = {
        "id": np.arange(first_id, first_id + n),
        "principal_fen": principal,
        "rate_annual_ppm": rate,
        "penalty_rate_annual_ppm": penalty_rate,
        "periods": np.full(n, periods),
        "method": method,
        "product_id": product_id,
        "grace_days": grace,
        "year_days": year_days,
        "disbursed_on": disbursed,
        "first_due_on": first_due,
        "status": status,
        "credit_fen": credit,
        "received_fen": paid_total + credit,
        "dpd": dpd,
        "classification": classification,
        "ifrs9_stage": stage,
        "provision_fen": _div_round(outstanding * provision_ppm, PPM),
        "accrued_fen": np.bincount(li, weights=accrued, minlength=n).astype(np.int64),
        "penalty_fen": np.bincount(li, weights=pen + comp, minlength=n).astype(np.int64),
        "paid_fen": paid_total,
        "interest_paid_fen": np.bincount(li, weights=i_paid, minlength=n).astype(np.int64),
        "principal_paid_fen": np.bincount(li, weights=p_paid, minlength=n).astype(np.int64),
    }
    inst_cols = {
        "loan_id": li + first_id,
        "no": s.no.astype(np.int64),
        "start_date": start,
        "due_date": due,
        "principal_due_fen": p_due,
        "principal_paid_fen": p_paid,
        "interest_due_fen": i_due,
        "interest_paid_fen": i_paid,
        "penalty_due_fen": pen,
        "compound_due_fen": comp,
        "interest_accrued_fen": accrued,
    }
    return {"loans": loans_cols, "installments": inst_cols, "prev": prev, "products": product}


# ---------------------------------------------------------------- writing


def _chunks(n: int, size: int = CHUNK) -> Iterator[slice]:
    for lo in range(0, n, size):
        yield slice(lo, min(n, lo + size))


def _insert(con: sqlite3.Connection, table: str, columns: Sequence[str], rows: Iterator[Sequence[Any]]) -> None:
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"
    con.executemany(sql, zip(*rows, strict=True))


class Writer:
    """One SQLite connection and transaction for the whole build; secondary indexes rebuilt at the end."""

    TABLES = ("borrowers", "loans", "schedule_versions", "installments", "journal_entries", "journal_lines")

    def __init__(self, db: Path, products: dict[int, dict[str, Any]]) -> None:
        self.products = products
        self.installments = 0
        self.con = sqlite3.connect(db, isolation_level=None)
        for pragma in ("journal_mode=OFF", "synchronous=OFF", "foreign_keys=OFF", "cache_size=-1048576"):
            self.con.execute(f"PRAGMA {pragma}")
        marks = ", ".join(f"'{t}'" for t in self.TABLES)
        q = f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN ({marks})"
        self.indexes = self.con.execute(q).fetchall()
        for name, _ in self.indexes:
            self.con.execute(f"DROP INDEX {name}")
        self.con.execute("BEGIN")

    def add(self, book: dict[str, Any]) -> None:
        self._loans(book["loans"], _iso(np.array([book["prev"]]))[0])
        self._installments(book["installments"])

    def finish(self, progress: Callable[[str], None]) -> BookSummary:
        con = self.con
        con.execute("COMMIT")
        progress("rows written; building indexes")
        for _, sql in self.indexes:
            con.execute(sql)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("ANALYZE")
        entries = con.execute("SELECT COUNT(*) FROM journal_entries").fetchone()[0]
        lines = con.execute("SELECT COUNT(*) FROM journal_lines").fetchone()[0]
        by_status = dict(con.execute("SELECT status, COUNT(*) FROM loans GROUP BY status").fetchall())
        con.close()
        n = sum(by_status.values())
        return BookSummary(n, n - by_status.get("paid_off", 0), self.installments, entries, lines, by_status)

    def _loans(self, L: dict[str, Any], prev_iso: str) -> None:
        con, products = self.con, self.products
        for sl in _chunks(len(L["id"])):
            ids = L["id"][sl].tolist()
            k = len(ids)
            _insert(
                con,
                "borrowers",
                ("id", "borrower_no", "kind", "name", "id_number", "version", "created_at"),
                iter(
                    (
                        ids,
                        [f"B{i:09d}" for i in ids],
                        ["individual"] * k,
                        ["借款人"] * k,
                        ["110101199001010000"] * k,
                        [1] * k,
                        [CREATED_AT] * k,
                    )
                ),
            )
            pid = L["product_id"][sl].tolist()
            first_due = L["first_due_on"][sl]
            first_due_iso: list[str | None] = [
                None if f < -(10**12) else v
                for f, v in zip(first_due.tolist(), _iso(np.maximum(first_due, 0)), strict=True)
            ]
            values: dict[str, list[Any]] = {
                "id": ids,
                "loan_no": [f"JJ{i:012d}" for i in ids],
                "contract_no": [f"HT{i:012d}" for i in ids],
                "borrower_id": ids,
                "product_id": pid,
                "officer": [f"officer{i % 500:03d}" for i in ids],
                "purpose": ["经营周转"] * k,
                "principal_fen": L["principal_fen"][sl].tolist(),
                "rate_annual_ppm": L["rate_annual_ppm"][sl].tolist(),
                "penalty_rate_annual_ppm": L["penalty_rate_annual_ppm"][sl].tolist(),
                "periods": L["periods"][sl].tolist(),
                "method": [METHOD_NAMES[c] for c in L["method"][sl].tolist()],
                "frequency": ["monthly"] * k,
                "day_count": ["act_365" if y == 365 else "act_360" for y in L["year_days"][sl].tolist()],
                "disbursed_on": _iso(L["disbursed_on"][sl]),
                "first_due_on": first_due_iso,
                "grace_days": L["grace_days"][sl].tolist(),
                "dpd_tolerance_fen": [products[p]["dpd_tolerance_fen"] for p in pid],
                "compound_interest": [int(products[p]["compound_interest"]) for p in pid],
                "allocation_order": [products[p]["allocation_order"] for p in pid],
                "allocation_mode": [products[p]["allocation_mode"] for p in pid],
                "status": L["status"][sl].tolist(),
                **{f"{c}_{p}_fen": [0] * k for c in ("cost", "fee") for p in ("due", "paid", "waived")},
                "credit_fen": L["credit_fen"][sl].tolist(),
                "received_fen": L["received_fen"][sl].tolist(),
                "accrued_through": [prev_iso] * k,
                "schedule_version": [1] * k,
                "dpd": L["dpd"][sl].tolist(),
                "classification": L["classification"][sl].tolist(),
                "ifrs9_stage": L["ifrs9_stage"][sl].tolist(),
                "provision_fen": L["provision_fen"][sl].tolist(),
                "version": [1] * k,
                "created_at": [CREATED_AT] * k,
                "updated_at": [CREATED_AT] * k,
            }
            _insert(con, "loans", list(values), iter(values.values()))
            _insert(
                con,
                "schedule_versions",
                ("id", "loan_id", "version", "reason", "effective_on", "created_at"),
                iter((ids, ids, [1] * k, ["disbursement"] * k, values["disbursed_on"], [CREATED_AT] * k)),
            )
            _journal(con, L, sl, values["disbursed_on"], prev_iso)

    def _installments(self, inst: dict[str, Any]) -> None:
        zero_cols = [f"{c}_waived_fen" for c in ("principal", "interest", "penalty", "compound")]
        zero_cols += ["penalty_paid_fen", "compound_paid_fen"]
        first = self.installments + 1
        for sl in _chunks(len(inst["loan_id"])):
            k = sl.stop - sl.start
            values = {
                "id": list(range(first + sl.start, first + sl.stop)),
                "loan_id": inst["loan_id"][sl].tolist(),
                "schedule_version": [1] * k,
                "no": inst["no"][sl].tolist(),
                "start_date": _iso(inst["start_date"][sl]),
                "due_date": _iso(inst["due_date"][sl]),
                **{c: inst[c][sl].tolist() for c in inst if c.endswith("_fen")},
                **{c: [0] * k for c in zero_cols},
            }
            _insert(self.con, "installments", list(values), iter(values.values()))
        self.installments += len(inst["loan_id"])


def _journal(con: sqlite3.Connection, L: dict[str, Any], sl: slice, disbursed_iso: list[str], prev_iso: str) -> None:
    """Per loan: the disbursement, the interest and penalty recognised so far, and what was received."""
    ids = L["id"][sl]
    k = len(ids)
    entry = np.stack([3 * ids - 2, 3 * ids - 1, 3 * ids], axis=1).reshape(-1)
    loan = np.repeat(ids, 3)
    kinds = ["disbursement", "accrual", "payment"] * k
    booked = [d for d0 in disbursed_iso for d in (d0, prev_iso, prev_iso)]
    _insert(
        con,
        "journal_entries",
        ("id", "loan_id", "kind", "booked_on", "memo", "created_at"),
        iter((entry.tolist(), loan.tolist(), kinds, booked, ["bench book"] * (3 * k), [CREATED_AT] * (3 * k))),
    )
    p, acc, pen = L["principal_fen"][sl], L["accrued_fen"][sl], L["penalty_fen"][sl]
    ip, pp, credit = L["interest_paid_fen"][sl], L["principal_paid_fen"][sl], L["credit_fen"][sl]
    lines = [  # (entry offset, account, amount)
        (0, "principal_receivable", p),
        (0, "cash_clearing", -p),
        (1, "interest_receivable", acc),
        (1, "interest_income", -acc),
        (1, "penalty_receivable", pen),
        (1, "penalty_income", -pen),
        (2, "cash_clearing", ip + pp + credit),
        (2, "interest_receivable", -ip),
        (2, "principal_receivable", -pp),
        (2, "borrower_credit", -credit),
    ]
    e, lo, ac, am = [], [], [], []
    for offset, account, amount in lines:
        keep = amount != 0
        e.append(3 * ids[keep] - 2 + offset)
        lo.append(ids[keep])
        ac.extend([account] * int(keep.sum()))
        am.append(amount[keep])
    order = np.argsort(np.concatenate(e), kind="stable")
    _insert(
        con,
        "journal_lines",
        ("entry_id", "loan_id", "account", "amount_fen"),
        iter(
            (
                np.concatenate(e)[order].tolist(),
                np.concatenate(lo)[order].tolist(),
                np.array(ac, dtype=object)[order].tolist(),
                np.concatenate(am)[order].tolist(),
            )
        ),
    )


def build_book(
    db: Path,
    loans: int,
    periods: int = 36,
    seed: int = 20261122,
    day: date = BUSINESS_DATE,
    progress: Callable[[str], None] = print,
) -> BookSummary:
    """A fresh store at `db` (replaced if present) with the generated book, closed through day − 1."""
    started = time.perf_counter()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    engine = make_engine(f"sqlite:///{db}")
    migrate(engine)
    from daihou.bootstrap import App
    from daihou.config import Settings

    App(Settings(database_url=f"sqlite:///{db}"), engine, _Clock()).initialise()
    engine.dispose()
    products = _products(db)
    writer = Writer(db, {p["id"]: p for p in products.values()})
    generating = 0.0
    for first in range(1, loans + 1, LOANS_PER_SLICE):
        t0 = time.perf_counter()
        book = generate(min(LOANS_PER_SLICE, loans - first + 1), periods, seed, day, products, first)
        generating += time.perf_counter() - t0
        writer.add(book)
        progress(f"loans {first:,}..{first + len(book['loans']['id']) - 1:,} written")
    summary = writer.finish(progress)
    total = time.perf_counter() - started
    summary.seconds = {"generate": generating, "write": total - generating, "total": total}
    return summary


class _Clock:
    def now(self) -> Any:
        from datetime import UTC, datetime

        return datetime(2026, 11, 21, 20, 0, tzinfo=UTC)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loans", type=int, default=1_000_000)
    parser.add_argument("--periods", type=int, default=36)
    parser.add_argument("--db", type=Path, required=True, help="SQLite file to create (replaced if present)")
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--date", type=date.fromisoformat, default=BUSINESS_DATE, help="the business date to run")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    summary = build_book(
        args.db,
        args.loans,
        args.periods,
        args.seed,
        args.date,
        lambda msg: print(f"[{time.perf_counter() - t0:7.1f} s] {msg}", flush=True),
    )
    print(summary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

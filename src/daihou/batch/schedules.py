"""Repayment schedules for many loans at once, as flat NumPy columns.

`build_schedules` gives every loan exactly the installments of the scalar reference
`daihou.domain.schedule.build_schedule` — the same dates and the same fen, row for row — for a
whole book in one call. The rules are the scalar ones (read that module first); only the
evaluation order differs:

* Dates are month arithmetic on `datetime64[M]`, the day of month clamped to the month's length,
  anchored on the first due date when given (due_k = add_months(first_due, k)), else on disbursement
  (due_k = add_months(start, k + 1)), as `calendar.add_months`.
* Interest is integer half-up division, the `div_round` formula (2n + d) // (2d), in int64. A
  numerator that could pass 2**63 (the broken first period and the bullet's whole-term interest,
  remaining × ppm × days or × periods) is divided in two exact steps: with x = remaining × ppm and
  x = q·d + r, div_round(x·m, d) = q·m + div_round(r·m, d).
* The 等额本息 level payment is evaluated in float64 in a well-conditioned form,
  P·r / (1 − e^(−n·log1p(r))), whose relative error is a few ulps (≈ 1e-15). Every loan whose
  float payment lies within a relative 1e-12 (+ 1e-9 fen) of a half-fen tie — where float rounding
  could disagree with the scalar Decimal computation — is recomputed with the scalar
  `equal_installment_payment`. The level is therefore the scalar one for every loan, always.
* Amortisation is sequential within a loan, so the loop runs over the installment number k (at
  most 600 passes) with the arrays of all loans still running; it never loops over loans. The book
  is cut into chunks of consecutive loans (~131,000 rows each) so that a chunk's state and rows stay
  in the CPU cache while k advances; all 7 columns of a chunk are written in one go. A loan
  leaves the arrays when its remaining principal reaches 0 — at its last installment, or earlier
  when a rounded-up level repays a tiny principal before the term ends (e.g. 2 fen over 3 periods
  of 等额本金 gives 1 + 1 and stops), exactly as `amortize` breaks.

Monthly frequency only: the scalar `build_schedule` is the reference for quarterly and bi-weekly
schedules (`build_schedules_from_terms` refuses them).

Supported input range (outside it a ValueError is raised; nothing overflows silently):

* principal 1 .. 10**12 fen (10 billion yuan); rate 0 .. 1,000,000 ppm (0 .. 100 %);
  periods 1 .. 600 (the scalar limits); day-count year 360 or 365; method codes 0 .. 3;
* dates (start, first due, every due date) within 0001-01-01 .. 9999-12-31 (Python's `date`),
  and the first due date after the start.

Within that range every int64 intermediate stays far below 2**63 ≈ 9.2e18: remaining × ppm ≤ 1e18
(regular interest is computed as (x + 6e6) // 12e6, the same value as (2x + d) // (2d) for even d);
in the two-step division q·m ≤ 1e18 / 1.2e7 × 600 periods = 5e13 (bullet) or 1e18 / 3.6e8 × 3.65e6
days ≈ 1e16 (broken period), and 2·r·m + d < 2 × 3.65e8 × 3.65e6 + 3.65e8 ≈ 2.7e15. The float level
payment needs P × (1 + r) < 2**53, and P ≤ 1e12 keeps it below 1.1e12.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt

from daihou.domain.calendar import Frequency
from daihou.domain.money import rate_ppm
from daihou.domain.products import RepaymentMethod
from daihou.domain.schedule import PPM, ScheduledInstallment, ScheduleTerms, equal_installment_payment

METHOD_CODES: dict[RepaymentMethod, int] = {
    RepaymentMethod.EQUAL_INSTALLMENT: 0,
    RepaymentMethod.EQUAL_PRINCIPAL: 1,
    RepaymentMethod.INTEREST_ONLY: 2,
    RepaymentMethod.BULLET: 3,
}
_EQUAL_INSTALLMENT, _EQUAL_PRINCIPAL, _BULLET = 0, 1, 3

MAX_PRINCIPAL_FEN = 10**12
MAX_RATE_PPM = PPM  # 100 %
MAX_PERIODS = 600
YEAR_DAYS = (360, 365)

_MONTHS_PER_YEAR = 12  # monthly frequency only
_MONTH_DIVISOR = PPM * _MONTHS_PER_YEAR  # regular period interest: div_round(remaining × ppm, 1.2e7)
_HALF_MONTH_DIVISOR = _MONTH_DIVISOR // 2
_LEVEL_REL_TOL = 1e-12  # ~4500 ulps: the float level payment is within a few ulps of the exact value
_LEVEL_ABS_TOL = 1e-9
_CHUNK_ROWS = 1 << 17  # rows per chunk of loans: keeps a chunk's columns and state in the CPU cache
_FIELDS = ("loan_index", "no", "start_date", "due_date", "principal_fen", "interest_fen", "remaining_principal_fen")

_DAY_MIN = int(np.datetime64("0001-01-01", "D").astype(np.int64))
_DAY_MAX = int(np.datetime64("9999-12-31", "D").astype(np.int64))
_NAT = np.iinfo(np.int64).min

I64 = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class ScheduleColumns:
    """One row per installment, sorted by loan then installment number."""

    loan_index: npt.NDArray[np.int64]  # position of the loan in the input arrays
    no: npt.NDArray[np.int32]  # installment number, from 1
    start_date: npt.NDArray[np.datetime64]  # datetime64[D]
    due_date: npt.NDArray[np.datetime64]  # datetime64[D]
    principal_fen: npt.NDArray[np.int64]
    interest_fen: npt.NDArray[np.int64]
    remaining_principal_fen: npt.NDArray[np.int64]  # after this installment is paid

    def __len__(self) -> int:
        return int(self.loan_index.shape[0])

    def rows_of(self, loan: int) -> slice:
        """The rows of one loan (the columns are sorted by loan)."""
        lo = int(np.searchsorted(self.loan_index, loan, side="left"))
        hi = int(np.searchsorted(self.loan_index, loan, side="right"))
        return slice(lo, hi)

    def installments(self, loan: int) -> tuple[ScheduledInstallment, ...]:
        """The rows of one loan in the scalar form, for comparison and for callers that want objects."""
        s = self.rows_of(loan)
        return tuple(
            ScheduledInstallment(no, start, due, principal, interest, remaining)
            for no, start, due, principal, interest, remaining in zip(
                self.no[s].tolist(),
                self.start_date[s].tolist(),
                self.due_date[s].tolist(),
                self.principal_fen[s].tolist(),
                self.interest_fen[s].tolist(),
                self.remaining_principal_fen[s].tolist(),
                strict=True,
            )
        )


def build_schedules_from_terms(terms: Sequence[ScheduleTerms]) -> ScheduleColumns:
    """`build_schedules` for scalar terms (monthly only); loan_index is the position in `terms`."""
    if any(t.frequency is not Frequency.MONTHLY for t in terms):
        raise ValueError("the columnar schedule is monthly only; use build_schedule for other frequencies")
    return build_schedules(
        principal_fen=np.array([t.principal_fen for t in terms], dtype=np.int64),
        rate_ppm=np.array([rate_ppm(t.rate_annual) for t in terms], dtype=np.int64),
        periods=np.array([t.periods for t in terms], dtype=np.int64),
        method=np.array([METHOD_CODES[t.method] for t in terms], dtype=np.int8),
        start=np.array([t.start for t in terms], dtype="datetime64[D]"),
        first_due=np.array(
            [np.datetime64("NaT") if t.first_due is None else t.first_due for t in terms], dtype="datetime64[D]"
        ),
        day_count_year_days=np.array([t.day_count.year_days for t in terms], dtype=np.int64),
    )


def build_schedules(
    principal_fen: npt.ArrayLike,
    rate_ppm: npt.ArrayLike,
    periods: npt.ArrayLike,
    method: npt.ArrayLike,
    start: npt.ArrayLike,
    first_due: npt.ArrayLike | None = None,
    day_count_year_days: int | npt.ArrayLike = 360,
) -> ScheduleColumns:
    """Monthly schedules of many loans, equal to `build_schedule` installment by installment.

    One element per loan in each array: principal in fen (int64), rate in ppm (int64), number of
    periods (int), method code (`METHOD_CODES`), disbursement date and first due date
    (datetime64[D]). A NaT (or `first_due=None`) first due date means the scalar default: one month
    after the start, or — for a bullet, whose only due date is its maturity — `periods` months after
    it. Any other first due date that differs from that default makes a broken first period, which
    is charged by actual days over the day-count year (360 or 365, a scalar or one per loan).
    """
    principal = _int_column("principal_fen", principal_fen, 1, MAX_PRINCIPAL_FEN)
    n = principal.shape[0]
    ppm = _int_column("rate_ppm", rate_ppm, 0, MAX_RATE_PPM, n)
    nper = _int_column("periods", periods, 1, MAX_PERIODS, n)
    code = _int_column("method", method, 0, len(METHOD_CODES) - 1, n)
    year_days = _int_column("day_count_year_days", day_count_year_days, min(YEAR_DAYS), max(YEAR_DAYS), n)
    if not np.isin(year_days, YEAR_DAYS).all():
        raise ValueError(f"day_count_year_days must be one of {YEAR_DAYS}")
    start_days = _day_column("start", start, n)
    if (start_days == _NAT).any():
        raise ValueError("start has a missing date (NaT)")
    given_due = np.full(n, _NAT, dtype=np.int64) if first_due is None else _day_column("first_due", first_due, n)
    if n == 0:
        return _empty_columns()

    # -- dates of the first period and whether it is broken (as build_schedule decides)
    bullet = code == _BULLET
    default_due = _add_months(start_days, np.where(bullet, nper, 1))
    given = given_due != _NAT
    if (given & (given_due <= start_days)).any():
        raise ValueError("the first due date must be after disbursement")
    first_due_days = np.where(given, given_due, default_due)
    broken = first_due_days != default_due
    rows_planned = np.where(bullet, 1, nper)
    _check_date_range(start_days, first_due_days, rows_planned)

    # -- the level amount: the payment of 等额本息, the principal per period of 等额本金
    level = np.zeros(n, dtype=np.int64)
    ep = (code == _EQUAL_PRINCIPAL) | ((code == _EQUAL_INSTALLMENT) & (ppm == 0))
    level[ep] = _div_round(principal[ep], nper[ep])
    ei = (code == _EQUAL_INSTALLMENT) & (ppm > 0)
    level[ei] = _equal_installment_levels(principal[ei], ppm[ei], nper[ei])

    # -- interest of the first period: regular, the bullet's whole term, or broken (actual days)
    days = first_due_days - start_days
    first_multiplier = np.where(broken, days, np.where(bullet, nper, 1))
    first_divisor = np.where(broken, PPM * year_days, _MONTH_DIVISOR)
    first_interest = _mul_div_round(principal * ppm, first_multiplier, first_divisor)

    equal_installment = (code == _EQUAL_INSTALLMENT).astype(np.int64)
    # due dates keep the day of month of their anchor: the first due date when given, else disbursement
    anchor_days = np.where(given, given_due, start_days)
    anchor_day_of_month = anchor_days - anchor_days.astype("datetime64[D]").astype("datetime64[M]").astype(
        "datetime64[D]"
    ).astype(np.int64)
    return _Fill(
        start_days,
        first_due_days,
        rows_planned,
        principal,
        ppm,
        level,
        equal_installment,
        first_interest,
        anchor_day_of_month,
        _mul_div_round(principal * ppm, np.ones_like(principal), np.full_like(principal, _MONTH_DIVISOR)),
    ).run()


class _Fill:
    """Writes the columns chunk by chunk of loans, so that each chunk's rows stay in the CPU cache.

    Within a chunk, the amortisation loops over the installment number k with the arrays of the
    chunk's running loans; a loan leaves those arrays when its remaining principal reaches 0.
    """

    def __init__(
        self,
        start_days: I64,
        first_due_days: I64,
        rows: I64,
        principal: I64,
        ppm: I64,
        level: I64,
        equal_installment: I64,
        first_interest: I64,
        anchor_day_of_month: I64,
        first_regular_interest: I64,
    ) -> None:
        self.first_regular_interest = first_regular_interest  # what a regular first period would charge
        self.start_days, self.rows, self.principal, self.ppm = start_days, rows, principal, ppm
        self.level, self.ei, self.first_interest = level, equal_installment, first_interest
        n = rows.shape[0]
        self.row_start = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(rows, out=self.row_start[1:])
        total = int(self.row_start[-1])
        self.loan_index = np.empty(total, dtype=np.int64)
        self.no = np.empty(total, dtype=np.int32)
        self.start = np.empty(total, dtype=np.int64)
        self.due = np.empty(total, dtype=np.int64)
        self.principal_out = np.empty(total, dtype=np.int64)
        self.interest_out = np.empty(total, dtype=np.int64)
        self.remaining_out = np.empty(total, dtype=np.int64)
        self.actual_rows = rows.copy()  # lowered where a loan ends early
        self.ends = set(np.unique(rows - 1).tolist())  # installment numbers (from 0) that end a loan
        # due_k = add_months(first_due, k) through a table of the months the book spans
        first_month = first_due_days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
        self.day0 = anchor_day_of_month
        lo = int(first_month.min())
        hi = int((first_month + rows - 1).max())
        first_days = np.arange(lo, hi + 2).astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
        self.month_last_offset = np.diff(first_days) - 1  # days in the month − 1
        self.month_first_day = first_days[:-1]
        self.rel_month = first_month - lo - 1  # − 1: installment numbers start at 1

    def run(self) -> ScheduleColumns:
        n = self.rows.shape[0]
        bounds = np.searchsorted(self.row_start, np.arange(0, self.row_start[-1], _CHUNK_ROWS), side="right") - 1
        bounds = np.unique(np.append(bounds, n))
        for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
            self.chunk(lo, hi)
        columns = ScheduleColumns(
            loan_index=self.loan_index,
            no=self.no,
            start_date=self.start.view("datetime64[D]"),
            due_date=self.due.view("datetime64[D]"),
            principal_fen=self.principal_out,
            interest_fen=self.interest_out,
            remaining_principal_fen=self.remaining_out,
        )
        if (self.actual_rows != self.rows).any():  # some loans ended early: drop their unused rows
            keep = self.no <= self.actual_rows[self.loan_index]
            columns = ScheduleColumns(*(np.compress(keep, getattr(columns, f)) for f in _FIELDS))
        return columns

    def chunk(self, lo: int, hi: int) -> None:
        r0, r1 = int(self.row_start[lo]), int(self.row_start[hi])
        rows = self.rows[lo:hi]
        first_row = self.row_start[lo:hi] - r0

        # layout: loan index and installment number of every row
        local_loan = np.repeat(np.arange(hi - lo, dtype=np.int64), rows)
        np.add(local_loan, lo, out=self.loan_index[r0:r1])
        no = self.no[r0:r1]
        no.fill(1)
        no[first_row[1:]] = 1 - rows[:-1]  # restart the count at each loan
        np.cumsum(no, dtype=np.int32, out=no)

        # dates: due_k = add_months(first_due, k); a period starts at the previous due date
        m = self.rel_month[lo:hi][local_loan]
        m += no
        due = self.due[r0:r1]
        np.minimum(self.day0[lo:hi][local_loan], self.month_last_offset[m], out=due)
        due += self.month_first_day[m]
        start = self.start[r0:r1]
        start[1:] = due[:-1]
        start[first_row] = self.start_days[lo:hi]

        # amortisation, one pass per installment number over the chunk's running loans
        principal_out = self.principal_out[r0:r1]
        interest_out = self.interest_out[r0:r1]
        remaining_out = self.remaining_out[r0:r1]
        pos, rem = first_row, self.principal[lo:hi].copy()
        rate, level, ei, last_k = self.ppm[lo:hi], self.level[lo:hi], self.ei[lo:hi], rows - 1
        k = 0
        while pos.shape[0]:
            if k == 0:
                interest = self.first_interest[lo:hi]
            else:  # regular period: div_round(remaining × ppm, 1e6 × 12) = (x + 6e6) // 12e6
                interest = rem * rate
                interest += _HALF_MONTH_DIVISOR
                interest //= _MONTH_DIVISOR
            # 等额本息: principal = max(0, level − a regular period's interest); else the level
            pay = ei * (self.first_regular_interest[lo:hi] if k == 0 else interest)
            np.subtract(level, pay, out=pay)
            np.maximum(pay, 0, out=pay)
            done = pay >= rem
            if k in self.ends:
                done |= last_k == k
            np.copyto(pay, rem, where=done)  # the last installment takes what remains
            rem -= pay
            at = pos + k
            interest_out[at] = interest
            principal_out[at] = pay
            remaining_out[at] = rem
            if done.any():
                early = done & (last_k != k)
                if early.any():  # paid off before the term ends (a rounded-up level on a tiny loan)
                    self.actual_rows[lo + np.searchsorted(first_row, pos[early])] = k + 1
                keep = ~done
                pos, rem, rate, level, ei, last_k = (a[keep] for a in (pos, rem, rate, level, ei, last_k))
            k += 1


def _add_months(days: I64, months: I64) -> I64:
    """calendar.add_months on arrays of days since 1970: same day of month, clamped to the month's end."""
    month = days.astype("datetime64[D]").astype("datetime64[M]")
    day0 = days - month.astype("datetime64[D]").astype(np.int64)
    target = month + months
    first = target.astype("datetime64[D]").astype(np.int64)
    last_offset = (target + 1).astype("datetime64[D]").astype(np.int64) - first - 1
    result: I64 = first + np.minimum(day0, last_offset)
    return result


def _div_round(numerator: I64, denominator: I64) -> I64:
    """money.div_round for non-negative numerators (no overflow for numerator < 4.6e18)."""
    result: I64 = (2 * numerator + denominator) // (2 * denominator)
    return result


def _mul_div_round(x: I64, m: I64, d: I64) -> I64:
    """div_round(x · m, d) without forming x · m: x = q·d + r, so it is q·m + div_round(r·m, d)."""
    q, r = np.divmod(x, d)
    result: I64 = q * m + (2 * r * m + d) // (2 * d)
    return result


def _equal_installment_levels(principal: I64, ppm: I64, periods: I64) -> I64:
    """equal_installment_payment (positive rates), float64 where safe and the scalar where in doubt."""
    r = ppm / float(PPM * _MONTHS_PER_YEAR)
    payment = principal * r / -np.expm1(-periods * np.log1p(r))
    level = np.floor(payment + 0.5)
    doubt = np.abs(payment - np.floor(payment) - 0.5) <= payment * _LEVEL_REL_TOL + _LEVEL_ABS_TOL
    out = level.astype(np.int64)
    for i in np.flatnonzero(doubt).tolist():
        rate = (Decimal(int(ppm[i])).scaleb(-6)).normalize()
        out[i] = equal_installment_payment(int(principal[i]), rate, int(periods[i]), _MONTHS_PER_YEAR)
    return out


def _int_column(name: str, values: Any, lo: int, hi: int, n: int | None = None) -> I64:
    a = np.asarray(values)
    if n is not None and a.ndim == 0:
        a = np.full(n, a)
    if a.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional")
    if n is not None and a.shape[0] != n:
        raise ValueError(f"{name} has {a.shape[0]} elements, expected {n}")
    if a.shape[0] == 0:
        return np.empty(0, dtype=np.int64)
    if a.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integers, got {a.dtype}")
    if a.shape[0] and (a.min() < lo or a.max() > hi):
        raise ValueError(f"{name} must be between {lo} and {hi}")
    return a.astype(np.int64, copy=False)


def _day_column(name: str, values: Any, n: int) -> I64:
    a = np.asarray(values)
    if a.size == 0:
        a = a.astype("datetime64[D]")
    if a.dtype.kind in "biufc":
        raise ValueError(f"{name} must hold dates (datetime64[D]), got {a.dtype}")
    a = a.astype("datetime64[D]")
    if a.ndim != 1 or a.shape[0] != n:
        raise ValueError(f"{name} must be one-dimensional with {n} elements")
    return a.view(np.int64)


def _check_date_range(start_days: I64, first_due_days: I64, rows: I64) -> None:
    if start_days.min() < _DAY_MIN or first_due_days.max() > _DAY_MAX:
        raise ValueError("dates must be between 0001-01-01 and 9999-12-31")
    last_month = first_due_days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64) + rows - 1
    if last_month.max() > np.datetime64("9999-12", "M").astype(np.int64):
        raise ValueError("the last due date would fall after 9999-12-31")


def _empty_columns() -> ScheduleColumns:
    i64 = np.empty(0, dtype=np.int64)
    day = np.empty(0, dtype="datetime64[D]")
    return ScheduleColumns(i64, np.empty(0, dtype=np.int32), day, day.copy(), i64.copy(), i64.copy(), i64.copy())

"""How the demo borrowers pay, simulated for the whole book at once with the domain's rules.

Each loan gets one behaviour. Every payment is dated after the loan's previous one and, for late
and partial payers, settles before the next due date, so at most one installment is ever in
arrears for them: the domain's waterfall, penalty and payoff rules then reduce to the closed forms
below, and replaying a loan's payments through `daihou.domain.servicing.replay` gives exactly the
stored loan (the integration test checks it on a sample).

- Day conventions (`daihou.domain.loan`): a payment on day p is applied before the close of p, so
  an installment due on D and paid on p = D + L is charged penalty for the closed days
  D + grace + 1 … p − 1, i.e. max(0, L − 1 − grace) days; one still unpaid on the business date A
  is charged for max(0, A − D − grace) days. A day's penalty (罚息) is div_round(principal
  outstanding × penalty ppm, 1e6 × year days), its compound (复利) the same on interest outstanding.
- A partial payment on the due date goes to interest, then principal (or the product's order).
- A payoff on p between two due dates (`servicing._settle_if_covered`): the future principal plus
  its interest for the running period's actual days; the schedule gets version 2, whose last
  installment runs from that period's start to p.
- Interest recognised (`Installment.interest_target`): whole once due, pro rata before.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import numpy.typing as npt

from daihou.batch.schedules import ScheduleColumns
from daihou.domain.schedule import PPM

I64 = npt.NDArray[np.int64]
Bool = npt.NDArray[np.bool_]
_KEY = np.int64(1 << 32)  # loan × 2**32 + day: one sortable key per loan and date


class Behaviour(IntEnum):
    ON_TIME = 0
    EARLY_PAYOFF = 1
    LATE = 2
    PARTIAL = 3
    DEFAULT = 4

    @property
    def label(self) -> str:
        return self.name.lower()


class Status(IntEnum):
    ACTIVE = 0
    OVERDUE = 1
    PAID_OFF = 2

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class BehaviourMix:
    early_payoff: float = 0.08
    late: float = 0.10
    partial: float = 0.05
    default: float = 0.04
    late_installment_share: float = 0.3  # of a late (or partial) payer's installments due so far
    max_days_late: int = 25  # < 28: settled before the next monthly due date
    partial_share: tuple[float, float] = (0.2, 0.8)  # of the installment paid on the due date


@dataclass(frozen=True, slots=True)
class LoanTerms:
    """Per-loan columns the simulation needs (days are days since 1970-01-01)."""

    principal_fen: I64
    rate_ppm: I64
    penalty_ppm: I64
    year_days: I64
    grace_days: I64
    tolerance_fen: I64
    compound: Bool
    interest_first: Bool  # the waterfall pays interest before principal
    disbursed: I64


@dataclass(frozen=True, slots=True)
class Installments:
    """Rows of every stored schedule version: all version-1 rows, then the version-2 rows of payoffs."""

    loan: I64
    version: I64
    no: I64
    start: I64
    due: I64
    principal_due: I64
    principal_paid: I64
    interest_due: I64
    interest_paid: I64
    penalty_due: I64
    penalty_paid: I64
    compound_due: I64
    compound_paid: I64
    interest_accrued: I64

    def __len__(self) -> int:
        return int(self.loan.shape[0])


@dataclass(frozen=True, slots=True)
class Payments:
    """One row per payment, sorted by loan then day; how each was allocated."""

    loan: I64
    day: I64
    amount: I64
    principal: I64
    interest: I64
    penalty: I64  # penalty and compound interest

    def __len__(self) -> int:
        return int(self.loan.shape[0])


@dataclass(frozen=True, slots=True)
class Outcome:
    behaviour: npt.NDArray[np.int8]
    status: npt.NDArray[np.int8]
    schedule_version: I64
    payoff_day: I64  # -1 when the loan was not paid off early
    received_fen: I64
    interest_accrued_fen: I64  # recognised on the current schedule version
    penalty_charged_fen: I64  # penalty and compound interest charged
    schedules: tuple[Installments, Installments]  # all version-1 rows; version 2 of the payoffs
    payments: Payments


def simulate(
    rng: np.random.Generator, terms: LoanTerms, schedule: ScheduleColumns, as_of: int, mix: BehaviourMix
) -> Outcome:
    """Payments of every loan up to the business date `as_of`, and each loan's state after them."""
    return _Simulation(rng, terms, schedule, as_of, mix).run()


def daily_penalty(base_fen: I64, ppm: I64, year_days: I64) -> I64:
    """`loan.daily_penalty_fen` on arrays: div_round(base × ppm, 1e6 × year days)."""
    d = PPM * year_days
    result: I64 = (2 * base_fen * ppm + d) // (2 * d)
    return result


class _Simulation:
    def __init__(
        self, rng: np.random.Generator, terms: LoanTerms, s: ScheduleColumns, as_of: int, mix: BehaviourMix
    ) -> None:
        self.rng, self.t, self.as_of, self.mix = rng, terms, as_of, mix
        self.n = n = terms.principal_fen.shape[0]
        self.loan = s.loan_index
        self.no = s.no.astype(np.int64)
        self.start = s.start_date.astype("datetime64[D]").view(np.int64)
        self.due = s.due_date.astype("datetime64[D]").view(np.int64)
        self.p, self.i = s.principal_fen, s.interest_fen
        self.remaining = s.remaining_principal_fen
        bounds = np.searchsorted(self.loan, np.arange(n + 1))
        self.first, self.end = bounds[:-1], bounds[1:]
        assert (self.end > self.first).all(), "every loan has an installment"
        rows = self.loan.shape[0]
        self.p_paid = np.zeros(rows, dtype=np.int64)
        self.i_paid = np.zeros(rows, dtype=np.int64)
        self.pen_due = np.zeros(rows, dtype=np.int64)
        self.pen_paid = np.zeros(rows, dtype=np.int64)
        self.comp_due = np.zeros(rows, dtype=np.int64)
        self.comp_paid = np.zeros(rows, dtype=np.int64)
        self.payments: list[tuple[I64, I64, I64, I64, I64, I64]] = []

    # ------------------------------------------------------------ who does what

    def run(self) -> Outcome:
        strict = self.due < self.as_of
        n_strict = np.bincount(self.loan[strict], minlength=self.n)
        behaviour = self._assign(n_strict)
        b = behaviour[self.loan]
        payoff = self._payoff_days(behaviour)
        default_from = np.zeros(self.n, dtype=np.int64)  # first installment a defaulter never pays
        defaulters = np.flatnonzero(behaviour == Behaviour.DEFAULT)
        default_from[defaulters] = 1 + self._below(n_strict[defaulters])

        lagging = strict & ((b == Behaviour.LATE) | (b == Behaviour.PARTIAL))
        chosen = lagging & (self.rng.random(lagging.shape[0]) < self.mix.late_installment_share)
        laggards = np.flatnonzero((behaviour == Behaviour.LATE) | (behaviour == Behaviour.PARTIAL))
        chosen[self.first[laggards] + self._below(n_strict[laggards])] = True  # at least one each
        total = self.p + self.i
        partial = chosen & (b == Behaviour.PARTIAL) & (total >= 2)
        late = chosen & (b == Behaviour.LATE)

        due_by = self.due <= self.as_of
        on_due = (
            ((b == Behaviour.ON_TIME) & due_by)
            | ((b == Behaviour.EARLY_PAYOFF) & (self.due < payoff[self.loan]))
            | ((b == Behaviour.DEFAULT) & (self.no < default_from[self.loan]))
            | ((b == Behaviour.LATE) & due_by & ~late)
            | ((b == Behaviour.PARTIAL) & due_by & ~partial)
        )
        unpaid = (b == Behaviour.DEFAULT) & (self.no >= default_from[self.loan]) & due_by
        self._pay_on_due(np.flatnonzero(on_due))
        self._pay_late(np.flatnonzero(late))
        self._pay_partly(np.flatnonzero(partial))
        self._never_pay(np.flatnonzero(unpaid))
        return self._outcome(behaviour, payoff)

    def _assign(self, n_strict: I64) -> npt.NDArray[np.int8]:
        """Early payoff for any loan; late, partial and default only where something fell due already."""
        mix, n = self.mix, self.n
        behaviour = np.full(n, Behaviour.ON_TIME, dtype=np.int8)
        early = self.rng.random(n) < mix.early_payoff
        behaviour[early] = Behaviour.EARLY_PAYOFF
        eligible = ~early & (n_strict > 0)
        share = max(float(eligible.mean()), 1e-9)  # scaled so the shares hold over the whole book
        edges = np.cumsum([mix.late, mix.partial, mix.default]) / share
        u = self.rng.random(n)
        for code, lo, hi in zip(
            (Behaviour.LATE, Behaviour.PARTIAL, Behaviour.DEFAULT), (0.0, *edges[:-1]), edges, strict=True
        ):
            behaviour[eligible & (u >= lo) & (u < hi)] = code
        return behaviour

    def _days_late(self, n: int) -> I64:
        return np.asarray(self.rng.integers(1, self.mix.max_days_late + 1, size=n), dtype=np.int64)

    def _below(self, counts: I64) -> I64:
        """A uniform integer in 0 … count − 1 for each count (> 0)."""
        k: I64 = (self.rng.random(counts.shape[0]) * counts).astype(np.int64)
        return np.minimum(k, counts - 1)

    def _payoff_days(self, behaviour: npt.NDArray[np.int8]) -> I64:
        """A day between the disbursement and min(business date, maturity), never a due date."""
        payoff = np.full(self.n, -1, dtype=np.int64)
        early = np.flatnonzero(behaviour == Behaviour.EARLY_PAYOFF)
        lo = self.t.disbursed[early] + 1
        hi = np.minimum(self.as_of, self.due[self.end[early] - 1] - 1)
        assert (hi >= lo).all()
        day = lo + self._below(hi - lo + 1)
        keys = self.loan * _KEY + self.due
        wanted = early * _KEY + day
        pos = np.minimum(np.searchsorted(keys, wanted), keys.shape[0] - 1)
        day -= keys[pos] == wanted  # a due date: the day before (no due date is a day after another)
        payoff[early] = day
        return payoff

    # ------------------------------------------------------------ payments

    def _record(self, rows: I64, day: I64, principal: I64, interest: I64, penalty: I64) -> None:
        amount = principal + interest + penalty
        self.payments.append((self.loan[rows], day, amount, principal, interest, penalty))

    def _settle(self, rows: I64, penalty: I64, compound: I64) -> None:
        self.p_paid[rows] = self.p[rows]
        self.i_paid[rows] = self.i[rows]
        self.pen_due[rows] = self.pen_paid[rows] = penalty
        self.comp_due[rows] = self.comp_paid[rows] = compound

    def _charges(self, rows: I64, principal: I64, interest: I64, days: I64) -> tuple[I64, I64]:
        """Penalty on overdue principal and compound on overdue interest for `days` days."""
        loans = self.loan[rows]
        ppm, year_days = self.t.penalty_ppm[loans], self.t.year_days[loans]
        penalty = daily_penalty(principal, ppm, year_days) * days
        compound = daily_penalty(interest, ppm, year_days) * days * self.t.compound[loans]
        return penalty, compound

    def _days_unpaid(self, rows: I64) -> I64:
        """Days of penalty by the business date for an installment unpaid since its due date."""
        days: I64 = np.maximum(0, self.as_of - self.due[rows] - self.t.grace_days[self.loan[rows]])
        return days

    def _pay_on_due(self, rows: I64) -> None:
        zero = np.zeros(rows.shape[0], dtype=np.int64)
        self._settle(rows, zero, zero)
        self._record(rows, self.due[rows], self.p[rows], self.i[rows], zero)

    def _pay_late(self, rows: I64) -> None:
        lateness = self._days_late(rows.shape[0])
        paid = self.due[rows] + lateness <= self.as_of
        grace = self.t.grace_days[self.loan[rows]]
        days = np.where(paid, np.maximum(0, lateness - 1 - grace), self._days_unpaid(rows))
        penalty, compound = self._charges(rows, self.p[rows], self.i[rows], days)
        self.pen_due[rows], self.comp_due[rows] = penalty, compound
        done = rows[paid]
        self._settle(done, penalty[paid], compound[paid])
        charged: I64 = penalty + compound
        self._record(done, self.due[done] + lateness[paid], self.p[done], self.i[done], charged[paid])

    def _pay_partly(self, rows: I64) -> None:
        """Part on the due date (interest first), the rest with penalty some days later."""
        p, i = self.p[rows], self.i[rows]
        total = p + i
        lo, hi = self.mix.partial_share
        amount = (total * self.rng.uniform(lo, hi, size=rows.shape[0]) // 100).astype(np.int64) * 100
        amount = np.where((amount < 1) | (amount >= total), total // 2, amount)  # round yuan when possible
        interest_first = self.t.interest_first[self.loan[rows]]
        part_i = np.where(interest_first, np.minimum(amount, i), amount - np.minimum(amount, p))
        part_p = amount - part_i
        self.p_paid[rows], self.i_paid[rows] = part_p, part_i
        zero = np.zeros(rows.shape[0], dtype=np.int64)
        self._record(rows, self.due[rows], part_p, part_i, zero)

        lateness = self._days_late(rows.shape[0])
        paid = self.due[rows] + lateness <= self.as_of
        grace = self.t.grace_days[self.loan[rows]]
        days = np.where(paid, np.maximum(0, lateness - 1 - grace), self._days_unpaid(rows))
        rest_p, rest_i = p - part_p, i - part_i
        penalty, compound = self._charges(rows, rest_p, rest_i, days)
        self.pen_due[rows], self.comp_due[rows] = penalty, compound
        done = rows[paid]
        self._settle(done, penalty[paid], compound[paid])
        charged: I64 = penalty + compound
        self._record(done, self.due[done] + lateness[paid], rest_p[paid], rest_i[paid], charged[paid])

    def _never_pay(self, rows: I64) -> None:
        penalty, compound = self._charges(rows, self.p[rows], self.i[rows], self._days_unpaid(rows))
        self.pen_due[rows], self.comp_due[rows] = penalty, compound

    def _payoffs(self, payoff: I64) -> tuple[I64, I64, I64, I64]:
        """Loan, current row, future principal and running-period interest of each payoff."""
        loans = np.flatnonzero(payoff >= 0)
        day = payoff[loans]
        current = np.searchsorted(self.loan * _KEY + self.due, loans * _KEY + day)  # first row due after
        future = np.where(current > self.first[loans], self.remaining[current - 1], self.t.principal_fen[loans])
        d = PPM * self.t.year_days[loans]
        interest = (2 * future * self.t.rate_ppm[loans] * (day - self.start[current]) + d) // (2 * d)
        self._record(current, day, future, interest, np.zeros(loans.shape[0], dtype=np.int64))
        return loans, current, future, interest

    # ------------------------------------------------------------ the state on the business date

    def _outcome(self, behaviour: npt.NDArray[np.int8], payoff: I64) -> Outcome:
        loans, current, future, interest = self._payoffs(payoff)
        early_row = payoff[self.loan] >= 0
        target = np.where(
            self.due <= self.as_of,
            self.i,
            (2 * self.i * np.maximum(0, self.as_of - self.start) + (self.due - self.start))
            // (2 * (self.due - self.start)),
        )
        # version 1 of a paid-off loan stays as it was last saved: paid rows fully recognised
        accrued = np.where(early_row, np.where(self.due < payoff[self.loan], self.i, 0), target)
        v1 = Installments(
            loan=self.loan, version=np.ones_like(self.loan), no=self.no, start=self.start, due=self.due,
            principal_due=self.p, principal_paid=self.p_paid, interest_due=self.i, interest_paid=self.i_paid,
            penalty_due=self.pen_due, penalty_paid=self.pen_paid, compound_due=self.comp_due,
            compound_paid=self.comp_paid, interest_accrued=accrued,
        )  # fmt: skip
        v2 = self._payoff_schedules(v1, loans, current, payoff[loans], future, interest)

        n = self.n
        payments = self._payments()
        outstanding = (self.p - self.p_paid) + (self.i - self.i_paid)
        arrears = (self.due < self.as_of) & (outstanding > self.t.tolerance_fen[self.loan])
        unsettled = outstanding + (self.pen_due - self.pen_paid) + (self.comp_due - self.comp_paid) > 0
        status = np.full(n, Status.ACTIVE, dtype=np.int8)
        status[_count(self.loan[arrears], n) > 0] = Status.OVERDUE
        status[_count(self.loan[unsettled], n) == 0] = Status.PAID_OFF
        status[loans] = Status.PAID_OFF
        current_rows = ~early_row
        accrued_now = _total(self.loan[current_rows], accrued[current_rows], n) + _total(
            v2.loan, v2.interest_accrued, n
        )
        version = np.ones(n, dtype=np.int64)
        version[loans] = 2
        return Outcome(
            behaviour=behaviour,
            status=status,
            schedule_version=version,
            payoff_day=payoff,
            received_fen=_total(payments.loan, payments.amount, n),
            interest_accrued_fen=accrued_now,
            penalty_charged_fen=_total(self.loan, self.pen_due + self.comp_due, n),
            schedules=(v1, v2),
            payments=payments,
        )

    def _payoff_schedules(
        self, v1: Installments, loans: I64, current: I64, day: I64, future: I64, interest: I64
    ) -> Installments:
        """Version 2 of each paid-off loan: the installments paid before the payoff, then the payoff."""
        payoff_of = np.full(self.n, -1, dtype=np.int64)
        payoff_of[loans] = day
        kept = np.flatnonzero(v1.due < payoff_of[v1.loan])
        m, zero = loans.shape[0], np.zeros(loans.shape[0], dtype=np.int64)
        final = Installments(
            loan=loans, version=np.full(m, 2), no=self.no[current], start=self.start[current], due=day,
            principal_due=future, principal_paid=future, interest_due=interest, interest_paid=interest,
            penalty_due=zero, penalty_paid=zero, compound_due=zero, compound_paid=zero, interest_accrued=interest,
        )  # fmt: skip
        copied = _take(v1, kept)
        copied.version[:] = 2
        both = _concat(copied, final)
        order = np.argsort(both.loan * _KEY + both.no, kind="stable")
        return _take(both, order)

    def _payments(self) -> Payments:
        cols = [np.concatenate(c).astype(np.int64) for c in zip(*self.payments, strict=True)]
        order = np.argsort(cols[0] * _KEY + cols[1], kind="stable")
        payments = Payments(*(c[order] for c in cols))
        keys = payments.loan * _KEY + payments.day
        assert (np.diff(keys) > 0).all(), "one payment per loan and day"
        assert (payments.amount > 0).all()
        return payments


_FIELDS = tuple(Installments.__dataclass_fields__)


def _concat(a: Installments, b: Installments) -> Installments:
    return Installments(**{f: np.concatenate([getattr(a, f), getattr(b, f)]).astype(np.int64) for f in _FIELDS})


def _take(rows: Installments, at: I64) -> Installments:
    return Installments(**{f: getattr(rows, f)[at] for f in _FIELDS})


def _count(loan: I64, n: int) -> I64:
    return np.bincount(loan, minlength=n)


def _total(loan: I64, values: I64, n: int) -> I64:
    """Exact per-loan sums of int64 values (bincount sums in float64, exact below 2**53 fen)."""
    sums = np.bincount(loan, weights=values, minlength=n)
    assert np.abs(sums).max(initial=0) < 2**53
    return np.rint(sums).astype(np.int64)

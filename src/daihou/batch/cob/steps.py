"""The close-of-business steps, each defined once as Ibis expressions over the whole book.

Every step has one signature, `step(book, ctx) -> Book`, and no I/O: the runner loads the book
before the first step and writes it back after the last. The same expressions execute on DuckDB
and on Spark. Each step mirrors a scalar domain function (named in its docstring), which stays the
readable reference; the differential tests prove they agree exactly.

Integer arithmetic: money is int64 fen and rates int64 millionths. Division is exact integer
division written as ((n − n mod d) / d) rounded, because Spark compiles `//` through a double
FLOOR that can be off by one above 2^53; the quotients here stay far below 2^52, where the rounded
double is exact on both engines.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date

import ibis
import ibis.expr.types as ir

from daihou.domain.grades import Grade, RiskRules

PPM = 1_000_000
OPEN_STATUSES = ("active", "overdue", "restructured")
INSTALLMENT_COMPONENTS = ("penalty", "compound", "interest", "principal")
LOAN_COMPONENTS = ("cost", "fee")
GRADES = tuple(Grade)


@dataclass(frozen=True)
class Book:
    """The loans in scope (one row each) and their open installments."""

    loans: ir.Table
    installments: ir.Table


@dataclass(frozen=True)
class RunContext:
    business_date: date
    rules: RiskRules


Step = Callable[[Book, RunContext], Book]


def int_div(n: ir.IntegerValue, d: ir.IntegerValue | int) -> ir.IntegerValue:
    """Exact n // d for n ≥ 0, d > 0 on every engine (see the module docstring)."""
    return ((n - n % d) / d).round().cast("int64")


def div_round(n: ir.IntegerValue, d: ir.IntegerValue | int) -> ir.IntegerValue:
    """Half-up n / d for n ≥ 0, d > 0: the batch form of `domain.money.div_round`."""
    return int_div(2 * n + d, 2 * d)


def outstanding(t: ir.Table, component: str) -> ir.IntegerValue:
    return t[f"{component}_due_fen"] - t[f"{component}_paid_fen"] - t[f"{component}_waived_fen"]


def _day(ctx: RunContext) -> ir.DateValue:
    return ibis.date(ctx.business_date)


# ---------------------------------------------------------------- 1. interest recognition


def recognize_interest(book: Book, ctx: RunContext) -> Book:
    """`Installment.interest_target`: pro rata over the period, whole from the due date."""
    i, day = book.installments, _day(ctx)
    length = i.due_date.delta(i.start_date, unit="day")
    elapsed = ibis.greatest(day.delta(i.start_date, unit="day"), 0)
    target = ibis.ifelse(
        i.due_date <= day, i.interest_due_fen, div_round(i.interest_due_fen * elapsed, ibis.greatest(length, 1))
    )
    installments = i.mutate(
        interest_recognized_fen=target - i.interest_accrued_fen,
        interest_accrued_fen=target,
    )
    return replace(book, installments=installments)


# ---------------------------------------------------------------- 2. credit application


def apply_credit(book: Book, ctx: RunContext) -> Book:
    """`loan.apply_credit` on the business date: held credit pays what is due, in waterfall order.

    Every owed item becomes a slot ranked by the loan's allocation rule (loan-level costs and fees
    first; then component by component across installments, or installment by installment); a
    running sum over the slots gives each its share of the credit.
    """
    loans, inst, day = book.loans, book.installments, _day(ctx)
    payers = loans.filter(loans.credit_fen > 0).select("id", "credit_fen", "allocation_order", "allocation_mode")
    due = inst.filter(inst.due_date <= day).inner_join(payers, inst.loan_id == payers.id)
    slots = [
        due.select(
            loan_id=due.loan_id,
            no=due.no,
            component=ibis.literal(c),
            owed=outstanding(due, c),
            credit_fen=due.credit_fen,
            allocation_order=due.allocation_order,
            allocation_mode=due.allocation_mode,
        )
        for c in INSTALLMENT_COMPONENTS
    ]
    with_level = payers.inner_join(
        loans.select("id", *[f"{c}_{p}_fen" for c in LOAN_COMPONENTS for p in ("due", "paid", "waived")]), "id"
    )
    slots += [
        with_level.select(
            loan_id=with_level.id,
            no=ibis.literal(0, "int64"),
            component=ibis.literal(c),
            owed=outstanding(with_level, c),
            credit_fen=with_level.credit_fen,
            allocation_order=with_level.allocation_order,
            allocation_mode=with_level.allocation_mode,
        )
        for c in LOAN_COMPONENTS
    ]
    s = ibis.union(*slots)
    position = s.allocation_order.find(s.component).cast("int64")
    no = s.no.cast("int64")
    level = ibis.ifelse(s.no == 0, 0, 1).cast("int64")
    rank = ibis.ifelse(
        s.allocation_mode == "vertical",
        level * 10**12 + no * 10**4 + position,
        level * 10**12 + position * 10**6 + no,
    )
    s = s.mutate(rank=rank)
    running = s.owed.sum().over(ibis.cumulative_window(group_by=s.loan_id, order_by=s.rank))
    s = s.mutate(take=ibis.greatest(ibis.least(s.owed, s.credit_fen - (running - s.owed)), 0))
    per_inst = (
        s.filter(s.no > 0)
        .group_by(["loan_id", "no"])
        .aggregate(**{f"pay_{c}_fen": ibis.ifelse(s.component == c, s.take, 0).sum() for c in INSTALLMENT_COMPONENTS})
    )
    per_loan = s.group_by("loan_id").aggregate(
        credit_used_fen=s.take.sum(),
        **{f"pay_{c}_fen": ibis.ifelse(s.component == c, s.take, 0).sum() for c in LOAN_COMPONENTS},
    )
    inst = inst.left_join(per_inst, ["loan_id", "no"]).drop("loan_id_right", "no_right")
    inst = inst.mutate(**{f"pay_{c}_fen": inst[f"pay_{c}_fen"].fill_null(0) for c in INSTALLMENT_COMPONENTS})
    inst = inst.mutate(
        **{f"{c}_paid_fen": inst[f"{c}_paid_fen"] + inst[f"pay_{c}_fen"] for c in INSTALLMENT_COMPONENTS}
    )
    loans = loans.left_join(per_loan, loans.id == per_loan.loan_id).drop("loan_id")
    loans = loans.mutate(
        credit_used_fen=loans.credit_used_fen.fill_null(0),
        **{f"pay_{c}_fen": loans[f"pay_{c}_fen"].fill_null(0) for c in LOAN_COMPONENTS},
    )
    loans = loans.mutate(
        credit_fen=loans.credit_fen - loans.credit_used_fen,
        **{f"{c}_paid_fen": loans[f"{c}_paid_fen"] + loans[f"pay_{c}_fen"] for c in LOAN_COMPONENTS},
    )
    return Book(loans, inst)


# ---------------------------------------------------------------- 3. penalty and compound interest


def accrue_penalty(book: Book, ctx: RunContext) -> Book:
    """`loan.accrue_penalty` for one day: on end-of-day balances, past the grace days."""
    loans, inst, day = book.loans, book.installments, _day(ctx)
    terms = loans.select(
        loan_id=loans.id,
        penalty_ppm=loans.penalty_rate_annual_ppm,
        grace_days=loans.grace_days,
        compound_on=loans.compound_interest,
        year_days=ibis.ifelse(loans.day_count == "act_365", 365, 360).cast("int64"),
    )
    inst = inst.inner_join(terms, "loan_id")
    late = day.delta(inst.due_date, unit="day") > inst.grace_days
    denominator = PPM * inst.year_days
    penalty = ibis.ifelse(late, div_round(outstanding(inst, "principal") * inst.penalty_ppm, denominator), 0)
    compound = ibis.ifelse(
        late & inst.compound_on, div_round(outstanding(inst, "interest") * inst.penalty_ppm, denominator), 0
    )
    inst = inst.mutate(penalty_accrued_fen=penalty, compound_accrued_fen=compound)
    inst = inst.mutate(
        penalty_due_fen=inst.penalty_due_fen + inst.penalty_accrued_fen,
        compound_due_fen=inst.compound_due_fen + inst.compound_accrued_fen,
    ).drop("penalty_ppm", "grace_days", "compound_on", "year_days")
    return replace(book, installments=inst)


# ---------------------------------------------------------------- 4. aging


def age(book: Book, ctx: RunContext) -> Book:
    """`loan.days_past_due` and `grades.bucket_of`: DPD from the earliest unpaid due date, the bucket."""
    loans, inst, day = book.loans, book.installments, _day(ctx)
    tol = loans.select(loan_id=loans.id, tolerance=loans.dpd_tolerance_fen)
    i = inst.inner_join(tol, "loan_id")
    unpaid = i.filter((i.due_date < day) & (outstanding(i, "principal") + outstanding(i, "interest") > i.tolerance))
    earliest = unpaid.group_by("loan_id").aggregate(earliest_unpaid=unpaid.due_date.min())
    summary = inst.group_by("loan_id").aggregate(
        open_items=(
            outstanding(inst, "principal")
            + outstanding(inst, "interest")
            + outstanding(inst, "penalty")
            + outstanding(inst, "compound")
        ).sum(),
        outstanding_principal_fen=outstanding(inst, "principal").sum(),
        overdue_principal_fen=ibis.ifelse(inst.due_date < day, outstanding(inst, "principal"), 0).sum(),
        overdue_interest_fen=ibis.ifelse(inst.due_date < day, outstanding(inst, "interest"), 0).sum(),
        penalty_outstanding_fen=(outstanding(inst, "penalty") + outstanding(inst, "compound")).sum(),
        interest_recognized_fen=inst.interest_recognized_fen.sum(),
        penalty_accrued_fen=inst.penalty_accrued_fen.sum(),
        compound_accrued_fen=inst.compound_accrued_fen.sum(),
    )
    loans = loans.left_join(earliest, loans.id == earliest.loan_id).drop("loan_id")
    loans = loans.left_join(summary, loans.id == summary.loan_id).drop("loan_id")
    loans = loans.mutate(
        dpd=ibis.ifelse(loans.earliest_unpaid.isnull(), 0, day.delta(loans.earliest_unpaid, unit="day")).cast("int64"),
        **{
            c: loans[c].fill_null(0)
            for c in (
                "open_items",
                "outstanding_principal_fen",
                "overdue_principal_fen",
                "overdue_interest_fen",
                "penalty_outstanding_fen",
                "interest_recognized_fen",
                "penalty_accrued_fen",
                "compound_accrued_fen",
            )
        },
    ).drop("earliest_unpaid")
    buckets = sorted(ctx.rules.buckets, key=lambda b: b.dpd_from, reverse=True)
    bucket = ibis.cases(*[(loans.dpd >= b.dpd_from, b.name) for b in buckets], else_=buckets[-1].name)
    return replace(book, loans=loans.mutate(bucket=bucket))


# ---------------------------------------------------------------- 5. classification


def _rank(grade_code: ir.StringValue) -> ir.IntegerValue:
    return ibis.cases(*[(grade_code == g.value, g.rank) for g in GRADES], else_=-1).cast("int64")


def classify(book: Book, ctx: RunContext) -> Book:
    """`grades.classify`: the DPD floors of the profile, the restructuring floor, approved overrides."""
    loans, day = book.loans, _day(ctx)
    # the worst class among the floors the DPD is over (`grades.floor_grade`), whatever their order
    floor_rank = ibis.greatest(
        ibis.literal(0, "int64"),
        *[ibis.ifelse(loans.dpd > f.dpd_over, f.at_least.rank, 0).cast("int64") for f in ctx.rules.profile.floors],
    )
    restructured = loans.restructured_until.notnull() & (day <= loans.restructured_until)
    restructuring_rank = ibis.ifelse(
        restructured, ibis.greatest(_rank(loans.restructure_floor.fill_null("")), Grade.SPECIAL_MENTION.rank), 0
    )
    override_rank = _rank(loans.override_grade.fill_null(""))
    rank = ibis.greatest(floor_rank.cast("int64"), restructuring_rank.cast("int64"), override_rank)
    grade = ibis.cases(*[(rank == g.rank, g.value) for g in GRADES], else_=Grade.NORMAL.value)
    return replace(book, loans=loans.mutate(grade_rank=rank, classification=grade, in_observation=restructured))


# ---------------------------------------------------------------- 6. provision and IFRS 9 stage


def provision(book: Book, ctx: RunContext) -> Book:
    """`grades.provision_fen` and `grades.ifrs9_stage` with the rules in force."""
    loans, rules = book.loans, ctx.rules
    rate_ppm = ibis.cases(
        *[(loans.grade_rank == g.rank, int(rules.provision_rate(g) * PPM)) for g in GRADES], else_=0
    ).cast("int64")
    npl = loans.grade_rank >= Grade.SUBSTANDARD.rank
    stage = ibis.cases(
        ((loans.dpd > rules.stage3_dpd_over) | npl, 3),
        ((loans.dpd > rules.stage2_dpd_over) | loans.in_observation, 2),
        else_=1,
    ).cast("int64")
    return replace(
        book,
        loans=loans.mutate(provision_fen=div_round(loans.outstanding_principal_fen * rate_ppm, PPM), ifrs9_stage=stage),
    )


# ---------------------------------------------------------------- 7. status transitions


def transition(book: Book, ctx: RunContext) -> Book:
    """`loan.refresh_status`: paid off when nothing is owed, overdue with DPD, else active or restructured."""
    loans = book.loans
    owed = loans.open_items + outstanding(loans, "cost") + outstanding(loans, "fee")
    status = ibis.cases(
        (owed == 0, "paid_off"),
        (loans.dpd > 0, "overdue"),
        (loans.status == "restructured", "restructured"),
        else_="active",
    )
    return replace(book, loans=loans.mutate(status_before=loans.status, status=status, accrued_through=_day(ctx)))


# ---------------------------------------------------------------- 8. journal movements

JOURNAL_ACCOUNTS = (
    "interest_receivable",
    "interest_income",
    "penalty_receivable",
    "penalty_income",
    "principal_receivable",
    "cost_receivable",
    "fee_receivable",
    "borrower_credit",
)


def journal(book: Book, ctx: RunContext) -> Book:
    """The day's movement on each account per loan, as `loan.movements` of `close_day` would give."""
    loans, inst = book.loans, book.installments
    paid = inst.group_by("loan_id").aggregate(
        **{f"paid_{c}_today": inst[f"pay_{c}_fen"].sum() for c in INSTALLMENT_COMPONENTS}
    )
    loans = loans.left_join(paid, loans.id == paid.loan_id).drop("loan_id")
    today = {c: loans[f"paid_{c}_today"].fill_null(0) for c in INSTALLMENT_COMPONENTS}
    accrued = loans.penalty_accrued_fen + loans.compound_accrued_fen
    loans = loans.mutate(
        j_interest_receivable=loans.interest_recognized_fen - today["interest"],
        j_interest_income=-loans.interest_recognized_fen,
        j_penalty_receivable=accrued - today["penalty"] - today["compound"],
        j_penalty_income=-accrued,
        j_principal_receivable=-today["principal"],
        j_cost_receivable=-loans.pay_cost_fen,
        j_fee_receivable=-loans.pay_fee_fen,
        j_borrower_credit=loans.credit_used_fen,
    ).drop(*[f"paid_{c}_today" for c in INSTALLMENT_COMPONENTS])
    return replace(book, loans=loans)


PIPELINE: tuple[Step, ...] = (
    recognize_interest,
    apply_credit,
    accrue_penalty,
    age,
    classify,
    provision,
    transition,
    journal,
)


def run_steps(book: Book, ctx: RunContext, steps: tuple[Step, ...] = PIPELINE) -> Book:
    for step in steps:
        book = step(book, ctx)
    return book

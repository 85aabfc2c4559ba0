"""Running one business day: checks, load, steps, snapshot, atomic write-back, run record.

Loans that are in step (last closed yesterday) go through the columnar pipeline. Loans that missed
days (booked or imported with a past date) are closed by the scalar reference `close_through`, whose
results have the same shape; the differential tests prove both paths agree.

The store hands over only what the day can change (see `SqlCobStore.load`), and the steps run on
slices of at most `LOANS_PER_SLICE` loans whose results are gathered, so memory stays bounded on
any book; everything is then written back in one transaction. A run killed anywhere leaves the
store as it was (or, killed after the commit, closed): the next run starts again cleanly, and a
catch-up over several days resumes at the first day not closed (`plan`). `checkpoint` lets the
crash tests kill a run at named points.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.compute as pc

from daihou.batch.cob.columns import LOAN_SCHEMA, from_arrow, installment_rows, to_arrow
from daihou.batch.cob.engines import execute
from daihou.batch.cob.snapshots import Snapshots, snapshot_table
from daihou.batch.cob.steps import JOURNAL_ACCOUNTS, PIPELINE, RunContext
from daihou.domain.grades import Grade, RiskRules, bucket_of, classify, ifrs9_stage, provision_fen, rules_for
from daihou.domain.loan import Loan, close_through, days_past_due, movements

LOAN_RESULTS = (
    "status",
    "credit_fen",
    "cost_paid_fen",
    "fee_paid_fen",
    "accrued_through",
    "dpd",
    "classification",
    "ifrs9_stage",
    "provision_fen",
)
INSTALLMENT_RESULTS = (
    "principal_paid_fen",
    "interest_paid_fen",
    "penalty_due_fen",
    "penalty_paid_fen",
    "compound_due_fen",
    "compound_paid_fen",
    "interest_accrued_fen",
)


PAUSE_AT_ENV = "DAIHOU_COB_PAUSE_AT"
PAUSE_FILE_ENV = "DAIHOU_COB_PAUSE_FILE"


def checkpoint(name: str, day: date) -> None:
    """Test hook for the crash-safety tests (tests/integration/test_cob_crash.py); inert in production.

    A run passes named points: `started`, `loaded`, `step:<step name>`, `snapshot`,
    `write_back:loans`, `write_back:installments`, `write_back:journal`, `write_back:commit` (inside
    the write-back transaction, before it commits) and `finished`. When the environment variable
    DAIHOU_COB_PAUSE_AT names this point (`<name>`, or `<name>@YYYY-MM-DD` for one day of a
    catch-up), the run writes the point's name to the file named by DAIHOU_COB_PAUSE_FILE and
    sleeps, so that the test can SIGKILL it exactly there. Unset, this is one dictionary lookup.
    """
    wanted = os.environ.get(PAUSE_AT_ENV)
    if not wanted or wanted not in (name, f"{name}@{day.isoformat()}"):
        return
    Path(os.environ[PAUSE_FILE_ENV]).write_text(f"{name}@{day.isoformat()}", encoding="utf-8")
    while True:  # wait to be killed
        time.sleep(60)


@dataclass(frozen=True)
class RunRecord:
    business_date: date
    engine: str
    status: str
    started_at: datetime | None
    finished_at: datetime | None
    counts: dict[str, Any] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Results:
    """What a run changes, in the shapes the store writes back."""

    loans: pa.Table  # id, schedule_version, LOAN_RESULTS
    installments: pa.Table  # loan_id, schedule_version, no, INSTALLMENT_RESULTS (changed rows only)
    lines: pa.Table  # loan_id, account, amount_fen
    snapshot: pa.Table


class CobStore(Protocol):
    def last_finished(self) -> date | None: ...
    def run_state(self, day: date) -> str | None: ...
    def start(self, day: date, engine_name: str) -> None: ...
    def fail(self, day: date, error: str) -> None: ...
    def runs(self, limit: int = 30) -> list[RunRecord]: ...
    def load(self, day: date) -> tuple[pa.Table, pa.Table]: ...
    def lagging(self, day: date) -> list[tuple[int, Loan]]: ...
    def overrides(self, loan_ids: Sequence[int], day: date) -> dict[int, str]: ...
    def restructuring(self, loan_ids: Sequence[int]) -> dict[int, tuple[date | None, str | None]]: ...
    def changed_after(self, moment: datetime) -> int: ...
    def write_back(
        self,
        day: date,
        engine_name: str,
        results: Results,
        counts: dict[str, Any],
        errors: list[dict[str, Any]],
        replace_journal: bool = False,
    ) -> None: ...


@dataclass(frozen=True)
class Refused:
    code: str
    message: str


@dataclass(frozen=True)
class DayDone:
    business_date: date
    counts: dict[str, Any]
    errors: list[dict[str, Any]]
    seconds: float


Progress = Callable[[str, int, int], None]


def plan(store: CobStore, day: date | None, first: date | None, last: date | None, rerun: bool) -> list[date] | Refused:
    """The days to run: one date, a range, or the day after the last finished one.

    Giving the same range again after a catch-up stopped part-way runs only the days not yet closed.
    """
    finished = store.last_finished()
    if first is not None or last is not None:
        if first is None or last is None or last < first:
            return Refused("bad_range", "give both --from and --to, with --to not before --from")
        days = [first + timedelta(days=k) for k in range((last - first).days + 1)]
        if not rerun and finished is not None and first <= finished < last:
            # a catch-up that stopped part-way (killed, or a day failed) resumes where it stopped
            days = [d for d in days if d > finished]
    elif day is not None:
        days = [day]
    elif finished is None:
        return Refused("no_previous_run", "no close of business has run yet: give --date")
    else:
        days = [finished + timedelta(days=1)]
    if rerun:
        if len(days) != 1 or days[0] != finished:
            return Refused("rerun_not_last", f"only the last finished day ({finished}) can be run again")
        return days
    if store.run_state(days[0]) == "finished":
        return Refused("already_finished", f"{days[0]} is already closed; use --rerun to replace its results")
    if finished is not None and days[0] != finished + timedelta(days=1):
        return Refused(
            "would_skip", f"the last closed day is {finished}: the next run must be {finished + timedelta(days=1)}"
        )
    return days


def run_day(
    store: CobStore,
    snapshots: Snapshots,
    con: Any,
    engine_name: str,
    day: date,
    rules_versions: tuple[RiskRules, ...],
    rerun: bool = False,
    progress: Progress | None = None,
) -> DayDone | Refused:
    started = time.perf_counter()
    rules = rules_for(day, rules_versions)
    ctx = RunContext(day, rules)
    counts: dict[str, Any] = {}
    errors: list[dict[str, Any]] = []
    steps = len(PIPELINE) + 4
    tick = _ticker(progress, day, steps)
    if rerun:
        saved = snapshots.load_input(day)
        if saved is None:
            return Refused("no_saved_input", f"the input of {day} was not kept; it cannot be run again")
        finished = next((r.finished_at for r in store.runs(1) if r.business_date == day), None)
        if finished is not None and (n := store.changed_after(finished)):
            return Refused(
                "changed_since", f"{n} loans changed after {day} was closed; a rerun would lose those changes"
            )
        loans, installments, lagging = _split_input(*saved, day)
    store.start(day, engine_name)
    checkpoint("started", day)
    io = ThreadPoolExecutor(1)  # writes the saved input while the steps run (Parquet releases the GIL)
    saving: Future[None] | None = None
    try:
        if not rerun:
            lagging = store.lagging(day)
            loans, installments = store.load(day)
            saving = io.submit(snapshots.save_input, day, *_input_with_lagging(loans, installments, lagging))
        tick("load")
        checkpoint("loaded", day)
        counts["loans_in_step"], counts["installments"], counts["loans_caught_up"] = (
            len(loans),
            len(installments),
            len(lagging),
        )

        parts: list[Results] = []
        moved: dict[str, int] = {}
        bounds = _slices(loans)
        for k, (lo, hi) in enumerate(bounds):
            last = k == len(bounds) - 1

            def step_done(name: str, last: bool = last) -> None:
                if last:  # one tick per step, however many slices
                    tick(name)
                checkpoint(f"step:{name}", day)

            part_loans, part_installments = _slice(loans, installments, lo, hi)
            loans_out, inst_out = execute(con, part_loans, part_installments, ctx, progress=step_done)
            parts.append(_columnar_results(loans_out, inst_out, day))
            for key, n in _movement_counts(loans_out).items():
                moved[key] = moved.get(key, 0) + n
            del loans_out, inst_out, part_loans, part_installments
        results = _concat_all([*parts, _scalar_results(store, lagging, day, rules)])
        del parts
        counts.update(_counts(moved, results))
        if saving is not None:
            saving.result()  # a day is never closed without its input kept for a rerun
        tick("results")
        snapshots.write(day, results.snapshot)
        tick("snapshot")
        checkpoint("snapshot", day)
        store.write_back(day, engine_name, results, counts, errors, replace_journal=rerun)
        tick("write back")
        checkpoint("finished", day)
    except BaseException as exc:
        store.fail(day, repr(exc))
        raise
    finally:
        io.shutdown(wait=True)
    return DayDone(day, counts, errors, time.perf_counter() - started)


def _input_with_lagging(
    loans: pa.Table, installments: pa.Table, lagging: list[tuple[int, Loan]]
) -> tuple[pa.Table, pa.Table]:
    """The day's whole input as saved for a rerun: loans in step, and the lagging ones as they were."""
    if not lagging:
        return loans, installments
    lag_loans, lag_installments = to_arrow(lagging)
    return (
        pa.concat_tables([loans, lag_loans.cast(loans.schema)]),
        pa.concat_tables([installments, lag_installments.cast(installments.schema)]),
    )


def _split_input(
    loans: pa.Table, installments: pa.Table, day: date
) -> tuple[pa.Table, pa.Table, list[tuple[int, Loan]]]:
    """A saved input split back into the loans in step (closed yesterday) and the lagging ones."""
    in_step = pc.equal(loans["accrued_through"], pa.scalar(day - timedelta(days=1), pa.date32()))
    if pc.all(in_step).as_py() is not False:
        return loans, installments, []
    lag_loans = loans.filter(pc.invert(in_step))
    lag_ids = lag_loans["id"]
    lag_installments = installments.filter(pc.is_in(installments["loan_id"], lag_ids))
    lagging = sorted(from_arrow(lag_loans, lag_installments).items())
    return (
        loans.filter(in_step),
        installments.filter(pc.invert(pc.is_in(installments["loan_id"], lag_ids))),
        lagging,
    )


def _ticker(progress: Progress | None, day: date, total: int) -> Callable[[str], None]:
    done = [0]

    def tick(name: str) -> None:
        done[0] += 1
        if progress:
            progress(f"{day} {name}", done[0], total)

    return tick


def _columnar_results(loans: pa.Table, inst: pa.Table, day: date) -> Results:
    changed = pc.or_(
        pc.or_(pc.not_equal(inst["interest_recognized_fen"], 0), pc.not_equal(inst["penalty_accrued_fen"], 0)),
        pc.or_(
            pc.not_equal(inst["compound_accrued_fen"], 0),
            pc.not_equal(
                pc.add(
                    pc.add(inst["pay_principal_fen"], inst["pay_interest_fen"]),
                    pc.add(inst["pay_penalty_fen"], inst["pay_compound_fen"]),
                ),
                0,
            ),
        ),
    )
    versions = loans.select(["id", "schedule_version"]).rename_columns(["loan_id", "schedule_version"])
    inst_changed = (
        inst.filter(changed)
        .join(versions, "loan_id")
        .select(["loan_id", "schedule_version", "no", *INSTALLMENT_RESULTS])
    )
    lines = []
    for account in JOURNAL_ACCOUNTS:
        amount = loans[f"j_{account}"]
        keep = pc.not_equal(amount, 0)
        ids = pc.filter(loans["id"], keep)
        lines.append(
            pa.table(
                {
                    "loan_id": ids,
                    "account": pa.array([account] * len(ids), pa.string()),
                    "amount_fen": pc.filter(amount, keep),
                }
            )
        )
    return Results(
        loans.select(["id", "schedule_version", *LOAN_RESULTS]),
        _cast_installments(inst_changed),
        pa.concat_tables(lines),
        snapshot_table(loans.append_column("loan_id", loans["id"]), day),
    )


def _scalar_results(store: CobStore, lagging: list[tuple[int, Loan]], day: date, rules: RiskRules) -> Results | None:
    """Loans that missed days, closed through `day` by the scalar reference."""
    if not lagging:
        return None
    ids = [i for i, _ in lagging]
    overrides, restructuring = store.overrides(ids, day), store.restructuring(ids)
    rates = dict(rules.provision_rates)
    loan_rows, inst_rows, line_rows, snap_rows = [], [], [], []
    for loan_id, before in lagging:
        after = close_through(before, day)
        dpd = days_past_due(after, day)
        override = overrides.get(loan_id)
        until, floor = restructuring.get(loan_id, (None, None))
        observed = until is not None and day <= until  # in a restructuring's observation period
        at_least = max(Grade(floor) if floor else Grade.NORMAL, Grade.SPECIAL_MENTION, key=lambda g: g.rank)
        grade = classify(dpd, rules.profile, Grade(override) if override else None, at_least if observed else None)
        provision = provision_fen(after.outstanding_principal_fen, grade, rates)
        stage = ifrs9_stage(dpd, grade, observed, rules.stage2_dpd_over, rules.stage3_dpd_over)
        loan_rows.append(
            {
                "id": loan_id,
                "schedule_version": after.schedule_version,
                "status": after.status.value,
                "credit_fen": after.credit_fen,
                "cost_paid_fen": after.cost.paid,
                "fee_paid_fen": after.fee.paid,
                "accrued_through": day,
                "dpd": dpd,
                "classification": grade.value,
                "ifrs9_stage": stage,
                "provision_fen": provision,
            }
        )
        for row in installment_rows(loan_id, after):
            inst_rows.append(
                {
                    "loan_id": loan_id,
                    "schedule_version": after.schedule_version,
                    "no": row["no"],
                    **{c: row[c] for c in INSTALLMENT_RESULTS},
                }
            )
        for account, amount in movements(before, after).items():
            line_rows.append({"loan_id": loan_id, "account": account.value, "amount_fen": amount})
        overdue = [i for i in after.installments if i.due_date < day]
        snap_rows.append(
            {
                "loan_id": loan_id,
                "loan_no": after.loan_no,
                "status": after.status.value,
                "outstanding_principal_fen": after.outstanding_principal_fen,
                "overdue_principal_fen": sum(i.principal.outstanding for i in overdue),
                "overdue_interest_fen": sum(i.interest.outstanding for i in overdue),
                "penalty_outstanding_fen": sum(
                    i.penalty.outstanding + i.compound.outstanding for i in after.installments
                ),
                "credit_fen": after.credit_fen,
                "dpd": dpd,
                "bucket": bucket_of(dpd, rules.buckets),
                "classification": grade.value,
                "ifrs9_stage": stage,
                "provision_fen": provision,
                "principal_fen": after.terms.principal_fen,
                "disbursed_on": after.terms.disbursed_on,
            }
        )
    loans = pa.Table.from_pylist(loan_rows, schema=_LOAN_RESULT_SCHEMA)
    return Results(
        loans,
        _cast_installments(pa.Table.from_pylist(inst_rows)),
        pa.Table.from_pylist(line_rows, schema=_LINE_SCHEMA),
        snapshot_table(pa.Table.from_pylist(snap_rows), day),
    )


_LINE_SCHEMA = pa.schema([("loan_id", pa.int64()), ("account", pa.string()), ("amount_fen", pa.int64())])
_LOAN_RESULT_SCHEMA = pa.schema(
    [("id", pa.int64()), ("schedule_version", pa.int64())]
    + [
        LOAN_SCHEMA.field(c)
        if c in LOAN_SCHEMA.names
        else pa.field(c, pa.string() if c == "classification" else pa.int64())
        for c in LOAN_RESULTS
    ]
)


def _cast_installments(t: pa.Table) -> pa.Table:
    return t.select(["loan_id", "schedule_version", "no", *INSTALLMENT_RESULTS]).cast(
        pa.schema([(c, pa.int64()) for c in ("loan_id", "schedule_version", "no", *INSTALLMENT_RESULTS)])
    )


def _concat(a: Results, b: Results | None) -> Results:
    if b is None:
        return a
    return Results(
        pa.concat_tables([a.loans.cast(_LOAN_RESULT_SCHEMA), b.loans.cast(_LOAN_RESULT_SCHEMA)]),
        pa.concat_tables([a.installments, b.installments]),
        pa.concat_tables([a.lines.cast(_LINE_SCHEMA), b.lines.cast(_LINE_SCHEMA)]),
        pa.concat_tables([a.snapshot, b.snapshot.cast(a.snapshot.schema)]),
    )


def _count(mask: Any) -> int:
    return int(pc.sum(pc.cast(mask, pa.int64())).as_py() or 0)


def _movement_counts(loans: pa.Table) -> dict[str, int]:
    """What the steps did to one slice of loans (summed over the slices)."""
    return {
        "credit_applied": _count(pc.greater(loans["credit_used_fen"], 0)),
        "penalty_accrued": _count(pc.greater(pc.add(loans["penalty_accrued_fen"], loans["compound_accrued_fen"]), 0)),
        "status_changed": _count(pc.not_equal(loans["status"], loans["status_before"])),
    }


def _counts(moved: dict[str, int], results: Results) -> dict[str, Any]:
    status = results.loans["status"]
    return {
        "credit_applied": moved.get("credit_applied", 0),
        "penalty_accrued": moved.get("penalty_accrued", 0),
        "overdue": _count(pc.equal(status, "overdue")),
        "paid_off": _count(pc.equal(status, "paid_off")),
        "status_changed": moved.get("status_changed", 0),
        "installments_written": len(results.installments),
        "journal_lines": len(results.lines),
        "snapshot_rows": len(results.snapshot),
    }


LOANS_PER_SLICE = 1_000_000  # the steps run on at most this many loans at a time: memory stays bounded


def _slices(loans: pa.Table, size: int = LOANS_PER_SLICE) -> list[tuple[int, int]]:
    """Loan-id bounds [lo, hi) of consecutive slices of at most `size` loans (one slice when empty)."""
    ids = pc.sort_indices(loans["id"])
    if len(loans) <= size:
        return [(-(2**62), 2**62)]
    sorted_ids = pc.take(loans["id"], ids).to_numpy()
    starts = [int(sorted_ids[k]) for k in range(0, len(sorted_ids), size)]
    return [(lo, hi) for lo, hi in zip(starts, [*starts[1:], 2**62], strict=True)]


def _slice(loans: pa.Table, installments: pa.Table, lo: int, hi: int) -> tuple[pa.Table, pa.Table]:
    if lo == -(2**62) and hi == 2**62:
        return loans, installments

    def keep(ids: Any) -> Any:
        return pc.and_(pc.greater_equal(ids, lo), pc.less(ids, hi))

    return loans.filter(keep(loans["id"])), installments.filter(keep(installments["loan_id"]))


def _concat_all(parts: list[Results | None]) -> Results:
    out = parts[0]
    assert out is not None
    for part in parts[1:]:
        out = _concat(out, part)
    return out

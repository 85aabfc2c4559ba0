"""The close of business against a real store (SQLite and PostgreSQL, see conftest): load, steps,
write-back, snapshots, run records, refusals, reruns, manual classes and the CLI.

Boundary days run through the columnar path (the loan closed yesterday: `loans_in_step`); the days
in between are caught up at once by the scalar path (`loans_caught_up`), which `App.run_cob` does
for any loan whose last closed day is further back.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from sqlalchemy import select, text, update
from typer.testing import CliRunner

from daihou.batch.cob.runner import DayDone, Refused, plan
from daihou.bootstrap import App
from daihou.cli.main import app as cli
from daihou.config import Settings
from daihou.domain.grades import Grade, RiskRules
from daihou.domain.loan import position
from daihou.domain.parties import Borrower, PartyKind
from daihou.domain.products import Component
from daihou.domain.servicing import Charge, Prepayment, PrepaymentMode, Waiver, replay
from daihou.service import classification, ledger
from daihou.service.commands import BookLoan
from daihou.storage import tables as t

D = date.fromisoformat
DAY = timedelta(days=1)
DISBURSED = D("2025-01-15")
FIRST_DUE = D("2025-02-15")  # one month later: every loan below falls due first on this day


@pytest.fixture
def cob(app: App, tmp_path: Path) -> App:
    """The empty book of `app`, with snapshots and saved inputs in a temporary data directory."""
    settings = Settings(database_url=app.settings.database_url, data_dir=tmp_path / "data")
    application = App(settings, app.engine, app.clock)
    with application.uow() as uow:
        uow.borrowers.add(Borrower("B1", PartyKind.INDIVIDUAL, "张三丰", "11010519491231002X", "13812345678"))
        uow.commit()
    return application


def _book(app: App, loan_no: str, product: str = "STD", **kw: Any) -> None:
    cmd = BookLoan(loan_no, "B1", kw.pop("principal_fen", 1_200_000), Decimal("0.12"), 12, DISBURSED, product, **kw)
    outcome = ledger.book_loan(app.uow(), cmd)
    assert outcome.code == "accepted", outcome


def _close(app: App, *days: date) -> list[DayDone]:
    done = app.run_cob(list(days), "duckdb")
    assert all(isinstance(d, DayDone) for d in done), done
    return done  # type: ignore[return-value]


def _columnar(app: App, day: date) -> DayDone:
    """Close `day` for loans that closed yesterday: the batch path, not the scalar catch-up."""
    [done] = _close(app, day)
    assert done.counts["loans_in_step"] >= 1 and done.counts["loans_caught_up"] == 0, done.counts
    return done


def _stored(app: App, loan_no: str) -> dict[str, Any]:
    with app.engine.connect() as conn:
        row = conn.execute(select(t.loans).where(t.loans.c.loan_no == loan_no)).one()
    return dict(row._mapping)


def _seen(app: App, loan_no: str, day: date) -> tuple[Any, ...]:
    """(dpd, class, IFRS 9 stage, status) in the store, which must agree with the day's snapshot."""
    stored = _stored(app, loan_no)
    snap = app.snapshots().loan(loan_no, day)
    assert snap is not None, f"no snapshot row for {loan_no} on {day}"
    seen = (stored["dpd"], stored["classification"], stored["ifrs9_stage"], stored["status"])
    assert seen == (snap["dpd"], snap["classification"], snap["ifrs9_stage"], snap["status"]), (stored, snap)
    assert stored["provision_fen"] == snap["provision_fen"] and stored["accrued_through"] == day
    return seen


def _pay(app: App, loan_no: str, amount_fen: int, on: date, reference: str) -> None:
    outcome = ledger.post_payment(app.uow(), loan_no, amount_fen, on, reference)
    assert outcome.code == "accepted", outcome


# ---------------------------------------------------------------- DPD floors, day by day


def test_a_loan_unpaid_since_its_first_due_date_is_classed_by_the_dpd_floors_each_not_one_day_earlier(
    cob: App,
) -> None:
    _book(cob, "L1")
    expected = {
        0: (Grade.NORMAL, 1, "active"),
        1: (Grade.SPECIAL_MENTION, 1, "overdue"),
        90: (Grade.SPECIAL_MENTION, 2, "overdue"),
        91: (Grade.SUBSTANDARD, 3, "overdue"),
        270: (Grade.SUBSTANDARD, 3, "overdue"),
        271: (Grade.DOUBTFUL, 3, "overdue"),
        360: (Grade.DOUBTFUL, 3, "overdue"),
        361: (Grade.LOSS, 3, "overdue"),
    }
    for dpd in (0, 90, 270, 360):  # catch up to the eve, then close the boundary and the day after
        [caught_up] = _close(cob, FIRST_DUE + timedelta(days=dpd - 1))
        assert caught_up.counts["loans_caught_up"] == 1
        for boundary in (dpd, dpd + 1):
            day = FIRST_DUE + timedelta(days=boundary)
            _columnar(cob, day)
            grade, stage, status = expected[boundary]
            assert _seen(cob, "L1", day) == (boundary, grade.value, stage, status), f"DPD {boundary}"
    snapshot = cob.snapshots().read(FIRST_DUE + timedelta(days=361))
    assert snapshot is not None and snapshot.column("bucket").to_pylist() == ["M7+"]


# ---------------------------------------------------------------- restructuring


def _restructure(app: App, loan_no: str, until: date, floor: Grade | None) -> None:
    """Restructuring events come later; for now the observation period is set on the row itself."""
    with app.engine.begin() as conn:
        conn.execute(
            update(t.loans)
            .where(t.loans.c.loan_no == loan_no)
            .values(restructured_until=until, restructure_floor=floor.value if floor else None)
        )


def test_a_restructured_loan_cannot_be_upgraded_inside_its_observation_period(cob: App) -> None:
    _book(cob, "R1")
    _book(cob, "R2")
    _close(cob, FIRST_DUE + 4 * DAY)  # four days past due: special mention
    until = FIRST_DUE + 7 * DAY
    _restructure(cob, "R1", until, None)
    _restructure(cob, "R2", until, Grade.SUBSTANDARD)  # its class before restructuring
    for loan_no in ("R1", "R2"):  # the arrears are paid; the rest is held as credit
        _pay(cob, loan_no, 150_000, FIRST_DUE + 5 * DAY, f"PAY-{loan_no}")
    for day in (FIRST_DUE + 5 * DAY, FIRST_DUE + 6 * DAY, until):
        _columnar(cob, day)
        assert _seen(cob, "R1", day) == (0, "special_mention", 2, "active"), day
        assert _seen(cob, "R2", day) == (0, "substandard", 3, "active"), day
    _columnar(cob, until + DAY)
    assert _seen(cob, "R1", until + DAY) == (0, "normal", 1, "active")
    assert _seen(cob, "R2", until + DAY) == (0, "normal", 1, "active")


def test_a_restructured_loan_caught_up_by_the_scalar_path_keeps_its_observation_floor(cob: App) -> None:
    _book(cob, "R3")
    _restructure(cob, "R3", FIRST_DUE + 30 * DAY, Grade.SUBSTANDARD)
    [done] = _close(cob, FIRST_DUE - 5 * DAY)  # not yet due, but closed for the first time: caught up
    assert done.counts["loans_caught_up"] == 1
    assert _seen(cob, "R3", FIRST_DUE - 5 * DAY) == (0, "substandard", 3, "active")


def test_a_caught_up_loan_is_provisioned_at_the_rates_in_force(cob: App) -> None:
    rates = {**{g: Decimal(0) for g in Grade}, Grade.NORMAL: Decimal("0.1"), Grade.SPECIAL_MENTION: Decimal("0.2")}
    cob.cob_store().save_rules(RiskRules(D("2024-01-01"), provision_rates=tuple(rates.items())), "test")
    _book(cob, "V1")
    _book(cob, "V2")
    _close(cob, FIRST_DUE - DAY)  # both caught up; V2 is closed again the next day in step
    assert _stored(cob, "V1")["provision_fen"] == 120_000  # 10 % of ¥12,000.00
    _columnar(cob, FIRST_DUE)
    assert _stored(cob, "V2")["provision_fen"] == 120_000


# ---------------------------------------------------------------- manual classification (人工认定)


def test_a_worse_manual_class_applies_from_its_date_and_a_better_one_waits_for_another_person(cob: App) -> None:
    _book(cob, "M1")
    _close(cob, FIRST_DUE + 3 * DAY)
    worse = classification.propose(
        cob.uow(), "M1", Grade.DOUBTFUL, "borrower's business closed", "alice", FIRST_DUE + 5 * DAY
    )
    assert worse.code == "accepted", worse
    _columnar(cob, FIRST_DUE + 4 * DAY)
    assert _seen(cob, "M1", FIRST_DUE + 4 * DAY)[1] == "special_mention"  # not yet effective
    _columnar(cob, FIRST_DUE + 5 * DAY)
    assert _seen(cob, "M1", FIRST_DUE + 5 * DAY)[1:3] == ("doubtful", 3)

    better = classification.propose(cob.uow(), "M1", Grade.NORMAL, "new guarantor", "alice", FIRST_DUE + 5 * DAY)
    assert better.code == classification.PENDING_APPROVAL, better
    _columnar(cob, FIRST_DUE + 6 * DAY)
    assert _seen(cob, "M1", FIRST_DUE + 6 * DAY)[1] == "doubtful"  # pending: nothing changes
    same = classification.decide(cob.uow(), better.detail["id"], "alice", approve=True)
    assert same.code == classification.SAME_PERSON
    approved = classification.decide(cob.uow(), better.detail["id"], "bob", approve=True)
    assert approved.code == "accepted", approved
    _columnar(cob, FIRST_DUE + 7 * DAY)
    assert _seen(cob, "M1", FIRST_DUE + 7 * DAY)[:2] == (7, "special_mention")  # never past the DPD floor


# ---------------------------------------------------------------- plan and rerun


def test_plan_refuses_to_skip_a_day_to_repeat_one_silently_or_to_rerun_one_before_the_last(cob: App) -> None:
    store = cob.cob_store()
    _book(cob, "P1")
    assert _code(plan(store, None, None, None, False)) == "no_previous_run"
    first = D("2025-02-10")
    _close(cob, first, first + DAY)
    assert plan(store, None, None, None, False) == [first + 2 * DAY]
    assert plan(store, None, first + 2 * DAY, first + 4 * DAY, False) == [first + k * DAY for k in (2, 3, 4)]
    assert _code(plan(store, first + 3 * DAY, None, None, False)) == "would_skip"
    assert _code(plan(store, None, first + 3 * DAY, first + 4 * DAY, False)) == "would_skip"
    assert _code(plan(store, first + DAY, None, None, False)) == "already_finished"
    assert _code(plan(store, first, None, None, True)) == "rerun_not_last"
    assert _code(plan(store, None, None, None, True)) == "rerun_not_last"
    assert _code(plan(store, None, first + 4 * DAY, first + 2 * DAY, False)) == "bad_range"
    assert plan(store, first + DAY, None, None, True) == [first + DAY]


def _code(result: object) -> str:
    assert isinstance(result, Refused), result
    return result.code


def _book_state(app: App, day: date) -> dict[str, Any]:
    """Everything a close of business writes: loan results, installments, journal, snapshot, run records."""
    with app.engine.connect() as conn:
        loans = conn.execute(
            select(t.loans.c.loan_no, t.loans.c.status, t.loans.c.credit_fen, t.loans.c.accrued_through,
                   t.loans.c.dpd, t.loans.c.classification, t.loans.c.ifrs9_stage, t.loans.c.provision_fen,
                   t.loans.c.schedule_version).order_by(t.loans.c.loan_no)
        ).all()  # fmt: skip
        installments = conn.execute(
            select(t.installments).order_by(t.installments.c.loan_id, t.installments.c.schedule_version,
                                            t.installments.c.no)
        ).all()  # fmt: skip
        journal = conn.execute(
            text("SELECT loan_id, account, SUM(amount_fen), COUNT(*) FROM journal_lines GROUP BY loan_id, account"
                 " ORDER BY loan_id, account")
        ).all()  # fmt: skip
        entries = conn.execute(text("SELECT COUNT(*) FROM journal_entries")).scalar_one()
        runs = conn.execute(select(t.cob_runs.c.business_date, t.cob_runs.c.status, t.cob_runs.c.counts)).all()
    snapshot = pq.read_table(app.snapshots().root / "snapshots" / f"business_date={day}" / "part-0.parquet")
    return {
        "loans": loans,
        "installments": installments,
        "journal": journal,
        "entries": entries,
        "runs": sorted(runs),
        "snapshot": snapshot.to_pylist(),
    }


def test_rerunning_the_last_day_replaces_its_results_exactly_and_posts_nothing_twice(cob: App) -> None:
    _book(cob, "E1")  # pays early: its credit meets the due date on the day that is run again
    _book(cob, "E2", first_due_on=FIRST_DUE - 10 * DAY)  # never pays: penalty and compound interest that day
    _close(cob, FIRST_DUE - 2 * DAY)
    _pay(cob, "E1", 106_619 + 5_000, FIRST_DUE - DAY, "EARLY")
    _columnar(cob, FIRST_DUE - DAY)
    last = FIRST_DUE
    done = _columnar(cob, last)
    assert done.counts["credit_applied"] == 1 and done.counts["penalty_accrued"] == 1, done.counts
    once = _book_state(cob, last)

    [again] = cob.run_cob([last], "duckdb", rerun=True)
    assert isinstance(again, DayDone), again
    assert _book_state(cob, last) == once

    cob.clock.value += timedelta(minutes=5)  # type: ignore[attr-defined]  # a payment after the close …
    _pay(cob, "E2", 10_000, last + DAY, "LATE")
    [refused] = cob.run_cob([last], "duckdb", rerun=True)  # … would be lost by a rerun
    assert isinstance(refused, Refused) and refused.code == "changed_since", refused


def test_rerunning_a_day_that_caught_up_a_loan_keeps_that_loans_journal_and_snapshot_row(cob: App) -> None:
    _book(cob, "K1")
    _close(cob, FIRST_DUE + 3 * DAY)  # K1 is caught up by the scalar path on this day
    [again] = cob.run_cob([FIRST_DUE + 3 * DAY], "duckdb", rerun=True)
    assert isinstance(again, DayDone), again
    with cob.uow() as uow:
        loan = uow.loans.get("K1")
        assert loan is not None
        balances = {k: v for k, v in uow.journal.balances("K1").items() if v}
    assert balances == {a.value: v for a, v in position(loan).items() if v}
    assert cob.snapshots().loan("K1", FIRST_DUE + 3 * DAY) is not None


# ---------------------------------------------------------------- the journal and the history agree


def test_after_days_of_servicing_and_closes_the_journal_is_each_loans_position_and_the_store_its_replay(
    cob: App,
) -> None:
    for loan_no, product in [("J1", "STD"), ("J2", "CONSUMER"), ("J3", "MORTGAGE"), ("J4", "SME_REVOLVE"),
                             ("J5", "BRIDGE"), ("J6", "STD"), ("J7", "MORTGAGE")]:  # fmt: skip
        _book(cob, loan_no, product, first_due_on=FIRST_DUE if loan_no != "J6" else D("2025-02-27"))
    _close(cob, FIRST_DUE - 3 * DAY)
    _pay(cob, "J1", 106_619, FIRST_DUE - 2 * DAY, "J1-EARLY")  # held as credit until the due date
    _pay(cob, "J3", 500_000, FIRST_DUE - 2 * DAY, "J3-OVER")  # far more than due: credit
    _close(cob, FIRST_DUE - 2 * DAY, FIRST_DUE - DAY)
    _pay(cob, "J4", 5_000, FIRST_DUE, "J4-PART")  # part of the interest, on the due date
    prepaid = ledger.prepay(cob.uow(), "J6", Prepayment(FIRST_DUE, 300_000, "J6-PRE", PrepaymentMode.SHORTEN_TERM))
    assert prepaid.code == "accepted", prepaid
    charged = ledger.charge(cob.uow(), "J2", Charge(FIRST_DUE, Component.COST, 20_000, "J2-COST", "visit"))
    assert charged.code == "accepted", charged
    _close(cob, FIRST_DUE, FIRST_DUE + DAY, FIRST_DUE + 2 * DAY)
    assert ledger.reverse(cob.uow(), "J3-OVER", FIRST_DUE + 3 * DAY, "wrong loan").code == "accepted"
    waived = ledger.waive(cob.uow(), "J2", Waiver(FIRST_DUE + 3 * DAY, Component.INTEREST, 100, "J2-WAIVE", "goodwill"))
    assert waived.code == "accepted", waived
    _pay(cob, "J5", 1_000, FIRST_DUE + 3 * DAY, "J5-SMALL")
    _close(cob, FIRST_DUE + 3 * DAY, FIRST_DUE + 4 * DAY)
    _close(cob, FIRST_DUE + 20 * DAY)  # a jump: caught up by the scalar path
    _columnar(cob, FIRST_DUE + 21 * DAY)

    with cob.engine.connect() as conn:
        unbalanced = conn.execute(
            text("SELECT entry_id FROM journal_lines GROUP BY entry_id HAVING SUM(amount_fen) <> 0")
        ).all()
    assert unbalanced == []
    for loan_no in ("J1", "J2", "J3", "J4", "J5", "J6", "J7"):
        with cob.uow() as uow:
            loan = uow.loans.get(loan_no)
            assert loan is not None and loan.accrued_through == FIRST_DUE + 21 * DAY
            balances = {k: v for k, v in uow.journal.balances(loan_no).items() if v}
            history = [e for _, e in uow.loans.events(loan_no)]
            replayed = replay(uow.loans.opening(loan_no), history, loan.accrued_through).loan
        assert balances == {a.value: v for a, v in position(loan).items() if v}, loan_no
        assert loan == replayed, loan_no


# ---------------------------------------------------------------- the command line


def test_cob_run_and_status_work_from_the_command_line(cob: App, monkeypatch: pytest.MonkeyPatch) -> None:
    _book(cob, "C1")
    monkeypatch.setenv("DAIHOU_DATA_DIR", str(cob.settings.data_dir))
    db = cob.settings.database_url
    runner = CliRunner()

    ran = runner.invoke(cli, ["--db", db, "cob", "run", "--date", "2025-02-16", "--json"])
    assert ran.exit_code == 0, ran.output
    [day] = json.loads(ran.stdout)
    assert day["business_date"] == "2025-02-16" and day["loans_caught_up"] == 1 and day["overdue"] == 1

    skipped = runner.invoke(cli, ["--db", db, "cob", "run", "--date", "2025-02-18"])
    assert skipped.exit_code == 1 and "would_skip" in skipped.output

    ran = runner.invoke(cli, ["--db", db, "cob", "run", "--json"])  # the next day by default
    assert ran.exit_code == 0, ran.output
    assert [d["business_date"] for d in json.loads(ran.stdout)] == ["2025-02-17"]

    status = runner.invoke(cli, ["--db", db, "cob", "status", "--json"])
    assert status.exit_code == 0, status.output
    runs = json.loads(status.stdout)
    assert [(r["business_date"], r["status"], r["engine"]) for r in runs] == [
        ("2025-02-17", "finished", "duckdb"),
        ("2025-02-16", "finished", "duckdb"),
    ]
    assert runs[0]["counts"]["loans_in_step"] == 1 and runs[0]["errors"] == []
    assert cob.snapshots().loan("C1", D("2025-02-17"))["dpd"] == 2  # type: ignore[index]

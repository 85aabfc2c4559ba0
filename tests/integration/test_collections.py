"""Collections against real stores (SQLite and PostgreSQL): cases open, move and close with the loans
in the close of business and on payments; every guardrail refuses where the action is created and the
refusal is logged with its code; promises are judged from payments; work lists rank by expected value.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from daihou.bootstrap import App
from daihou.cli.main import app as cli
from daihou.config import Settings
from daihou.domain.compliance import Refused
from daihou.domain.parties import Borrower, PartyKind
from daihou.service import ledger
from daihou.service.commands import BookLoan
from daihou.storage import tables as t
from daihou.storage.collection_tables import case_events, collection_cases, collection_refusals, contact_log, promises
from daihou.workflow import collections as wc
from daihou.workflow import daily
from daihou.workflow.daily import on_loan_event

SH = ZoneInfo("Asia/Shanghai")
D = date.fromisoformat
DISBURSED = D("2026-01-15")
FIRST_DUE = D("2026-02-15")
DAY1 = FIRST_DUE + timedelta(days=1)  # DPD 1 for every unpaid loan


def at(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=SH)


@pytest.fixture
def book(app: App, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[App]:
    """Four borrowers with one loan each, closed through the first due date + 1 (all unpaid but L3,
    which paid its first installment), and two collectors and a team lead. Only the collections step
    runs after each close here (the other workflows are tested on their own)."""
    assert daily.work_collections in daily.steps() and wc.on_payment in daily.event_hooks()
    monkeypatch.setattr(daily, "steps", lambda: [daily.work_collections])
    application = App(
        Settings(database_url=app.settings.database_url, data_dir=tmp_path / "data"), app.engine, app.clock
    )
    with application.uow() as uow:
        for k, idn in enumerate(
            ["11010519491231002X", "110105194912310037", "110105194912310045", "110105194912310053"]
        ):
            uow.borrowers.add(Borrower(f"B{k}", PartyKind.INDIVIDUAL, f"张{k}", idn, f"1381234567{k}"))
        uow.commit()
    for k, principal in enumerate([1_200_000, 3_600_000, 600_000, 2_400_000]):
        cmd = BookLoan(f"L{k}", f"B{k}", principal, Decimal("0.12"), 12, DISBURSED)
        assert ledger.book_loan(application.uow(), cmd).code == "accepted"
    assert ledger.post_payment(application.uow(), "L3", 300_000, FIRST_DUE, "L3-1").code == "accepted"
    wc.add_collector(application, "c1", "张一", "east", ["m1_early", "m2_m3_middle"], 2)
    wc.add_collector(application, "c2", "李二", "east", ["m1_early", "m2_m3_middle"], 2)
    wc.add_collector(application, "lead", "王组长", "east", ["m1_early"], 0, role="team_lead")
    application.run_cob([DAY1], "duckdb")
    yield application


def _loan_id(app: App, loan_no: str) -> int:
    with app.engine.connect() as conn:
        return int(conn.execute(select(t.loans.c.id).where(t.loans.c.loan_no == loan_no)).scalar_one())


def _case(app: App, loan_no: str) -> dict[str, Any]:
    with app.engine.connect() as conn:
        row = conn.execute(
            select(collection_cases)
            .where(collection_cases.c.loan_id == _loan_id(app, loan_no))
            .order_by(collection_cases.c.id.desc())
        ).first()
    assert row is not None, f"no case for {loan_no}"
    return dict(row._mapping)


def _refusals(app: App) -> list[str]:
    with app.engine.connect() as conn:
        return [r[0] for r in conn.execute(select(collection_refusals.c.code).order_by(collection_refusals.c.id))]


def _call(case_id: int, when: str, outcome: str = "no_answer", party: str = "debtor", **kw: Any) -> wc.ContactInput:
    return wc.ContactInput(case_id, kw.pop("channel", "call"), party, at(when), outcome, "c1", **kw)


# ---------------------------------------------------------------- cases


def test_the_close_of_business_opens_an_m1_case_for_each_overdue_loan_and_none_for_a_paid_one(book: App) -> None:
    opened = {n: _case(book, n) for n in ("L0", "L1", "L2")}
    assert {c["stage"] for c in opened.values()} == {"m1_early"}
    assert all(c["status"] == "open" and c["opened_on"] == DAY1 for c in opened.values())
    assert all(c["balance_at_open_fen"] > 0 and c["overdue_fen"] > 0 for c in opened.values())
    with pytest.raises(AssertionError):
        _case(book, "L3")


def test_open_case_is_idempotent_and_returns_the_open_case(book: App) -> None:
    first = wc.open_case(book, _loan_id(book, "L0"), "manual", DAY1, "tester")
    again = wc.open_case(book, _loan_id(book, "L0"), "manual", DAY1, "tester")
    assert first == again == _case(book, "L0")["id"]
    pre_due = wc.open_case(book, _loan_id(book, "L3"), "early warning", DAY1, "warnings")
    assert _case(book, "L3")["id"] == pre_due and _case(book, "L3")["stage"] == "pre_due"


def test_cases_get_a_segment_an_arm_a_treatment_and_an_in_house_collector_balanced_by_load(book: App) -> None:
    cases = [_case(book, n) for n in ("L0", "L1", "L2")]
    assert all(c["segment"].startswith("m1_early|unscored|") for c in cases)
    assert all(c["strategy_arm"] in ("champion", "challenger") for c in cases)
    in_house = [c for c in cases if c["worker"] == "in_house"]
    assert all(c["collector"] in ("c1", "c2") and c["team"] == "east" for c in in_house)
    if len(in_house) >= 2:
        assert {c["collector"] for c in in_house} == {"c1", "c2"}  # spread, not piled on one


def test_a_payment_that_clears_the_arrears_cures_the_case_at_once(book: App) -> None:
    case = _case(book, "L0")
    assert ledger.post_payment(book.uow(), "L0", case["overdue_fen"], DAY1, "L0-cure").code == "accepted"
    on_loan_event(book, [_loan_id(book, "L0")], DAY1, "payment")
    cured = _case(book, "L0")
    assert cured["status"] == "closed" and cured["close_reason"] == "cured" and cured["closed_on"] == DAY1
    assert cured["collected_fen"] == case["overdue_fen"]


def test_a_payment_posted_from_the_command_line_cures_the_case_at_once(book: App) -> None:
    case = _case(book, "L0")
    amount = f"{case['overdue_fen'] / 100:.2f}"
    args = ["--db", book.settings.database_url, "pay", "L0", amount, "--date", DAY1.isoformat(), "--ref", "CLI-1"]
    done = CliRunner().invoke(cli, args)
    assert done.exit_code == 0, done.output
    cured = _case(book, "L0")
    assert cured["status"] == "closed" and cured["close_reason"] == "cured", cured
    assert cured["closed_on"] == DAY1 + timedelta(days=1)  # the business day in progress


def test_a_written_off_loan_moves_its_case_to_written_off_and_closes_it(book: App) -> None:
    with book.engine.begin() as conn:
        conn.execute(update(t.loans).where(t.loans.c.loan_no == "L1").values(status="written_off"))
    wc.daily_upkeep(book, DAY1 + timedelta(days=1))
    case = _case(book, "L1")
    assert (case["stage"], case["status"], case["close_reason"]) == ("written_off", "closed", "written_off")
    with book.engine.connect() as conn:
        kinds = [r[0] for r in conn.execute(select(case_events.c.kind).where(case_events.c.case_id == case["id"]))]
    assert kinds[0] == "opened" and kinds[-1] == "closed"


def test_a_loan_past_thirty_days_moves_to_the_middle_stage(book: App) -> None:
    day = FIRST_DUE + timedelta(days=31)
    book.run_cob([day], "duckdb")
    case = _case(book, "L2")
    assert case["stage"] == "m2_m3_middle" and case["stage_since"] == day and case["status"] == "open"


def test_close_case_by_another_workflow_records_the_reason(book: App) -> None:
    case = _case(book, "L2")
    assert wc.close_case(book, case["id"], "settled", DAY1, "recovery")
    assert not wc.close_case(book, case["id"], "settled", DAY1, "recovery")
    assert _case(book, "L2")["close_reason"] == "settled"


# ---------------------------------------------------------------- guardrails


def test_a_call_in_the_quiet_hours_is_refused_and_the_refusal_logged(book: App) -> None:
    cid = _case(book, "L0")["id"]
    late = wc.log_contact(book, _call(cid, "2026-02-17 22:30"))
    early = wc.log_contact(book, _call(cid, "2026-02-17 07:59"))
    ok = wc.log_contact(book, _call(cid, "2026-02-17 08:00"))
    assert isinstance(late, Refused) and late.code == "outside_contact_hours"
    assert isinstance(early, Refused) and ok.ok
    assert _refusals(book) == ["outside_contact_hours", "outside_contact_hours"]


def test_a_fourth_connected_conversation_with_a_debtor_in_a_day_is_refused(book: App) -> None:
    cid = _case(book, "L0")["id"]
    for hour in (9, 10, 11):
        assert wc.log_contact(book, _call(cid, f"2026-02-17 {hour:02d}:00", "connected")).ok
    fourth = wc.log_contact(book, _call(cid, "2026-02-17 12:00", "connected"))
    assert isinstance(fourth, Refused) and fourth.code == "voice_cap_reached"
    assert wc.log_contact(book, _call(cid, "2026-02-17 12:00", "sent", channel="sms")).ok  # SMS is not voice
    assert wc.log_contact(book, _call(cid, "2026-02-18 09:00", "connected")).ok  # a new day


def test_a_seventh_dial_of_one_number_in_a_day_is_refused(book: App) -> None:
    cid = _case(book, "L0")["id"]
    for minute in range(6):
        assert wc.log_contact(book, _call(cid, f"2026-02-17 09:{minute:02d}")).ok
    seventh = wc.log_contact(book, _call(cid, "2026-02-17 15:00"))
    assert isinstance(seventh, Refused) and seventh.code == "dial_cap_reached"
    assert seventh.next_allowed_at == at("2026-02-18 08:00")


def test_a_contact_person_is_called_only_once_the_debtor_is_unreachable(book: App) -> None:
    cid = _case(book, "L0")["id"]
    person = dict(party="contact_person", number="13900000000")
    early = wc.log_contact(book, _call(cid, "2026-02-17 09:00", **person))
    assert isinstance(early, Refused) and early.code == "debtor_reachable"
    for day in range(17, 20):
        for hour in (9, 14):
            assert wc.log_contact(book, _call(cid, f"2026-02-{day} {hour:02d}:00")).ok  # 6 unanswered
    assert wc.log_contact(book, _call(cid, "2026-02-20 10:00", "connected", **person)).ok


def test_a_contact_person_is_never_reachable_while_the_debtor_answered_recently(book: App) -> None:
    cid = _case(book, "L0")["id"]
    assert wc.log_contact(book, _call(cid, "2026-02-16 09:00", "connected")).ok
    for day in range(17, 21):
        for hour in (9, 14):
            wc.log_contact(book, _call(cid, f"2026-02-{day} {hour:02d}:00"))
    refused = wc.log_contact(book, _call(cid, "2026-02-21 10:00", party="contact_person", number="13900000000"))
    assert isinstance(refused, Refused) and refused.code == "debtor_reachable"


def test_a_dispute_pauses_dunning_until_resolved(book: App) -> None:
    cid = _case(book, "L0")["id"]
    assert wc.log_contact(book, _call(cid, "2026-02-17 09:00", "dispute", notes="说已经还过了")).ok
    paused = wc.log_contact(book, _call(cid, "2026-02-17 10:00"))
    assert isinstance(paused, Refused) and paused.code == "debt_disputed" and paused.next_allowed_at is None
    assert wc.build_worklists(book, D("2026-02-18")) >= 0
    assert cid not in {i["case_id"] for i in wc.worklist(book, D("2026-02-18"))}
    with book.engine.begin() as conn:
        conn.execute(update(t.loan_disputes).values(resolved_at=at("2026-02-17 11:00")))
    assert wc.log_contact(book, _call(cid, "2026-02-17 12:00")).ok


def test_notes_with_banned_language_are_refused(book: App) -> None:
    refused = wc.log_contact(
        book, _call(_case(book, "L0")["id"], "2026-02-17 09:00", "refused", notes="再不还就报警抓你去坐牢")
    )
    assert isinstance(refused, Refused) and refused.code == "banned_language"


def test_no_amount_above_the_collectable_balance_is_dunned_or_promised(book: App) -> None:
    case = _case(book, "L0")
    over = case["collectable_fen"] + 1
    demanded = wc.log_contact(book, _call(case["id"], "2026-02-17 09:00", "connected", amount_demanded_fen=over))
    promised = wc.make_promise(book, case["id"], [(D("2026-02-20"), over)], DAY1, "c1")
    assert isinstance(demanded, Refused) and demanded.code == "amount_above_cap"
    assert isinstance(promised, Refused) and promised.code == "amount_above_cap"
    assert _refusals(book) == ["amount_above_cap", "amount_above_cap"]


# ---------------------------------------------------------------- promises


def _promises(app: App, case_id: int) -> list[dict[str, Any]]:
    with app.engine.connect() as conn:
        q = select(promises).where(promises.c.case_id == case_id).order_by(promises.c.due_on)
        return [dict(r._mapping) for r in conn.execute(q)]


def test_a_promise_paid_in_full_is_kept_as_soon_as_the_payment_arrives(book: App) -> None:
    case = _case(book, "L1")
    done = wc.make_promise(book, case["id"], [(D("2026-02-20"), 50_000)], DAY1, "c1")
    assert isinstance(done, wc.Promised)
    ledger.post_payment(book.uow(), "L1", 50_000, D("2026-02-17"), "L1-ptp")
    on_loan_event(book, [_loan_id(book, "L1")], D("2026-02-17"), "payment")
    [p] = _promises(book, case["id"])
    assert (p["status"], p["paid_fen"], p["broken_on"]) == ("kept", 50_000, None)


def test_an_unpaid_promise_breaks_after_its_day_and_moves_the_case(book: App) -> None:
    case = _case(book, "L1")
    wc.make_promise(book, case["id"], [(D("2026-02-18"), 50_000)], DAY1, "c1")
    wc.daily_upkeep(book, D("2026-02-17"))
    assert _promises(book, case["id"])[0]["status"] == "pending"
    wc.daily_upkeep(book, D("2026-02-18"))
    [p] = _promises(book, case["id"])
    assert (p["status"], p["broken_on"]) == ("broken", D("2026-02-18"))
    assert _case(book, "L1")["stage"] == "m2_m3_middle"


def test_a_plan_is_paid_oldest_promise_first_and_a_short_payment_is_partly_kept(book: App) -> None:
    case = _case(book, "L1")
    plan = wc.make_promise(book, case["id"], [(D("2026-02-25"), 40_000), (D("2026-02-18"), 30_000)], DAY1, "c1")
    assert isinstance(plan, wc.Promised) and plan.plan_id == plan.promise_ids[0]
    ledger.post_payment(book.uow(), "L1", 50_000, D("2026-02-17"), "L1-plan")
    wc.daily_upkeep(book, D("2026-02-25"))
    first, second = _promises(book, case["id"])
    assert (first["paid_fen"], first["status"]) == (30_000, "kept")
    assert (second["paid_fen"], second["status"], second["broken_on"]) == (20_000, "partly_kept", None)


# ---------------------------------------------------------------- work lists, dialer, scope


def test_the_worklist_ranks_by_expected_value_within_each_collectors_capacity(book: App) -> None:
    day = D("2026-02-17")
    wc.build_worklists(book, day)
    items = wc.worklist(book, day)
    by_collector: dict[str, list[dict[str, Any]]] = {}
    for i in items:
        by_collector.setdefault(i["collector"], []).append(i)
    for rows in by_collector.values():
        values = [r["expected_fen"] for r in rows]
        assert values == sorted(values, reverse=True) and [r["rank"] for r in rows] == list(range(1, len(rows) + 1))
        if rows[0]["collector"] != "robot":
            assert len(rows) <= 2
    for i in items:
        assert i["expected_fen"] == i["amount_fen"] * i["pay_ppm"] // 1_000_000
        assert i["window_start"].astimezone(SH).hour == 8 and i["window_end"].astimezone(SH).hour == 22


def test_dialer_export_then_import_logs_good_rows_and_names_bad_ones(book: App) -> None:
    day = D("2026-02-17")
    wc.build_worklists(book, day)
    exported = wc.export_dialer(book, day).splitlines()
    assert exported[0].startswith("item_id,case_id,loan_no")
    cid = _case(book, "L1")["id"]
    results = "\n".join(
        [
            "case_id,number,started_at,ended_at,outcome,collector,recording_ref",
            f"{cid},13812345671,2026-02-17T10:00:00+08:00,2026-02-17T10:03:00+08:00,connected,c1,rec-1",
            f"{cid},13812345671,2026-02-17T23:10:00+08:00,,no_answer,c1,",
            "x,13812345671,2026-02-17T10:00:00+08:00,,connected,c1,",
            f"{cid},13812345671,yesterday,,shouted,c1,",
        ]
    )
    done = wc.import_call_results(book, results)
    assert done.logged == 1 and done.refused == {"outside_contact_hours": 1}
    assert [(p.row, p.field) for p in done.problems or []] == [(3, "case_id"), (4, "started_at"), (4, "outcome")]
    with book.engine.connect() as conn:
        assert conn.execute(select(contact_log.c.recording_ref)).scalars().all() == ["rec-1"]


def test_each_principal_sees_only_its_cases(book: App) -> None:
    c1 = {c["id"] for c in wc.cases_visible_to(book, "collector", "c1")}
    c2 = {c["id"] for c in wc.cases_visible_to(book, "collector", "c2")}
    team = {c["id"] for c in wc.cases_visible_to(book, "team_lead", "lead")}
    everyone = {c["id"] for c in wc.cases_visible_to(book, "supervisor", "audit")}
    assert not c1 & c2 and (c1 | c2) <= team <= everyone
    assert wc.cases_visible_to(book, "borrower", "B0") == [] and wc.cases_visible_to(book, "team_lead", "c1") == []
    some = min(everyone)
    with book.engine.begin() as conn:
        conn.execute(update(collection_cases).where(collection_cases.c.id == some).values(placement_agency_id=7))
    assert [c["id"] for c in wc.cases_visible_to(book, "agency", "7")] == [some]
    assert wc.cases_visible_to(book, "agency", "8") == []


def test_reassign_and_recall_follow_skills(book: App) -> None:
    case = _case(book, "L1")
    wc.add_collector(book, "late", "赵晚", "west", ["m4_plus_late"], 5)
    refused = wc.assign(book, case["id"], "late", DAY1, "lead")
    assert isinstance(refused, wc.Rejected) and refused.code == "collector_not_skilled"
    assert wc.assign(book, case["id"], "c2", DAY1, "lead") is None and _case(book, "L1")["collector"] == "c2"
    assert wc.recall(book, [case["id"]], DAY1, "lead") == 1 and _case(book, "L1")["collector"] is None
    assert wc.rebalance(book, DAY1, "lead") == 1 and _case(book, "L1")["collector"] in ("c1", "c2")


def test_the_cli_lists_cases_and_reports_champion_against_challenger(book: App) -> None:
    runner = CliRunner()
    url = book.settings.database_url
    listed = runner.invoke(cli, ["--db", url, "case", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    assert {c["stage"] for c in json.loads(listed.stdout)} == {"m1_early"}
    report = runner.invoke(cli, ["--db", url, "case", "report", "champion-challenger", "--json"])
    assert report.exit_code == 0, report.output
    assert sum(r["cases"] for r in json.loads(report.stdout)) == 3
    refused = runner.invoke(
        cli, ["--db", url, "case", "contact", str(_case(book, "L0")["id"]), "--outcome", "no_answer",
              "--collector", "c1", "--at", "2026-02-17T23:00:00+08:00"],
    )  # fmt: skip
    assert refused.exit_code == 1 and "outside_contact_hours" in refused.output


def test_the_transition_table_in_sql_agrees_with_the_pure_rule(book: App) -> None:
    """Differential: the compiled CASE of the close of business against `domain.collections.next_move`."""
    from daihou.domain import collections as dc
    from daihou.storage import collection_store as st

    policy, now = wc.load_policy(), book.clock.now()
    case_id, loan_id = _case(book, "L1")["id"], _loan_id(book, "L1")
    cases = collection_cases.c
    for stage in dc.Stage:
        for dpd in (0, 1, 31, 91, 181):
            for status in ("overdue", "paid_off", "written_off", "closed"):
                for event in (None, "promise_broken"):
                    with book.engine.begin() as conn:
                        conn.execute(update(t.loans).where(t.loans.c.id == loan_id).values(status=status, dpd=dpd))
                        conn.execute(
                            update(collection_cases)
                            .where(cases.id == case_id)
                            .values(stage=stage.value, dpd=dpd, status="open", close_reason=None, closed_on=None)
                        )
                        st.apply_transitions(conn, policy, DAY1, now, event, [case_id])
                        got = conn.execute(select(cases.stage, cases.close_reason).where(cases.id == case_id)).one()
                    want = dc.next_move(policy, dc.CaseFacts(stage.value, dpd, status, True), event)
                    expected = (stage.value, None) if want is None else (want.to_stage or stage.value, want.close)
                    assert tuple(got) == expected, (stage, dpd, status, event)

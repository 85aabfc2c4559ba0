"""Early warning (风险预警) against real stores: SQLite and PostgreSQL (see conftest).

Loans are booked and paid through the ledger; the close-of-business results a rule reads (DPD) are
set on the loan row as the batch would leave them, so each rule is tested on its own.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from typer.testing import CliRunner

from daihou.bootstrap import App
from daihou.cli.warning_cmd import warning_app
from daihou.domain.identity import id_check_char, uscc_check_char
from daihou.domain.parties import Borrower, PartyKind
from daihou.domain.servicing import payoff_quote
from daihou.domain.warnings import RefusalCode, Refused, ruleset_from_dict
from daihou.service import ledger
from daihou.service.commands import BookLoan
from daihou.storage import tables as t
from daihou.storage.score_tables import loan_scores
from daihou.storage.warning_tables import alert_steps, alerts, external_signals, loan_actions
from daihou.workflow import daily
from daihou.workflow.warnings import StepDone, build, evaluate_warnings, load_rules

D = date.fromisoformat
DAY = D("2026-03-20")


def _id_number(k: int) -> str:
    body = f"110105{1970 + k % 30}{1 + k % 12:02d}{1 + k % 28:02d}{k % 1000:03d}"
    return body + id_check_char(body)


def _uscc(k: int) -> str:
    body = f"91110105MA{k:07d}"
    return body + uscc_check_char(body)


def _book_many(app: App, n: int) -> dict[str, int]:
    """n borrowers with one 12-month loan each, disbursed 2026-01-15 (first due 2026-02-15)."""
    with app.uow() as uow:
        for k in range(n):
            kind = PartyKind.ENTERPRISE if k % 2 else PartyKind.INDIVIDUAL
            number = _uscc(k) if k % 2 else _id_number(k)
            uow.borrowers.add(Borrower(f"B{k}", kind, f"借款人{k}", number, f"139{k:08d}"))
        uow.commit()
    for k in range(n):
        cmd = BookLoan(f"L{k}", f"B{k}", 1_200_000, Decimal("0.12"), 12, D("2026-01-15"))
        assert ledger.book_loan(app.uow(), cmd).code == "accepted"
    with app.engine.connect() as conn:
        return {r.loan_no: r.id for r in conn.execute(select(t.loans.c.loan_no, t.loans.c.id))}


@pytest.fixture
def book(app: App) -> dict[str, int]:
    return _book_many(app, 6)


def _set_dpd(app: App, loan_id: int, dpd: int) -> None:
    with app.engine.begin() as conn:
        status = "overdue" if dpd else "active"
        conn.execute(update(t.loans).where(t.loans.c.id == loan_id).values(dpd=dpd, status=status))


def _alerts(app: App, rule: str | None = None) -> list[Any]:
    stmt = select(alerts).order_by(alerts.c.id)
    if rule:
        stmt = stmt.where(alerts.c.rule_code == rule)
    with app.engine.connect() as conn:
        return list(conn.execute(stmt))


def _only(app: App, rule: str) -> set[int]:
    return {a.loan_id for a in _alerts(app, rule)}


# ---------------------------------------------------------------- rules


def test_a_first_missed_payment_opens_one_alert_with_evidence_and_an_opening_step(
    app: App, book: dict[str, int]
) -> None:
    _set_dpd(app, book["L1"], 3)
    counts = evaluate_warnings(app, DAY)
    assert counts["warning_first_missed_payment"] == 1
    [alert] = _alerts(app, "first_missed_payment")
    assert (alert.loan_id, alert.status, alert.severity, alert.owner_role) == (
        book["L1"],
        "open",
        "medium",
        "account_officer",
    )
    assert json.loads(alert.evidence) == {"dpd": 3}
    with app.engine.connect() as conn:
        [step] = conn.execute(select(alert_steps).where(alert_steps.c.alert_id == alert.id)).all()
    assert (step.from_status, step.to_status, step.user) == (None, "open", "system:cob")


def test_evaluating_the_same_day_twice_opens_nothing_new(app: App, book: dict[str, int]) -> None:
    _set_dpd(app, book["L1"], 45)
    first = evaluate_warnings(app, DAY)
    again = evaluate_warnings(app, DAY)
    assert first["warnings_opened"] == 2  # first missed payment and DPD 30
    assert again["warnings_opened"] == 0
    assert len(_alerts(app)) == 2


def test_a_first_missed_payment_fires_once_in_a_loans_life(app: App, book: dict[str, int]) -> None:
    service = build(app)
    _set_dpd(app, book["L1"], 1)
    evaluate_warnings(app, DAY)
    [alert] = _alerts(app, "first_missed_payment")
    assert service.acknowledge(alert.id, "王经理", "called, salary late").ok
    assert service.close(alert.id, "王经理", "paid", "risk_cleared").ok
    _set_dpd(app, book["L1"], 0)
    evaluate_warnings(app, D("2026-03-21"))
    _set_dpd(app, book["L1"], 2)  # a second miss, months later
    evaluate_warnings(app, D("2026-04-17"))
    assert len(_alerts(app, "first_missed_payment")) == 1


def test_dpd_thresholds_fire_once_per_overdue_spell_and_again_in_a_new_one(app: App, book: dict[str, int]) -> None:
    service = build(app)
    _set_dpd(app, book["L2"], 29)
    evaluate_warnings(app, D("2026-03-16"))
    assert _only(app, "dpd_30") == set()
    _set_dpd(app, book["L2"], 30)
    evaluate_warnings(app, D("2026-03-17"))
    [alert] = _alerts(app, "dpd_30")
    assert json.loads(alert.evidence) == {"dpd": 30, "threshold_days": 30}
    service.acknowledge(alert.id, "李", "seen")
    service.close(alert.id, "李", "restructuring talks", "mitigated")
    _set_dpd(app, book["L2"], 31)  # the same spell, the next day: no new alert
    evaluate_warnings(app, D("2026-03-18"))
    assert len(_alerts(app, "dpd_30")) == 1
    _set_dpd(app, book["L2"], 0)  # cured …
    evaluate_warnings(app, D("2026-03-19"))
    _set_dpd(app, book["L2"], 30)  # … and 30 days late again
    evaluate_warnings(app, D("2026-05-20"))
    assert len(_alerts(app, "dpd_30")) == 2
    assert _only(app, "dpd_60") == set()


def test_a_payment_below_half_of_the_installment_opens_an_alert_and_a_bigger_one_does_not(
    app: App, book: dict[str, int]
) -> None:
    with app.uow() as uow:
        loan = uow.loans.get("L3")
    assert loan is not None
    first = loan.installments[0]
    due = first.principal.due + first.interest.due
    assert ledger.post_payment(app.uow(), "L3", due * 40 // 100, first.due_date, "p-L3").code == "accepted"
    assert ledger.post_payment(app.uow(), "L4", due * 60 // 100, first.due_date, "p-L4").code == "accepted"
    assert ledger.post_payment(app.uow(), "L5", due, first.due_date, "p-L5").code == "accepted"
    evaluate_warnings(app, first.due_date)
    assert _only(app, "low_payment") == {book["L3"]}
    [alert] = _alerts(app, "low_payment")
    evidence = json.loads(alert.evidence)
    assert evidence["installment_no"] == 1 and evidence["paid_fen"] == due * 40 // 100
    assert evidence["due_fen"] == due and evidence["due_date"] == first.due_date.isoformat()


def test_fund_misuse_found_in_a_visit_opens_an_alert(app: App, book: dict[str, int]) -> None:
    from daihou.storage.visit_tables import visit_records

    now = datetime(2026, 3, 20, 2, tzinfo=UTC)
    common = {"visit_type": "on_site", "officers": "王,李", "answers": "{}", "recorded_by": "王", "created_at": now}
    with app.engine.begin() as conn:
        conn.execute(
            insert(visit_records),
            [
                {**common, "loan_id": book["L1"], "visited_on": D("2026-03-18"), "fund_misuse": True},
                {**common, "loan_id": book["L2"], "visited_on": D("2026-03-18"), "fund_misuse": False},
                {**common, "loan_id": book["L3"], "visited_on": D("2026-01-02"), "fund_misuse": True},  # too old
            ],
        )
    evaluate_warnings(app, DAY)
    assert _only(app, "fund_misuse") == {book["L1"]}
    assert json.loads(_alerts(app, "fund_misuse")[0].evidence) == {"visited_on": "2026-03-18"}


def _collateral(app: App, loan_id: int, values: list[tuple[str, int]], custody: str = "registered") -> None:
    with app.engine.begin() as conn:
        cid = conn.execute(
            insert(t.collateral)
            .values(
                loan_id=loan_id,
                kind="real_estate",
                description="住宅",
                custody_status=custody,
                created_at=datetime(2026, 1, 15, tzinfo=UTC),
            )
            .returning(t.collateral.c.id)
        ).scalar_one()
        for on, value in values:
            conn.execute(insert(t.collateral_valuations).values(collateral_id=cid, valued_on=D(on), value_fen=value))


def test_a_collateral_revaluation_forty_percent_down_opens_an_alert_and_twenty_percent_does_not(
    app: App, book: dict[str, int]
) -> None:
    _collateral(app, book["L1"], [("2026-01-10", 100_000_000), ("2026-03-19", 60_000_000)])
    _collateral(app, book["L2"], [("2026-01-10", 100_000_000), ("2026-03-19", 80_000_000)])
    _collateral(app, book["L3"], [("2026-01-10", 100_000_000), ("2026-03-19", 10_000_000)], custody="released")
    _collateral(app, book["L4"], [("2026-01-10", 100_000_000)])
    evaluate_warnings(app, DAY)
    assert _only(app, "collateral_value_drop") == {book["L1"]}
    evidence = json.loads(_alerts(app, "collateral_value_drop")[0].evidence)
    assert (evidence["value_fen"], evidence["baseline_fen"]) == (60_000_000, 100_000_000)


def test_a_behaviour_score_drop_beyond_the_threshold_opens_an_alert(app: App, book: dict[str, int]) -> None:
    rows = [
        (book["L1"], "2026-02-28", 700),
        (book["L1"], "2026-03-19", 620),  # −80
        (book["L2"], "2026-02-28", 700),
        (book["L2"], "2026-03-19", 680),  # −20
        (book["L3"], "2026-03-19", 500),  # one scoring: nothing to compare
    ]
    with app.engine.begin() as conn:
        conn.execute(
            insert(loan_scores),
            [
                {"loan_id": i, "model": "bcard", "model_version": 1, "scored_on": D(d), "score": s, "pd_ppm": 10_000}
                for i, d, s in rows
            ],
        )
    evaluate_warnings(app, DAY)
    assert _only(app, "behaviour_score_drop") == {book["L1"]}


def test_without_scores_the_score_rule_simply_finds_nothing(app: App, book: dict[str, int]) -> None:
    counts = evaluate_warnings(app, DAY)
    assert "warning_behaviour_score_drop" not in counts and _alerts(app) == []


def test_a_broken_promise_and_lost_contact_open_alerts_for_the_collector(app: App, book: dict[str, int]) -> None:
    from daihou.storage.collection_tables import contact_log, promises
    from daihou.workflow.collections import open_case

    _set_dpd(app, book["L1"], 10)
    _set_dpd(app, book["L2"], 10)
    case1 = open_case(app, book["L1"], "test", D("2026-03-10"), "tester")
    case2 = open_case(app, book["L2"], "test", D("2026-03-10"), "tester")
    now = datetime(2026, 3, 19, 3, tzinfo=UTC)
    with app.engine.begin() as conn:
        conn.execute(
            insert(promises).values(
                case_id=case1,
                loan_id=book["L1"],
                promised_on=D("2026-03-12"),
                due_on=D("2026-03-18"),
                amount_fen=50_000,
                paid_fen=0,
                status="broken",
                broken_on=D("2026-03-19"),
                created_by="c1",
                created_at=now,
            )
        )
        b2 = conn.scalar(select(t.loans.c.borrower_id).where(t.loans.c.id == book["L2"]))
        conn.execute(
            insert(contact_log).values(
                case_id=case2,
                loan_id=book["L2"],
                borrower_id=b2,
                channel="call",
                party="debtor",
                started_at=now,
                outcome="lost_contact",
                collector="c1",
                created_at=now,
            )
        )
    evaluate_warnings(app, DAY)
    assert _only(app, "broken_promise") == {book["L1"]}
    assert _only(app, "lost_contact") == {book["L2"]}
    assert {a.owner_role for a in _alerts(app) if a.rule_code in ("broken_promise", "lost_contact")} == {"collector"}


def test_rules_apply_from_their_effective_date(app: App, book: dict[str, int]) -> None:
    data = {
        "rules": [
            {
                "code": "dpd_x",
                "kind": "dpd_crossed",
                "severity": "high",
                "owner_role": "risk_manager",
                "effective": "2026-01-01",
                "params": {"threshold_days": 30},
                "title_zh": "x",
                "title_en": "x",
            },
            {
                "code": "dpd_x",
                "kind": "dpd_crossed",
                "severity": "critical",
                "owner_role": "risk_manager",
                "effective": "2026-04-01",
                "params": {"threshold_days": 15},
                "title_zh": "x",
                "title_en": "x",
            },
        ]
    }
    rules = ruleset_from_dict(data)
    _set_dpd(app, book["L1"], 20)
    assert evaluate_warnings(app, D("2026-03-31"), rules=rules)["warnings_opened"] == 0
    assert evaluate_warnings(app, D("2026-04-01"), rules=rules)["warnings_opened"] == 1
    [alert] = _alerts(app)
    assert (alert.severity, alert.rule_effective) == ("critical", D("2026-04-01"))


def test_an_event_evaluates_only_the_loans_it_names(app: App, book: dict[str, int]) -> None:
    _set_dpd(app, book["L1"], 5)
    _set_dpd(app, book["L2"], 5)
    daily.on_loan_event(app, [book["L2"]], DAY, "reversal")
    assert _only(app, "first_missed_payment") == {book["L2"]}
    with app.engine.connect() as conn:
        users = set(conn.scalars(select(alert_steps.c.user)))
    assert users == {"system:event:reversal"}


def test_closed_loans_raise_no_alerts(app: App, book: dict[str, int]) -> None:
    with app.engine.begin() as conn:
        conn.execute(update(t.loans).where(t.loans.c.id == book["L1"]).values(dpd=40, status="written_off"))
    assert evaluate_warnings(app, DAY)["warnings_opened"] == 0


# ---------------------------------------------------------------- the alert workflow


def _one_alert(app: App, book: dict[str, int], loan: str = "L1") -> int:
    _set_dpd(app, book[loan], 2)
    evaluate_warnings(app, DAY)
    [alert] = _alerts(app, "first_missed_payment")
    return int(alert.id)


def test_an_alert_moves_open_acknowledged_actioned_closed_with_every_step_recorded(
    app: App, book: dict[str, int]
) -> None:
    service = build(app)
    alert_id = _one_alert(app, book)
    assert isinstance(service.acknowledge(alert_id, "王经理", "已电话联系借款人"), StepDone)
    done = service.act(alert_id, "王经理", "要求追加保证人", "require_more_security", DAY)
    assert isinstance(done, StepDone) and done.action_status == "decided"
    closed = service.close(alert_id, "风险部张", "保证人已签约", "mitigated", DAY)
    assert isinstance(closed, StepDone)
    detail = service.show(alert_id)
    assert not isinstance(detail, Refused)
    assert [(s.from_status, s.to_status, s.user) for s in detail.steps] == [
        (None, "open", "system:cob"),
        ("open", "acknowledged", "王经理"),
        ("acknowledged", "actioned", "王经理"),
        ("actioned", "closed", "风险部张"),
    ]
    assert detail.steps[2].action == "require_more_security" and detail.steps[3].outcome == "mitigated"
    assert (detail.alert.status, detail.alert.outcome, detail.alert.closed_on) == ("closed", "mitigated", DAY)
    assert [(a.kind, a.decided_by) for a in detail.actions] == [("require_more_security", "王经理")]


@pytest.mark.parametrize(
    ("steps", "code"),
    [
        ([("close", "false_alarm")], RefusalCode.INVALID_TRANSITION),  # not acknowledged yet
        ([("action", "freeze_line")], RefusalCode.INVALID_TRANSITION),
        ([("ack", None), ("ack", None)], RefusalCode.INVALID_TRANSITION),
        ([("ack", None), ("action", None)], RefusalCode.ACTION_REQUIRED),
        ([("ack", None), ("action", "shout_at_borrower")], RefusalCode.UNKNOWN_ACTION),
        ([("ack", None), ("close", None)], RefusalCode.OUTCOME_REQUIRED),
        ([("ack", None), ("close", "forgotten")], RefusalCode.UNKNOWN_OUTCOME),
        ([("ack", None), ("close", "false_alarm"), ("ack", None)], RefusalCode.INVALID_TRANSITION),
    ],
)
def test_invalid_steps_are_refused_with_a_code_and_change_nothing(
    app: App, book: dict[str, int], steps: list[tuple[str, str | None]], code: RefusalCode
) -> None:
    service = build(app)
    alert_id = _one_alert(app, book)
    result: Any = None
    for command, arg in steps:
        if command == "ack":
            result = service.acknowledge(alert_id, "u", "c")
        elif command == "action":
            result = service.act(alert_id, "u", "c", arg, DAY)
        else:
            result = service.close(alert_id, "u", "c", arg, DAY)
    assert isinstance(result, Refused) and result.code is code
    with app.engine.connect() as conn:
        recorded = conn.scalar(select(func.count()).select_from(alert_steps).where(alert_steps.c.alert_id == alert_id))
    assert recorded == len(steps)  # the opening step and each accepted one, not the refused one


def test_a_step_needs_a_named_user_and_a_comment(app: App, book: dict[str, int]) -> None:
    service = build(app)
    alert_id = _one_alert(app, book)
    assert service.acknowledge(alert_id, " ", "c") == Refused(
        RefusalCode.USER_REQUIRED, "every step is taken by a named user (--user)"
    )
    refused = service.acknowledge(alert_id, "u", "")
    assert isinstance(refused, Refused) and refused.code is RefusalCode.COMMENT_REQUIRED
    unknown = service.acknowledge(999_999, "u", "c")
    assert isinstance(unknown, Refused) and unknown.code is RefusalCode.UNKNOWN_ALERT


def test_the_database_refuses_a_second_live_alert_for_the_same_loan_and_rule(app: App, book: dict[str, int]) -> None:
    alert_id = _one_alert(app, book)
    with app.engine.connect() as conn:
        row = conn.execute(select(alerts).where(alerts.c.id == alert_id)).mappings().one()
    copy = {k: v for k, v in row.items() if k != "id"}
    with pytest.raises(IntegrityError), app.engine.begin() as conn:
        conn.execute(insert(alerts).values(**copy))
    with app.engine.begin() as conn:  # a closed one may sit beside it
        conn.execute(insert(alerts).values(**{**copy, "status": "closed", "active_rule": None}))


def test_an_early_recall_records_the_payoff_amount_the_ledger_quotes(app: App, book: dict[str, int]) -> None:
    service = build(app)
    alert_id = _one_alert(app, book)
    service.acknowledge(alert_id, "王", "seen")
    done = service.act(alert_id, "行长", "贷审会决议提前收回", "recall_early", DAY)
    assert isinstance(done, StepDone) and done.action_status == "decided"
    with app.uow() as uow:
        loan = uow.loans.get("L1")
    assert loan is not None and loan.accrued_through is not None
    on = max(DAY, loan.accrued_through.fromordinal(loan.accrued_through.toordinal() + 1))
    assert done.amount_due_fen == payoff_quote(loan, on).total_fen > 1_000_000
    with app.engine.connect() as conn:
        action = conn.execute(select(loan_actions)).one()
    assert (action.kind, action.amount_due_fen, action.decided_by) == ("recall_early", done.amount_due_fen, "行长")
    assert json.loads(action.detail)["payoff_on"] == on.isoformat()


def test_high_risk_visits_tighten_the_cadence_and_closing_the_alert_relaxes_it(app: App, book: dict[str, int]) -> None:
    pytest.importorskip("daihou.workflow.visits")
    from daihou.storage.visit_tables import visit_cadence_overrides as o

    service = build(app)
    alert_id = _one_alert(app, book)
    service.acknowledge(alert_id, "王", "seen")
    done = service.act(alert_id, "王", "每月回访", "high_risk_visits", DAY)
    assert isinstance(done, StepDone) and done.action_status == "done"
    with app.engine.connect() as conn:
        live = conn.execute(select(o).where(o.c.loan_id == book["L1"], o.c.cleared_at.is_(None))).all()
    assert [r.cadence for r in live] == ["high_risk"]
    assert isinstance(service.close(alert_id, "王", "已还款", "risk_cleared", DAY), StepDone)
    with app.engine.connect() as conn:
        live = conn.execute(select(o).where(o.c.loan_id == book["L1"], o.c.cleared_at.is_(None))).all()
    assert live == []


def test_opening_a_collection_case_hands_the_loan_to_collections(app: App, book: dict[str, int]) -> None:
    pytest.importorskip("daihou.workflow.collections")
    from daihou.storage.collection_tables import collection_cases

    service = build(app)
    alert_id = _one_alert(app, book)
    service.acknowledge(alert_id, "王", "seen")
    done = service.act(alert_id, "王", "转催收", "open_collection_case", DAY)
    assert isinstance(done, StepDone) and done.action_status == "done"
    with app.engine.connect() as conn:
        cases = conn.execute(select(collection_cases.c.loan_id)).scalars().all()
    assert cases == [book["L1"]]


# ---------------------------------------------------------------- external signals and the CLI


def _signals_file(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "signals.csv"
    path.write_text("\n".join(["证件号码,类型,来源,日期,详情", *lines]) + "\n", encoding="utf-8")
    return path


def _invoke(app: App, *args: str) -> Any:
    return CliRunner().invoke(warning_app, list(args), obj=app, catch_exceptions=False)


def test_a_signals_file_with_bad_rows_is_refused_whole_naming_row_and_field(
    app: App, book: dict[str, int], tmp_path: Path
) -> None:
    path = _signals_file(
        tmp_path,
        [
            f"{_uscc(1)},涉诉,中国裁判文书网,2026-03-10,买卖合同纠纷",
            "110105197001010000,lawsuit,中国裁判文书网,2026-03-10,",  # bad check digit
            f"{_id_number(2)},gossip,朋友圈,2026-03-10,",
            f"{_id_number(4)},enforcement,全国法院被执行人信息,2026-13-01,",
        ],
    )
    result = _invoke(app, "import-signals", str(path), "--as-of", "2026-03-20", "--json")
    assert result.exit_code == 1
    payload = json.loads(result.stdout)
    assert [(e["row"], e["column"]) for e in payload["errors"]] == [(3, "id_number"), (4, "kind"), (5, "observed_on")]
    assert payload["committed"] is False
    with app.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(external_signals)) == 0


def test_signals_import_matches_borrowers_opens_alerts_and_a_reimport_changes_nothing(
    app: App, book: dict[str, int], tmp_path: Path
) -> None:
    path = _signals_file(
        tmp_path,
        [
            f"{_uscc(1)},涉诉,中国裁判文书网,2026-03-10,买卖合同纠纷",
            f"{_id_number(2)},被执行,全国法院被执行人信息,2026-03-12,",
            f"{_id_number(999)},lawsuit,中国裁判文书网,2026-03-12,",  # not our borrower
            f"{_id_number(4)},gossip,朋友圈,2026-03-10,",  # bad: skipped
        ],
    )
    result = _invoke(app, "import-signals", str(path), "--as-of", "2026-03-20", "--skip-invalid", "--json")
    assert result.exit_code == 2
    payload = json.loads(result.stdout)
    counts = (payload["imported"], payload["rejected"], payload["matched_borrowers"], payload["unmatched"])
    assert counts == (3, 1, 2, 1)
    assert payload["alerts_opened"] == 2
    assert _only(app, "external_negative") == {book["L1"], book["L2"]}
    assert (tmp_path / "signals.csv.rejects.csv").exists()
    again = json.loads(
        _invoke(app, "import-signals", str(path), "--as-of", "2026-03-20", "--skip-invalid", "--json").stdout
    )
    assert (again["imported"], again["unchanged"], again["alerts_opened"]) == (0, 3, 0)


def test_the_cli_lists_shows_and_moves_alerts(app: App, book: dict[str, int]) -> None:
    _set_dpd(app, book["L1"], 95)
    evaluated = json.loads(_invoke(app, "evaluate", "--as-of", "2026-03-20", "--json").stdout)
    assert evaluated["warnings_opened"] == 4  # first miss, 30, 60, 90
    listed = json.loads(_invoke(app, "list", "--severity", "critical", "--json").stdout)
    assert [a["rule_code"] for a in listed] == ["dpd_90"]
    high = json.loads(_invoke(app, "list", "--severity", "high+", "--owner-role", "risk_manager", "--json").stdout)
    assert {a["rule_code"] for a in high} == {"dpd_30", "dpd_60", "dpd_90"}
    alert_id = str(listed[0]["id"])
    assert _invoke(app, "ack", alert_id, "--user", "张", "--comment", "看到了").exit_code == 0
    refused = _invoke(app, "ack", alert_id, "--user", "张", "--comment", "again", "--json")
    assert refused.exit_code == 1 and json.loads(refused.stdout)["code"] == "invalid_transition"
    moved = _invoke(app, "action", alert_id, "--user", "张", "--comment", "冻结", "--action", "freeze_line", "--json")
    assert json.loads(moved.stdout)["to"] == "actioned"
    closed = _invoke(app, "close", alert_id, "--user", "张", "--comment", "诉讼", "--outcome", "escalated", "--json")
    assert json.loads(closed.stdout)["to"] == "closed"
    shown = json.loads(_invoke(app, "show", alert_id, "--json").stdout)
    assert [s["to"] for s in shown["steps"]] == ["open", "acknowledged", "actioned", "closed"]
    assert shown["rule_title"]["zh-CN"].startswith("逾期超过90天")
    assert json.loads(_invoke(app, "list", "--status", "closed", "--json").stdout)[0]["outcome"] == "escalated"
    rules = json.loads(_invoke(app, "rules", "--as-of", "2026-03-20", "--json").stdout)
    assert {r["code"] for r in rules} == {r.code for r in load_rules().in_force(D("2026-03-20"))}


def test_the_previous_valuation_baseline_compares_each_revaluation_with_the_one_before(
    app: App, book: dict[str, int]
) -> None:
    _collateral(app, book["L1"], [("2025-12-01", 100_000_000), ("2026-02-01", 90_000_000), ("2026-03-19", 50_000_000)])
    _collateral(app, book["L2"], [("2025-12-01", 100_000_000), ("2026-02-01", 60_000_000), ("2026-03-19", 55_000_000)])
    row = {
        "kind": "collateral_drop",
        "severity": "high",
        "owner_role": "risk_manager",
        "effective": "2026-01-01",
        "title_zh": "x",
        "title_en": "x",
    }
    rules = ruleset_from_dict(
        {
            "rules": [
                {**row, "code": "vs_previous", "params": {"drop_pct": 30, "baseline": "previous"}},
                {**row, "code": "vs_first", "params": {"drop_pct": 30, "baseline": "first"}},
            ]
        }
    )
    evaluate_warnings(app, DAY, rules=rules)
    assert _only(app, "vs_previous") == {book["L1"]}
    assert _only(app, "vs_first") == {book["L1"], book["L2"]}
    evidence = json.loads(_alerts(app, "vs_previous")[0].evidence)
    assert (evidence["baseline_on"], evidence["baseline_fen"]) == ("2026-02-01", 90_000_000)

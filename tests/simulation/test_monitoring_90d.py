"""90 days of post-loan monitoring over a seeded demo book, checked by an independent auditor.

A 300-loan demo book (seed 11) is built as of 2026-08-01; then every business day: the reminder
dispatcher runs hour by hour over a fake channel with a controlled clock (every tenth day it is "down"
until 23:00, so that the day's reminders meet the quiet hours and wait for 08:00), officers record
the visits that fall due, borrowers who were current pay what falls due, the planted events happen,
and `app.run_cob` closes the day (the batch, then reminders, visits, scores, warnings, collections).
After each close the raw rows the auditor needs are observed.

Planted: a borrower who stops paying; a visit that finds fund misuse; a collateral revaluation −40 %
(and a −10 % control); an external lawsuit (and an "other" signal as control); a behaviour score
drop of 80 points (and a 20-point control). `monitoring_auditor.py` re-derives from the policy
files and the raw tables which reminders, visit plans and alerts should exist and reports every
difference; clean loans must have no alert at all.
"""

from __future__ import annotations

import json
import pickle
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, text
from tests.simulation.monitoring_auditor import (
    Observation,
    Observed,
    audit_reminders,
    audit_visit_plans,
    audit_warnings,
)

from daihou.batch.cob.runner import Refused as CobRefused
from daihou.bootstrap import App
from daihou.channels.ports import Message, Sent
from daihou.config import Settings
from daihou.domain.identity import id_check_char
from daihou.service import ledger
from daihou.storage.engine import make_engine

pytestmark = pytest.mark.slow  # about five minutes on two shared cores

SH = ZoneInfo("Asia/Shanghai")
START = date(2026, 8, 1)  # the demo book's as-of date
DAYS = 90
LOANS, SEED = 300, 11
OPEN = ("active", "overdue", "restructured")
PARTS = ("principal", "interest", "penalty", "compound")
STRANGER = "11010519491231002" + id_check_char("11010519491231002")  # a valid ID of nobody in the book
OUTSTANDING = " + ".join(f"({p}_due_fen - {p}_paid_fen - {p}_waived_fen)" for p in PARTS)


class SimClock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=SH)


class FakeChannel:
    """Delivers everything and remembers what it was given and when."""

    def __init__(self, clock: SimClock) -> None:
        self.clock = clock
        self.sent: list[tuple[int, datetime]] = []

    def send(self, message: Message) -> Sent:
        self.sent.append((message.reminder_id, self.clock.at))
        return Sent(f"fake-{message.reminder_id}", delivered=True)


def _rows(engine: Engine, sql: str, **params: Any) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(text(sql), params)]


def _observe(engine: Engine, day: date) -> Observation:
    loans = {r["id"]: r for r in _rows(engine, "SELECT * FROM loans")}
    installments = _rows(
        engine,
        "SELECT i.* FROM installments i JOIN loans l ON l.id = i.loan_id AND l.schedule_version = i.schedule_version "
        f"WHERE (i.due_date <= :hi AND ({OUTSTANDING.replace('(', '(i.')}) > 0) OR i.due_date BETWEEN :lo AND :hi",
        lo=day - timedelta(days=10),
        hi=day + timedelta(days=10),
    )
    return Observation(day, loans, installments)


@dataclass
class Planted:
    miss: int
    misuse: int
    collateral: int
    collateral_control: int
    lawsuit: int
    signal_control: int
    score: int
    score_control: int

    def loans(self) -> set[int]:
        return set(vars(self).values())


def _answers(policy: Any, kind: str, misuse: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for q in policy.questions:
        if not q.asked(kind) or not q.required:
            continue
        if q.kind.value == "yes_no":
            out[q.code] = True
        elif q.kind.value == "choice":
            out[q.code] = "diverted" if (q.code == "fund_usage" and misuse) else q.choices[0]
        elif q.kind.value == "amount":
            out[q.code] = 0
        else:
            out[q.code] = "正常"
    return out


def _visit(app: App, engine: Engine, loan_id: int, day: date, statement: Path, misuse: bool = False) -> Any:
    from daihou.workflow.visits import Attachment, load_policy, record_visit

    policy = load_policy()
    [loan] = _rows(engine, "SELECT loan_no FROM loans WHERE id = :i", i=loan_id)
    plan = _rows(
        engine, "SELECT kind FROM visit_plans WHERE loan_id = :i AND status IN ('planned', 'overdue')", i=loan_id
    )
    kind = plan[0]["kind"] if plan else "periodic"
    return record_visit(
        app,
        loan["loan_no"],
        visit_type="on_site",
        visited_on=day,
        officers=["王晓明", "李娜"],
        answers=_answers(policy, kind, misuse),
        recorded_by="王晓明",
        attachments=[Attachment("statement", statement)],
        day=day,
    )


def _pay_what_is_due(app: App, engine: Engine, payers: set[int], day: date) -> int:
    rows = _rows(
        engine,
        f"SELECT l.id, l.loan_no, SUM({OUTSTANDING.replace('(', '(i.')}) AS owed, "
        "(l.cost_due_fen - l.cost_paid_fen - l.cost_waived_fen + l.fee_due_fen - l.fee_paid_fen - l.fee_waived_fen) "
        "AS loan_level FROM loans l "
        "JOIN installments i ON i.loan_id = l.id AND i.schedule_version = l.schedule_version "
        "WHERE i.due_date <= :d AND l.status IN ('active', 'overdue', 'restructured') "
        "AND EXISTS (SELECT 1 FROM installments j WHERE j.loan_id = l.id AND j.schedule_version = l.schedule_version "
        "AND j.due_date = :d) GROUP BY l.id, l.loan_no, l.cost_due_fen, l.cost_paid_fen, l.cost_waived_fen, "
        "l.fee_due_fen, l.fee_paid_fen, l.fee_waived_fen",
        d=day,
    )
    paid = 0
    for r in rows:
        amount = int(r["owed"]) + int(r["loan_level"])
        if r["id"] in payers and amount > 0:
            outcome = ledger.post_payment(app.uow(), r["loan_no"], amount, day, f"sim-{r['loan_no']}-{day}")
            assert outcome.code == "accepted", outcome
            paid += 1
    return paid


def _plant(engine: Engine, payers: list[int]) -> Planted:
    """Distinct current loans with one loan per borrower and a personal product (the visit needs no statement)."""
    rows = _rows(
        engine,
        "SELECT l.id, l.borrower_id, p.code AS product, l.purpose, "
        "(SELECT MIN(i.due_date) FROM installments i "
        " WHERE i.loan_id = l.id AND i.schedule_version = l.schedule_version AND i.due_date > :s) AS next_due, "
        "(SELECT MAX(i.due_date) FROM installments i "
        " WHERE i.loan_id = l.id AND i.schedule_version = l.schedule_version) AS last_due, "
        "(SELECT COUNT(*) FROM loans o WHERE o.borrower_id = l.borrower_id) AS loans_of_borrower "
        "FROM loans l JOIN products p ON p.id = l.product_id ORDER BY l.id",
        s=START,
    )
    pool = [
        r
        for r in rows
        if r["id"] in set(payers)
        and r["loans_of_borrower"] == 1
        and r["product"] in ("STD", "CONSUMER")
        and r["next_due"] is not None
        and date.fromisoformat(str(r["last_due"])[:10]) > START + timedelta(days=DAYS + 30)  # open all along
    ]
    miss = next(r for r in pool if date.fromisoformat(str(r["next_due"])[:10]) <= START + timedelta(days=20))
    rest = [r["id"] for r in pool if r["id"] != miss["id"]]
    assert len(rest) >= 7, "the demo book has too few current personal loans to plant on"
    return Planted(miss["id"], *rest[:7])


def _setup_collateral(engine: Engine, planted: Planted) -> None:
    created = datetime(2026, 1, 10, tzinfo=UTC)
    with engine.begin() as conn:
        for loan_id in (planted.collateral, planted.collateral_control):
            cid = conn.execute(
                text(
                    "INSERT INTO collateral (loan_id, kind, description, custody_status, created_at) "
                    "VALUES (:l, 'real_estate', '住宅一套', 'registered', :c) RETURNING id"
                ),
                {"l": loan_id, "c": created},
            ).scalar_one()
            conn.execute(
                text("INSERT INTO collateral_valuations (collateral_id, valued_on, value_fen) VALUES (:c, :d, :v)"),
                {"c": cid, "d": START - timedelta(days=200), "v": 100_000_000},
            )


def _revalue(engine: Engine, loan_id: int, day: date, value_fen: int) -> None:
    with engine.begin() as conn:
        cid = conn.execute(text("SELECT id FROM collateral WHERE loan_id = :l"), {"l": loan_id}).scalar_one()
        conn.execute(
            text(
                "INSERT INTO collateral_valuations (collateral_id, valued_on, value_fen, method) "
                "VALUES (:c, :d, :v, 'appraisal')"
            ),
            {"c": cid, "d": day, "v": value_fen},
        )


def _scores(engine: Engine, loan_id: int, points: list[tuple[date, int]]) -> None:
    with engine.begin() as conn:
        for on, score in points:
            conn.execute(
                text(
                    "INSERT INTO loan_scores (loan_id, model, model_version, scored_on, score, pd_ppm) "
                    "VALUES (:l, 'bcard', 1, :d, :s, 20000)"
                ),
                {"l": loan_id, "d": on, "s": score},
            )


def _import_signals(app: App, engine: Engine, tmp: Path, planted: Planted, day: date) -> Any:
    from daihou.cli.tabular import read_table
    from daihou.workflow.warnings import build, file_digest

    number = {
        r["id"]: r["id_number"]
        for r in _rows(
            engine,
            "SELECT l.id, b.id_number FROM loans l JOIN borrowers b ON b.id = l.borrower_id WHERE l.id IN (:a, :b)",
            a=planted.lawsuit,
            b=planted.signal_control,
        )
    }
    path = tmp / "signals.csv"
    path.write_text(
        "证件号码,类型,来源,日期,详情\n"
        f"{number[planted.lawsuit]},涉诉,中国裁判文书网,{day - timedelta(days=3)},民间借贷纠纷 被告\n"
        f"{number[planted.signal_control]},其他,舆情监测,{day - timedelta(days=2)},媒体报道\n"
        f"{STRANGER},被执行,全国法院被执行人信息,2026-09-01,\n",
        encoding="utf-8",
    )
    table = read_table(path)
    return build(app).import_signals(table.rows, file_digest(path), day, False, table.row_numbers)


def test_ninety_days_of_monitoring_pass_the_independent_audit(tmp_path: Path) -> None:
    from daihou.workflow import reminders as reminder_workflow
    from daihou.workflow.warnings import build as build_warnings

    clock = SimClock(local(START, 12))
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'sim.db'}", data_dir=tmp_path / "data")
    app = App(settings, make_engine(settings.database_url), clock)
    app.initialise()
    app.build_demo(LOANS, SEED, START)
    engine = app.engine
    statement = tmp_path / "statement.pdf"
    statement.write_bytes(b"%PDF-1.4 financial statement\n")

    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO reminder_recipients (borrower_id, email, locale) "
                "SELECT id, 'b' || id || '@example.cn', 'zh-CN' FROM borrowers"
            )
        )
    channel = FakeChannel(clock)
    service = reminder_workflow.build(app, channels={c: channel for c in ("sms", "email", "inbox", "robot_call")})
    for template in service.policy.templates:
        assert service.activate(template.id, "sim").ok

    current = [
        r["id"] for r in _rows(engine, "SELECT id FROM loans WHERE dpd = 0 AND status IN ('active', 'restructured')")
    ]
    planted = _plant(engine, current)
    payers = set(current) - {planted.miss}
    _setup_collateral(engine, planted)

    observed = Observed(first_day=START + timedelta(days=1))
    warnings = build_warnings(app)
    misuse_visit = None
    signal_import = None
    for n in range(1, DAYS + 2):
        day = START + timedelta(days=n)
        outage = n % 10 == 5 and n <= DAYS
        for hour in [23] if outage else range(7, 24):
            clock.at = local(day, hour)
            service.dispatch(SimClock(clock.at))
        if n > DAYS:
            break
        clock.at = local(day, 10)
        # officers visit the loans whose plan is due (most of them: one in five is left to go overdue)
        for plan in _rows(
            engine,
            "SELECT loan_id FROM visit_plans WHERE status IN ('planned', 'overdue') AND due_on <= :d",
            d=day,
        ):
            if plan["loan_id"] % 5 and plan["loan_id"] not in (planted.misuse,):
                _visit(app, engine, plan["loan_id"], day, statement)
        if n == 20:
            misuse_visit = _visit(app, engine, planted.misuse, day, statement, misuse=True)
            assert misuse_visit.ok and misuse_visit.fund_misuse, misuse_visit
        if n == 30:
            _revalue(engine, planted.collateral, day, 60_000_000)  # −40 %
            _revalue(engine, planted.collateral_control, day, 90_000_000)  # −10 %
        if n == 40:
            _scores(engine, planted.score, [(day, 720)])
            _scores(engine, planted.score_control, [(day, 720)])
        if n == 45:
            _scores(engine, planted.score, [(day, 640)])  # −80 points
            _scores(engine, planted.score_control, [(day, 700)])  # −20 points
        if n == 50:
            signal_import = _import_signals(app, engine, tmp_path, planted, day)
        # the officer closes the missed loan's DPD 30 alert the day after it opened: it must not reopen
        for alert in warnings.alerts(status="open", loan_no=None):
            if alert.loan_id == planted.miss and alert.rule_code == "dpd_30":
                assert warnings.acknowledge(alert.id, "风险经理", "已约谈借款人").ok
                assert warnings.close(alert.id, "风险经理", "借款人承诺下月结清", "mitigated", day).ok
        _pay_what_is_due(app, engine, payers, day)
        clock.at = local(day, 20)
        [done] = app.run_cob([day], "duckdb")
        assert not isinstance(done, CobRefused), done
        observed.days.append(_observe(engine, day))

    with (tmp_path / "observed.pickle").open("wb") as out:  # to audit again offline: the db stays in tmp_path
        pickle.dump(observed, out)
    root = Path(str(resources.files("daihou.workflow")))
    last_day = START + timedelta(days=DAYS + 1)
    problems = (
        audit_reminders(engine, observed, root / "reminder_policy.toml", last_day)
        + audit_warnings(engine, observed, root / "warning_rules.toml")
        + audit_visit_plans(engine, observed, root / "visit_policy.toml")
    )

    # the planted cases fired, and nothing fired for the clean loans
    assert signal_import is not None and signal_import.report.committed, signal_import
    fired: dict[int, set[str]] = {}
    alerts = _rows(engine, "SELECT loan_id, rule_code, opened_on, status, evidence FROM alerts")
    for a in alerts:
        fired.setdefault(a["loan_id"], set()).add(a["rule_code"])
    clean = payers - planted.loans()
    controls = {planted.collateral_control, planted.signal_control, planted.score_control}
    outcome = {
        "signals matched, unmatched": (signal_import.matched_borrowers, signal_import.unmatched),
        "missed": {"first_missed_payment", "dpd_30", "dpd_60"} <= fired.get(planted.miss, set()),
        "misuse": fired.get(planted.misuse),
        "collateral": fired.get(planted.collateral),
        "lawsuit": fired.get(planted.lawsuit),
        "score": fired.get(planted.score),
        "clean loans": len(clean) > 100,
        "alerts on clean loans": {k: v for k, v in fired.items() if k in clean | controls},
        "dpd_30 alerts of the missed loan": Counter(a["rule_code"] for a in alerts if a["loan_id"] == planted.miss)[
            "dpd_30"
        ],
    }
    assert outcome == {
        "signals matched, unmatched": (2, 1),
        "missed": True,
        "misuse": {"fund_misuse"},
        "collateral": {"collateral_value_drop"},
        "lawsuit": {"external_negative"},
        "score": {"behaviour_score_drop"},
        "clean loans": True,
        "alerts on clean loans": {},
        "dpd_30 alerts of the missed loan": 1,
    }, "\n".join(problems[:40])
    evidence = [json.loads(a["evidence"]) for a in alerts if a["rule_code"] == "collateral_value_drop"]
    assert [(e["value_fen"], e["baseline_fen"]) for e in evidence] == [(60_000_000, 100_000_000)]

    # the dispatcher met the quiet hours on the outage days and sent everything once
    rescheduled = _rows(
        engine,
        "SELECT COUNT(*) AS n FROM reminder_attempts WHERE status = 'rescheduled' AND code = 'outside_contact_hours'",
    )[0]["n"]
    assert rescheduled > 0
    assert len(channel.sent) == len({rid for rid, _ in channel.sent}) > 200

    # and the independent audit of reminders, alerts and visit plans finds nothing
    assert problems == [], "\n".join(problems[:40])

"""Follow-up visits (贷款回访) against real stores (SQLite and PostgreSQL).

The simulation test books a small mixed book, runs the after-close planning every day for half a
year while loans turn overdue and recover, warnings tighten and relax the cadence, loans close and
officers record visits; after every step an auditor written here in plain Python (apart from
`daihou.domain.visits`) recomputes what each new plan's date and kind must be from the loan's
state and checks the invariants (one open plan per open loan, overdue exactly when past its date,
monthly while high risk).
"""

from __future__ import annotations

import hashlib
import json
import random
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import typer
from sqlalchemy import event, select, update
from typer.testing import CliRunner

from daihou.bootstrap import App
from daihou.cli.visit_cmd import visit_app
from daihou.domain.identity import id_check_char
from daihou.domain.parties import Borrower, PartyKind
from daihou.domain.visits import LoanFacts, Plan, PlanKind, next_plan
from daihou.service import ledger
from daihou.service.commands import BookLoan
from daihou.storage import tables as t
from daihou.storage import visit_tables as vt
from daihou.workflow import daily
from daihou.workflow.visits import (
    Attachment,
    NotRecorded,
    Recorded,
    load_policy,
    plan_visits,
    record_visit,
    relax_cadence,
    tighten_cadence,
)

D = date.fromisoformat
POLICY = load_policy()

PERIODIC: dict[str, Any] = {
    "business_condition": "normal",
    "fund_usage": "as_declared",
    "income_change": "stable",
    "other_debts": "none",
    "collateral_condition": "good",
    "willingness_to_pay": "willing",
}
FIRST: dict[str, Any] = {**PERIODIC, "funds_received": True, "purpose_confirmed": True}


@pytest.fixture(autouse=True)
def no_other_hooks(monkeypatch: pytest.MonkeyPatch) -> list[tuple[list[int], date, str]]:
    """Other workflows' event hooks are theirs to test: here a visit's event is only recorded."""
    calls: list[tuple[list[int], date, str]] = []
    monkeypatch.setattr(daily, "event_hooks", lambda: [lambda app, ids, day, kind: calls.append((ids, day, kind))])
    return calls


@pytest.fixture(autouse=True)
def data_dir(app: App, tmp_path: Path) -> Iterator[Path]:  # every test here uses the app
    """Attachments go under the test's own directory."""
    app.settings.data_dir = tmp_path / "var"
    yield app.settings.data_dir


def _borrower(app: App) -> None:
    body = "11010519800101001"
    with app.uow() as uow:
        uow.borrowers.add(Borrower("B0", PartyKind.INDIVIDUAL, "张三", body + id_check_char(body), "13900000000"))
        uow.commit()


def _book(app: App, loan_no: str, disbursed: date, product: str = "STD", officer: str = "wang", **kw: Any) -> int:
    cmd = BookLoan(loan_no, "B0", 1_200_000, Decimal("0.12"), 12, disbursed, product, officer=officer, **kw)
    assert ledger.book_loan(app.uow(), cmd).code == "accepted"
    with app.engine.connect() as conn:
        return int(conn.execute(select(t.loans.c.id).where(t.loans.c.loan_no == loan_no)).scalar_one())


def _plans(app: App, loan_id: int | None = None) -> list[dict[str, Any]]:
    q = select(vt.visit_plans).order_by(vt.visit_plans.c.id)
    if loan_id is not None:
        q = q.where(vt.visit_plans.c.loan_id == loan_id)
    with app.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]


def _open(app: App, loan_id: int) -> list[dict[str, Any]]:
    return [p for p in _plans(app, loan_id) if p["status"] in ("planned", "overdue")]


def _set_loan(app: App, loan_id: int, **values: Any) -> None:
    """What the close of business would write: dpd, classification, status."""
    with app.engine.begin() as conn:
        conn.execute(update(t.loans).where(t.loans.c.id == loan_id).values(**values))


@pytest.fixture
def statement(tmp_path: Path) -> Path:
    path = tmp_path / "2026Q1财务报表.pdf"
    path.write_bytes(b"%PDF-1.4 balance sheet " * 100)
    return path


def _visit(app: App, loan_no: str, on: date, answers: dict[str, Any] = FIRST, **kw: Any) -> Recorded | NotRecorded:
    args: dict[str, Any] = {
        "visit_type": "phone",
        "visited_on": on,
        "officers": ["wang"],
        "answers": answers,
        "recorded_by": "wang",
        "day": on,
        **kw,
    }
    return record_visit(app, loan_no, **args)


# ---------------------------------------------------------------- planning


def test_every_open_loan_gets_its_first_visit_fifteen_days_after_disbursement(app: App) -> None:
    _borrower(app)
    one = _book(app, "L1", D("2026-01-15"))
    two = _book(app, "L2", D("2026-01-20"))
    counts = plan_visits(app, D("2026-01-20"))
    assert counts["visits_planned"] == 2
    assert [(p["due_on"], p["kind"], p["status"]) for p in _plans(app, one)] == [(D("2026-01-30"), "first", "planned")]
    assert [(p["due_on"], p["officer"]) for p in _plans(app, two)] == [(D("2026-02-04"), "wang")]
    assert _plans(app)[0]["policy_version"] == "default@2026-01-01"


def test_planning_again_the_same_day_changes_nothing(app: App) -> None:
    _borrower(app)
    _book(app, "L1", D("2026-01-15"))
    plan_visits(app, D("2026-02-10"))
    before = _plans(app)
    assert plan_visits(app, D("2026-02-10")) == {
        "visits_planned": 0,
        "visits_tightened": 0,
        "visits_overdue": 0,
        "visits_cancelled": 0,
    }
    assert _plans(app) == before


def test_a_missed_visit_turns_overdue_the_day_after_its_date(app: App) -> None:
    _borrower(app)
    loan = _book(app, "L1", D("2026-01-15"))
    plan_visits(app, D("2026-01-16"))
    assert plan_visits(app, D("2026-01-30"))["visits_overdue"] == 0
    assert plan_visits(app, D("2026-01-31"))["visits_overdue"] == 1
    assert [p["status"] for p in _plans(app, loan)] == ["overdue"]
    assert plan_visits(app, D("2026-02-01"))["visits_planned"] == 0  # the overdue visit stays the open one


def test_a_closed_loans_open_plan_is_cancelled(app: App) -> None:
    _borrower(app)
    loan = _book(app, "L1", D("2026-01-15"))
    plan_visits(app, D("2026-01-16"))
    _set_loan(app, loan, status="paid_off")
    assert plan_visits(app, D("2026-01-17"))["visits_cancelled"] == 1
    assert [(p["status"], p["cancel_reason"]) for p in _plans(app, loan)] == [("cancelled", "loan_closed")]
    assert plan_visits(app, D("2026-01-18"))["visits_planned"] == 0


def test_an_overdue_loans_quarterly_visit_is_replanned_monthly(app: App) -> None:
    _borrower(app)
    loan = _book(app, "L1", D("2026-01-15"))
    plan_visits(app, D("2026-01-16"))
    assert isinstance(_visit(app, "L1", D("2026-02-03")), Recorded)
    assert [(p["due_on"], p["kind"]) for p in _open(app, loan)] == [(D("2026-04-10"), "periodic")]
    _set_loan(app, loan, dpd=3, classification="special_mention")
    assert plan_visits(app, D("2026-02-18"))["visits_tightened"] == 1
    # 30 days after 3 Feb is 5 March; the latest due date whose visit day (−5) lies inside is 15 Feb → 10 Feb,
    # already past: the visit is due on the planning day
    assert [(p["due_on"], p["kind"]) for p in _open(app, loan)] == [(D("2026-02-18"), "high_risk")]


def test_a_policy_with_a_higher_dpd_threshold_tightens_only_past_it(app: App) -> None:
    from daihou.domain.visits import policy_from_dict

    raw = tomllib.loads(resources.files("daihou.workflow").joinpath("visit_policy.toml").read_text(encoding="utf-8"))
    raw["cadence"]["high_risk_dpd_over"] = 30
    policy = policy_from_dict(raw)
    _borrower(app)
    mild = _book(app, "L1", D("2026-01-15"))
    bad = _book(app, "L2", D("2026-01-15"))
    plan_visits(app, D("2026-01-16"), policy)
    _visit(app, "L1", D("2026-02-03"), policy=policy)
    _visit(app, "L2", D("2026-02-03"), policy=policy)
    _set_loan(app, mild, dpd=10)
    _set_loan(app, bad, dpd=40)
    assert plan_visits(app, D("2026-02-18"), policy)["visits_tightened"] == 1
    assert [p["kind"] for p in _open(app, mild)] == ["periodic"]
    assert [p["kind"] for p in _open(app, bad)] == ["high_risk"]


def test_planning_runs_the_same_statements_for_a_big_and_a_small_book(app: App) -> None:
    """Set-based: the number of SQL statements does not grow with the number of loans."""
    _borrower(app)
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    for k in range(2):
        _book(app, f"S{k}", D("2026-01-15"))
    event.listen(app.engine, "before_cursor_execute", count)
    try:
        plan_visits(app, D("2026-01-16"))
        small = len(statements)
        for k in range(2, 14):
            _book(app, f"S{k}", D("2026-01-15"), product="SME_REVOLVE" if k % 2 else "STD")
        statements.clear()
        counts = plan_visits(app, D("2026-01-17"))
    finally:
        event.remove(app.engine, "before_cursor_execute", count)
    assert counts["visits_planned"] == 12
    assert len(statements) == small


# ---------------------------------------------------------------- cadence overrides


def test_a_warning_tightens_the_cadence_once_per_reason_and_relaxing_restores_it(app: App) -> None:
    _borrower(app)
    loan = _book(app, "L1", D("2026-01-15"))
    other = _book(app, "L2", D("2026-01-15"))
    plan_visits(app, D("2026-01-16"))
    _visit(app, "L1", D("2026-02-03"))
    assert tighten_cadence(app, [loan, other], "warning 7", "risk", D("2026-02-05")) == 2
    assert tighten_cadence(app, [loan], "warning 7", "risk", D("2026-02-06")) == 0
    assert tighten_cadence(app, [loan], "warning 9", "risk", D("2026-02-06")) == 1
    assert [(p["due_on"], p["kind"]) for p in _open(app, loan)] == [(D("2026-02-10"), "high_risk")]
    assert [p["kind"] for p in _open(app, other)] == ["first"]  # a first visit is sooner than monthly anyway

    assert relax_cadence(app, [loan], "warning 7", "risk", D("2026-02-07")) == 1
    assert [p["kind"] for p in _open(app, loan)] == ["high_risk"]  # warning 9 is still open
    assert relax_cadence(app, [loan], "warning 9", "risk", D("2026-02-07")) == 1
    assert [(p["due_on"], p["kind"]) for p in _open(app, loan)] == [(D("2026-04-10"), "periodic")]
    assert relax_cadence(app, [loan], "warning 9", "risk", D("2026-02-07")) == 0


# ---------------------------------------------------------------- records


def test_a_visit_completes_its_plan_plans_the_next_and_tells_the_other_workflows(
    app: App, no_other_hooks: list[tuple[list[int], date, str]]
) -> None:
    _borrower(app)
    loan = _book(app, "L1", D("2026-01-15"))
    plan_visits(app, D("2026-01-16"))
    answers = {**FIRST, "fund_usage": "diverted"}
    done = _visit(app, "L1", D("2026-01-28"), answers, findings="资金转入股票账户", follow_up="要求提前还款")
    assert isinstance(done, Recorded)
    assert done.fund_misuse and done.risk_flags == ("fund_misuse",)
    plans = _plans(app, loan)
    assert [(p["status"], p["done_on"], p["record_id"]) for p in plans[:1]] == [
        ("done", D("2026-01-28"), done.visit_id)
    ]
    assert done.next_plan is not None and done.next_plan.kind == "periodic"
    assert no_other_hooks == [([loan], D("2026-01-28"), "visit")]
    with app.engine.connect() as conn:
        row = conn.execute(select(vt.visit_records)).one()._mapping
    assert row["fund_misuse"] is True and row["risk_flags"] == "fund_misuse"
    assert json.loads(row["answers"])["fund_usage"] == "diverted"


def test_record_validation_errors_name_the_field(app: App, tmp_path: Path) -> None:
    _borrower(app)
    _book(app, "L1", D("2026-01-15"))
    _book(app, "B1", D("2026-01-15"), product="SME_REVOLVE")
    plan_visits(app, D("2026-01-16"))

    def fields(result: Recorded | NotRecorded) -> dict[str, str]:
        assert isinstance(result, NotRecorded)
        return {p.field: p.code for p in result.problems}

    assert fields(_visit(app, "L1", D("2026-01-20"), officers=[])) == {"officers": "missing_officer"}
    assert fields(_visit(app, "L1", D("2026-01-21"), day=D("2026-01-20"))) == {"visited_on": "future_date"}
    no_funds = {k: v for k, v in FIRST.items() if k != "funds_received"}
    assert fields(_visit(app, "L1", D("2026-01-20"), no_funds)) == {"answers.funds_received": "answer_missing"}
    assert fields(_visit(app, "NOPE", D("2026-01-20"))) == {"loan_no": "loan_not_found"}
    missing = [Attachment("photo", tmp_path / "absent.jpg")]
    assert fields(_visit(app, "L1", D("2026-01-20"), attachments=missing)) == {"attachments[0].path": "file_not_found"}
    photo = tmp_path / "门店.jpg"
    photo.write_bytes(b"\xff\xd8 shop front")
    on_site = _visit(app, "B1", D("2026-01-20"), visit_type="on_site", attachments=[Attachment("photo", photo)])
    assert fields(on_site) == {"attachments": "statement_required"}
    assert all(p["status"] == "planned" for p in _plans(app))  # nothing was stored
    with app.engine.connect() as conn:
        assert conn.execute(select(vt.visit_records)).first() is None


def test_attachments_are_stored_once_under_their_sha256(app: App, statement: Path) -> None:
    _borrower(app)
    loan = _book(app, "B1", D("2026-01-15"), product="SME_REVOLVE", purpose="门店经营")
    plan_visits(app, D("2026-01-16"))
    files = [Attachment("statement", statement), Attachment("signed_confirmation", statement)]
    first = _visit(app, "B1", D("2026-01-25"), visit_type="on_site", officers=["wang", "li"], attachments=files)
    assert isinstance(first, Recorded)
    sha = hashlib.sha256(statement.read_bytes()).hexdigest()
    assert first.attachments == (sha, sha)
    stored = app.settings.data_dir / "attachments" / sha
    assert stored.read_bytes() == statement.read_bytes()
    assert [p.name for p in (app.settings.data_dir / "attachments").iterdir()] == [sha]
    with app.engine.connect() as conn:
        rows = [
            dict(r._mapping) for r in conn.execute(select(vt.visit_attachments).order_by(vt.visit_attachments.c.id))
        ]
        officers = conn.execute(select(vt.visit_records.c.officers)).scalar_one()
    assert [(r["kind"], r["file_name"], r["size_bytes"], r["stored_path"]) for r in rows] == [
        ("statement", statement.name, statement.stat().st_size, f"attachments/{sha}"),
        ("signed_confirmation", statement.name, statement.stat().st_size, f"attachments/{sha}"),
    ]
    assert officers == "wang,li"
    assert [p["kind"] for p in _open(app, loan)] == ["business_onsite"]


# ---------------------------------------------------------------- completion report


def test_the_completion_report_counts_on_time_late_overdue_and_open_visits(app: App) -> None:
    from daihou.workflow.visits import build

    _borrower(app)
    _book(app, "A1", D("2026-01-15"), officer="wang")
    _book(app, "A2", D("2026-01-15"), officer="wang")
    _book(app, "A3", D("2026-01-15"), officer="li")
    _book(app, "A4", D("2026-02-20"), officer="li")
    plan_visits(app, D("2026-01-16"))
    _visit(app, "A1", D("2026-01-29"))  # due 30 Jan: on time
    _visit(app, "A2", D("2026-02-02"))  # late
    plan_visits(app, D("2026-02-20"))  # A3 overdue; A4 planned for 7 March
    report = build(app).report(D("2026-01-01"), D("2026-04-30"), D("2026-02-20"))
    by_officer = {r["officer"]: r for r in report.totals("officer")}
    assert {k: by_officer["wang"][k] for k in ("planned", "done_on_time", "done_late", "overdue", "open")} == {
        "planned": 4,  # the two first visits and their two next (periodic) plans
        "done_on_time": 1,
        "done_late": 1,
        "overdue": 0,
        "open": 2,
    }
    assert by_officer["li"]["overdue"] == 1 and by_officer["li"]["open"] == 1
    (total,) = report.totals()
    assert (total["planned"], total["completion_rate"], total["on_time_rate"]) == (6, "33.3", "16.7")
    first = {r["kind"]: r for r in report.totals("kind")}["first"]
    assert (first["planned"], first["done_on_time"], first["done_late"], first["overdue"]) == (4, 1, 1, 1)


# ---------------------------------------------------------------- the command line


def test_the_visit_commands_record_list_and_report(app: App, tmp_path: Path, statement: Path) -> None:
    _borrower(app)
    _book(app, "L1", D("2026-01-15"), officer="wang")
    _book(app, "B1", D("2026-01-15"), product="BRIDGE", officer="li")
    root = typer.Typer()

    @root.callback()
    def main(ctx: typer.Context) -> None:
        ctx.obj = app

    root.add_typer(visit_app, name="visit")
    run = CliRunner().invoke
    assert run(root, ["visit", "generate", "--date", "2026-01-16", "--json"]).exit_code == 0
    due = json.loads(run(root, ["visit", "due", "--officer", "wang", "--as-of", "2026-01-25", "--json"]).stdout)
    assert [(v["loan_no"], v["due_on"], v["kind"], v["overdue"]) for v in due["visits"]] == [
        ("L1", "2026-01-30", "first", False)
    ]
    late = json.loads(run(root, ["visit", "due", "--as-of", "2026-02-02", "--overdue", "--json"]).stdout)
    assert {(v["loan_no"], v["days_overdue"]) for v in late["visits"]} == {("L1", 3), ("B1", 3)}

    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({**FIRST, "willingness_to_pay": "unwilling"}), encoding="utf-8")
    bad = run(
        root,
        ["visit", "record", "L1", "--type", "phone", "--on", "2026-01-28", "--officer", " ", "--answers", str(answers)],
    )
    assert bad.exit_code == 1 and "officers" in bad.output
    ok = run(
        root,
        ["visit", "record", "L1", "--type", "video", "--on", "2026-01-28", "--officer", "wang",
         "--answers", str(answers), "--flag", "fund_misuse", "--finding", "称资金用于炒股", "--json"],
    )  # fmt: skip
    assert ok.exit_code == 0, ok.output
    recorded = json.loads(ok.stdout)
    assert recorded["risk_flags"] == ["fund_misuse", "unwilling_to_pay"] and recorded["fund_misuse"] is True
    toml_answers = tmp_path / "answers.toml"
    toml_answers.write_text("\n".join(f"{k} = {json.dumps(v)}" for k, v in FIRST.items()), encoding="utf-8")
    onsite = run(
        root,
        ["visit", "record", "B1", "--type", "on_site", "--on", "2026-02-01", "--officer", "li", "--officer", "zhao",
         "--answers", str(toml_answers), "--attach", f"statement={statement}", "--json"],
    )  # fmt: skip
    assert onsite.exit_code == 0, onsite.output
    shown = json.loads(run(root, ["visit", "plan", "L1", "--json"]).stdout)
    assert [p["status"] for p in shown["plans"]] == ["done", "planned"]
    assert shown["records"][0]["findings"] == "称资金用于炒股"
    report = run(
        root, ["visit", "report", "--from", "2026-01-01", "--to", "2026-01-31", "--as-of", "2026-02-02", "--json"]
    )
    assert report.exit_code == 0, report.output
    data = json.loads(report.stdout)
    assert (data["total"]["planned"], data["total"]["done_on_time"], data["total"]["done_late"]) == (2, 1, 1)
    assert "回访完成率" in run(root, ["visit", "report", "--to", "2026-01-31"]).stdout


# ---------------------------------------------------------------- the simulation and its auditor


@dataclass
class LoanState:
    id: int
    no: str
    disbursed: date
    dues: list[date]
    business: bool
    last_visit: date | None = None
    dpd: int = 0
    overrides: set[str] = field(default_factory=set)
    closed: bool = False

    @property
    def risky(self) -> bool:
        return self.dpd > 0 or bool(self.overrides)


def expected_plan(loan: LoanState, day: date) -> tuple[date, str]:
    """The auditor's own reading of the policy (15 days; 90 days in year one, 180 after; 30 when
    high risk; moved back to 5 days before the latest due date in the interval; never before today)."""
    if loan.last_visit is None:
        return max(loan.disbursed + timedelta(days=15), day), "first"
    age = (loan.last_visit - loan.disbursed).days
    cadence = 30 if loan.risky else 90 if age < 365 else 180
    end = loan.last_visit + timedelta(days=cadence)
    visit_days = [d - timedelta(days=5) for d in loan.dues if loan.last_visit < d - timedelta(days=5) <= end]
    kind = "high_risk" if loan.risky else "business_onsite" if loan.business else "periodic"
    return max(max(visit_days, default=end), day), kind


class Auditor:
    def __init__(self, app: App, loans: dict[int, LoanState]) -> None:
        self.app, self.loans, self.seen = app, loans, 0
        self.checked = 0

    def new_plans(self, day: date) -> None:
        """Every plan created since the last look has the date and kind the policy gives."""
        for p in _plans(self.app):
            if p["id"] <= self.seen:
                continue
            self.seen = p["id"]
            loan = self.loans[p["loan_id"]]
            assert (p["due_on"], p["kind"]) == expected_plan(loan, day), (loan, day, p)
            facts = LoanFacts(loan.disbursed, loan.last_visit, tuple(loan.dues), loan.business, loan.risky)
            assert next_plan(POLICY, facts, day) == Plan(p["due_on"], PlanKind(p["kind"])), "SQL = the domain reference"
            self.checked += 1

    def invariants(self, day: date) -> None:
        plans = _plans(self.app)
        for loan in self.loans.values():
            open_ = [p for p in plans if p["loan_id"] == loan.id and p["status"] in ("planned", "overdue")]
            if loan.closed or loan.disbursed > day:
                assert open_ == [], "no plan for a closed loan or before disbursement"
                continue
            assert len(open_) == 1, (loan, open_)
            (plan,) = open_
            assert (plan["status"] == "overdue") == (plan["due_on"] < day), (day, plan)
            if loan.risky and plan["kind"] not in ("first", "high_risk"):
                anchor = loan.last_visit or loan.disbursed
                assert plan["due_on"] <= max(anchor + timedelta(days=30), day), "monthly while high risk"


def test_half_a_year_of_planning_keeps_every_loans_plan_on_policy(app: App, statement: Path) -> None:
    rng = random.Random(20261122)
    _borrower(app)
    loans: dict[int, LoanState] = {}
    for k in range(24):
        product = ("STD", "SME_REVOLVE", "BRIDGE", "CONSUMER")[k % 4]
        disbursed = D("2025-01-10") + timedelta(days=rng.randrange(0, 480))
        purpose = "经营周转" if k % 7 == 0 else "装修"
        loan_id = _book(app, f"L{k:02d}", disbursed, product, officer=("wang", "li", "zhao")[k % 3], purpose=purpose)
        with app.engine.connect() as conn:
            i = t.installments
            dues = list(conn.execute(select(i.c.due_date).where(i.c.loan_id == loan_id)).scalars())
        business = product in ("SME_REVOLVE", "BRIDGE") or k % 7 == 0
        loans[loan_id] = LoanState(loan_id, f"L{k:02d}", disbursed, dues, business)
    auditor = Auditor(app, loans)
    statuses: set[str] = set()
    day = D("2026-01-01")
    while day <= D("2026-06-30"):
        for loan in loans.values():
            if loan.closed or loan.disbursed > day:
                continue
            roll = rng.random()
            if roll < 0.01:
                loan.closed = True
                _set_loan(app, loan.id, status="paid_off")
            elif roll < 0.03:
                loan.dpd = rng.randrange(1, 60)
                _set_loan(app, loan.id, status="overdue", dpd=loan.dpd, classification="special_mention")
            elif roll < 0.06 and loan.dpd:
                loan.dpd = 0
                _set_loan(app, loan.id, status="active", dpd=0, classification="normal")
            elif roll < 0.07:
                reason = f"warning {rng.randrange(3)}"
                if reason not in loan.overrides:
                    assert tighten_cadence(app, [loan.id], reason, "risk", day) == 1
                    loan.overrides.add(reason)
                    auditor.new_plans(day)
            elif roll < 0.09 and loan.overrides:
                reason = rng.choice(sorted(loan.overrides))
                loan.overrides.discard(reason)
                assert relax_cadence(app, [loan.id], reason, "risk", day) == 1
                auditor.new_plans(day)
        plan_visits(app, day)
        auditor.new_plans(day)
        auditor.invariants(day)
        statuses |= {p["status"] for p in _plans(app)}
        open_plans = {p["loan_id"]: p for p in _plans(app) if p["status"] in ("planned", "overdue")}
        for loan in loans.values():
            plan = open_plans.get(loan.id)
            if plan is None or plan["due_on"] > day + timedelta(days=3) or rng.random() < 0.6:
                continue
            kind = plan["kind"]
            on_site = kind == "business_onsite" or (loan.business and rng.random() < 0.5)
            done = _visit(
                app,
                loan.no,
                day,
                FIRST if kind == "first" else PERIODIC,
                visit_type="on_site" if on_site else rng.choice(["phone", "video"]),
                attachments=[Attachment("statement", statement)] if on_site else [],
            )
            assert isinstance(done, Recorded), done
            loan.last_visit = day
            auditor.new_plans(day)
        day += timedelta(days=1)
    assert auditor.checked > 100
    kinds = {p["kind"] for p in _plans(app)}
    assert kinds == {"first", "periodic", "high_risk", "business_onsite"}
    assert statuses == {"planned", "done", "overdue", "cancelled"}

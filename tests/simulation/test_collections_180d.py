"""A seeded 180 days of collections on a demo book, audited by `collections_auditor` (written apart).

A demo book of a few hundred loans is closed day by day with `app.run_cob`. Borrowers pay by a
seeded behaviour (on time, late, only after a promise, never), through the ledger and the payment
event hook. A simulated team works each day's work list through the guarded `log_contact` and
`make_promise`, and deliberately tries violations: calls at 23:00 and 07:00, a fifth conversation
with one debtor, eight dials of one number, a contact person while the debtor is reachable, notes
with banned language. Afterwards the auditor re-derives every rule from the raw tables and the TOML:
no violation may be found, every kind of attempt must have been refused and logged, cases must have
opened and closed with the loans, and the champion/challenger arms must be the seeded draw.
"""

from __future__ import annotations

import os
import random
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text
from tests.simulation import collections_auditor

from daihou.bootstrap import App
from daihou.config import Settings
from daihou.domain.compliance import Refused
from daihou.service import ledger
from daihou.storage.engine import make_engine
from daihou.workflow import collections as wc
from daihou.workflow import daily

SH = ZoneInfo("Asia/Shanghai")
SEED = 20261122
LOANS = 300
DAYS = int(os.environ.get("DAIHOU_SIM_DAYS", "180"))  # shorten only to debug
START = date(2026, 3, 1)

pytestmark = pytest.mark.slow


class Clock:
    def __init__(self) -> None:
        self.at = datetime.combine(START, time(20), tzinfo=SH)

    def now(self) -> datetime:
        return self.at


class World:
    """The borrowers' side: who pays when, and the payments due on each day."""

    def __init__(self, app: App, rng: random.Random) -> None:
        self.app, self.rng = app, rng
        self.kind: dict[int, str] = {}
        self.planned: dict[date, list[tuple[int, int]]] = defaultdict(list)  # day -> (loan_id, amount)
        self.refs = 0

    def behaviour(self, loan_id: int) -> str:
        if loan_id not in self.kind:
            self.kind[loan_id] = self.rng.choices(
                ["on_time", "late", "after_promise", "never"], weights=[70, 14, 11, 5]
            )[0]
        return self.kind[loan_id]

    def owed(self, loan_ids: list[int], day: date) -> dict[int, tuple[str, int]]:
        """Each loan's number and everything due through `day` still unpaid (plain SQL)."""
        if not loan_ids:
            return {}
        parts = " + ".join(f"(i.{c}_due_fen - i.{c}_paid_fen - i.{c}_waived_fen)" for c in
                           ("principal", "interest", "penalty", "compound"))  # fmt: skip
        sql = text(
            f"SELECT l.id, l.loan_no, SUM({parts}) - MAX(l.credit_fen) FROM installments i JOIN loans l "
            "ON l.id = i.loan_id AND l.schedule_version = i.schedule_version "
            f"WHERE i.due_date <= :day AND l.id IN ({','.join(str(x) for x in loan_ids)}) GROUP BY l.id, l.loan_no"
        )
        with self.app.engine.connect() as conn:
            return {int(r[0]): (r[1], int(r[2])) for r in conn.execute(sql, {"day": day})}

    def due_today(self, day: date) -> list[int]:
        sql = text(
            "SELECT DISTINCT l.id FROM installments i JOIN loans l ON l.id = i.loan_id "
            "AND l.schedule_version = i.schedule_version WHERE i.due_date = :day "
            "AND l.status IN ('active', 'overdue', 'restructured')"
        )
        with self.app.engine.connect() as conn:
            return [int(r[0]) for r in conn.execute(sql, {"day": day})]

    def plan_payments(self, day: date) -> None:
        for loan_id in self.due_today(day):
            kind = self.behaviour(loan_id)
            if kind == "on_time":
                self.planned[day].append((loan_id, 0))  # 0: whatever is owed that day
            elif kind == "late":
                self.planned[day + timedelta(days=self.rng.randint(3, 45))].append((loan_id, 0))

    def promised(self, loan_id: int, due_on: date, amount: int) -> None:
        kind = self.behaviour(loan_id)
        keep = {"on_time": 0.9, "late": 0.6, "after_promise": 0.7, "never": 0.05}[kind]
        r = self.rng.random()
        if r < keep:
            self.planned[due_on - timedelta(days=self.rng.randint(0, 2))].append((loan_id, amount))
        elif r < keep + 0.1:
            self.planned[due_on].append((loan_id, max(amount // 3, 1)))

    def pay(self, day: date) -> list[int]:
        todo = self.planned.pop(day, [])
        owed = self.owed(sorted({loan for loan, _ in todo}), day)
        paid = []
        for loan_id, amount in todo:
            loan_no, due = owed.get(loan_id, ("", 0))
            amount = amount or due
            if not loan_no or amount <= 0:
                continue
            self.refs += 1
            if ledger.post_payment(self.app.uow(), loan_no, amount, day, f"SIM-{self.refs}").code == "accepted":
                paid.append(loan_id)
        return paid


class Team:
    """Collectors working the day's list, with a seeded habit of trying what is not allowed."""

    def __init__(self, app: App, world: World, rng: random.Random) -> None:
        self.app, self.world, self.rng = app, world, rng
        self.tried: Counter[str] = Counter()
        self.results: Counter[str] = Counter()

    def contacts_of(self, case_ids: list[int]) -> dict[int, list[str]]:
        if not case_ids:
            return {}
        sql = text(
            "SELECT c.id, bc.mobile FROM collection_cases c JOIN loans l ON l.id = c.loan_id "
            "JOIN borrower_contacts bc ON bc.borrower_id = l.borrower_id "
            f"WHERE c.id IN ({','.join(str(x) for x in case_ids)})"
        )
        out: dict[int, list[str]] = defaultdict(list)
        with self.app.engine.connect() as conn:
            for cid, mobile in conn.execute(sql):
                out[int(cid)].append(mobile)
        return out

    def log(self, item: dict[str, Any], at: datetime, outcome: str, **kw: Any) -> Any:
        contact = wc.ContactInput(
            item["case_id"], kw.pop("channel", item["channel"]), kw.pop("party", "debtor"), at, outcome,
            item["collector"], kw.pop("number", item["number"]), at + timedelta(minutes=3), **kw,
        )  # fmt: skip
        self.app.clock.at = at  # type: ignore[attr-defined]
        done = wc.log_contact(self.app, contact)
        self.results[done.code.value if isinstance(done, Refused) else ("logged" if done.ok else done.code)] += 1
        return done

    def outcome(self, loan_id: int) -> str:
        kind = self.world.behaviour(loan_id)
        answer = {"on_time": 0.6, "late": 0.45, "after_promise": 0.5, "never": 0.2}[kind]
        if self.rng.random() > answer:
            return self.rng.choice(["no_answer", "no_answer", "busy", "wrong_number"])
        return self.rng.choices(
            ["connected", "promise_to_pay", "refused", "hardship", "dispute"], weights=[30, 45, 15, 9, 1]
        )[0]

    def work(self, day: date) -> None:
        items = wc.worklist(self.app, day)
        contacts = self.contacts_of([i["case_id"] for i in items])
        loan_of = self.loan_ids([i["case_id"] for i in items])
        for n, item in enumerate(items):
            at = datetime.combine(day, time(8, 30), tzinfo=SH) + timedelta(
                minutes=7 * (n % 100) + self.rng.randint(0, 5)
            )
            r = self.rng.random()
            if r < 0.05:
                self.tried["quiet_hours"] += 1
                self.log(item, datetime.combine(day, time(self.rng.choice([23, 22, 7])), tzinfo=SH), "no_answer")
            elif r < 0.10:
                self.tried["voice_cap"] += 1
                for k in range(5):
                    self.log(item, at + timedelta(minutes=10 * k), "connected")
                continue
            elif r < 0.14:
                self.tried["dial_cap"] += 1
                for k in range(8):
                    self.log(item, at + timedelta(minutes=4 * k), "no_answer")
                continue
            elif r < 0.22 and contacts.get(item["case_id"]):
                self.tried["contact_person"] += 1
                self.log(item, at, "connected", party="contact_person", number=contacts[item["case_id"]][0])
            elif r < 0.23:
                self.tried["banned_language"] += 1
                self.log(item, at, "refused", notes="再不还钱就让你坐牢")
            outcome = self.outcome(loan_of[item["case_id"]])
            done = self.log(item, at + timedelta(minutes=30), outcome, recording_ref=f"rec/{day}/{item['id']}")
            if outcome == "promise_to_pay" and getattr(done, "ok", False):
                due_on = day + timedelta(days=self.rng.randint(1, 6))
                amount = item["amount_fen"]
                if self.rng.random() < 0.03:
                    self.tried["amount_above_cap"] += 1
                    amount = amount * 100  # far above what may be collected
                made = wc.make_promise(
                    self.app, item["case_id"], [(due_on, amount)], day, item["collector"], done.contact_id
                )
                if isinstance(made, wc.Promised):
                    self.world.promised(loan_of[item["case_id"]], due_on, amount)
                else:
                    self.results[getattr(made, "code", "x")] += 1

    def loan_ids(self, case_ids: list[int]) -> dict[int, int]:
        if not case_ids:
            return {}
        sql = text(f"SELECT id, loan_id FROM collection_cases WHERE id IN ({','.join(str(x) for x in case_ids)})")
        with self.app.engine.connect() as conn:
            return {int(a): int(b) for a, b in conn.execute(sql)}


@pytest.fixture
def sim(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[App]:
    """Only the collections step and hook run after each close and event (the others are tested on
    their own; this keeps the 180 days to a few minutes)."""
    monkeypatch.setattr(daily, "steps", lambda: [daily.work_collections])
    monkeypatch.setattr(daily, "event_hooks", lambda: [wc.on_payment])
    url = f"sqlite:///{tmp_path / 'sim.db'}"
    app = App(Settings(database_url=url, data_dir=tmp_path / "data"), make_engine(url), Clock())
    app.initialise()
    app.build_demo(LOANS, SEED, START)
    for code, team, stages, capacity in [
        ("zhang", "early", "pre_due,m1_early", 25),
        ("li", "early", "pre_due,m1_early,m2_m3_middle", 25),
        ("wang", "middle", "m2_m3_middle,m4_plus_late", 20),
        ("zhao", "late", "m4_plus_late,legal", 15),
    ]:
        wc.add_collector(app, code, code, team, stages.split(","), capacity)
    wc.add_collector(app, "lead", "lead", "early", ["m1_early"], 0, role="team_lead")
    yield app


def _run(app: App, seed: int) -> tuple[World, Team, dict[str, int]]:
    rng = random.Random(seed)
    world = World(app, rng)
    team = Team(app, world, rng)
    totals: Counter[str] = Counter()
    for day in (START + timedelta(days=k) for k in range(1, DAYS + 1)):
        world.plan_payments(day)
        team.work(day)
        paid = world.pay(day)
        if paid:
            daily.on_loan_event(app, paid, day, "payment")
        app.clock.at = datetime.combine(day, time(20), tzinfo=SH)  # type: ignore[attr-defined]
        [done] = app.run_cob([day], "duckdb")
        totals.update({k: v for k, v in done.counts.items() if k.startswith(("cases_", "promises_", "worklist"))})  # type: ignore[union-attr]
    return world, team, dict(totals)


def test_180_days_of_collections_keep_every_guardrail_and_follow_the_loans(sim: App) -> None:
    _world, team, totals = _run(sim, SEED)
    report = collections_auditor.audit(sim.engine)
    print("\ntried", dict(team.tried), "\nresults", dict(team.results), "\ntotals", totals, "\nfacts", report.facts)
    assert dict(report.violations) == {}, {k: v[:5] for k, v in report.violations.items()}
    # every kind of violation was tried, and each was refused with its code and logged
    with sim.engine.connect() as conn:
        refused = Counter(r[0] for r in conn.execute(text("SELECT code FROM collection_refusals")))
    for code in ("outside_contact_hours", "voice_cap_reached", "dial_cap_reached", "debtor_reachable",
                 "banned_language", "amount_above_cap"):  # fmt: skip
        assert refused[code] > 0, (code, refused)
    assert report.facts["max_connected_per_debtor_day"] == 3 and report.facts["max_dials_per_number_day"] == 6
    assert report.contacts > 1000 and report.facts["contact_person_contacts"] > 0  # some debtors became unreachable
    # cases opened and closed with the loans
    closed = report.facts["closed_by_reason"]
    assert totals["cases_opened"] > 50 and closed.get("cured", 0) > 10 and closed.get("paid_off", 0) >= 1, closed
    assert totals["promises_broken"] > 0
    with sim.engine.connect() as conn:
        statuses = Counter(r[0] for r in conn.execute(text("SELECT status FROM promises")))
    assert statuses["kept"] > 0 and statuses["broken"] > 0, statuses
    report_rows = wc.champion_challenger_report(sim)
    assert {r.arm for r in report_rows} == {"champion", "challenger"}
    assert all(0 <= r.recovery <= 2 for r in report_rows)


def test_the_arms_do_not_depend_on_the_order_cases_are_seen(sim: App) -> None:
    """The arm is a function of (seed, case id) only: opening the same loans in another order, on
    another day, gives each case id the same arm."""
    sim.run_cob([START + timedelta(days=1)], "duckdb")
    with sim.engine.connect() as conn:
        first = dict(conn.execute(select(text("id"), text("strategy_arm")).select_from(text("collection_cases"))).all())
    assert first
    seed = collections_auditor.strategy()["seed"]
    for cid, arm in first.items():
        share = collections_auditor._share(collections_auditor.strategy(), _segment(sim, cid))[0]
        assert arm == ("challenger" if collections_auditor.draw(seed, cid) < share else "champion")


def _segment(app: App, case_id: int) -> str:
    with app.engine.connect() as conn:
        return str(
            conn.execute(text("SELECT segment FROM collection_cases WHERE id = :i"), {"i": case_id}).scalar_one()
        )

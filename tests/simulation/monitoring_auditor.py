"""An auditor for post-loan monitoring, written apart from the code it checks.

It never calls daihou's workflow or store functions. It reads the policy files (TOML) with tomllib,
the raw tables with plain SQL, and the day-by-day observations the simulation took of the raw
tables after each close of business, re-derives what should have happened from the rules as the
documents state them (docs/reminders.md, docs/early-warning.md, visit_policy.toml's header, DESIGN.md
§5 quiet hours), and returns every difference it finds as a sentence. An empty list is a clean audit.
"""

from __future__ import annotations

import json
import tomllib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, text

OPEN = ("active", "overdue", "restructured")
TZ = ZoneInfo("Asia/Shanghai")
QUIET_START, QUIET_END = time(22, 0), time(8, 0)  # DESIGN.md §5: no contact 22:00–08:00 Asia/Shanghai
PARTS = ("principal", "interest", "penalty", "compound")


@dataclass
class Observation:
    """Raw rows read after one day's close (and its after-close steps)."""

    day: date
    loans: dict[int, dict[str, Any]]  # id -> loans row (status, dpd, classification, credit, …)
    installments: list[dict[str, Any]]  # current-schedule rows: open ones and those due near the day


@dataclass
class Observed:
    first_day: date  # the first simulated business date
    days: list[Observation] = field(default_factory=list)


def _rows(engine: Engine, sql: str, **params: Any) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(text(sql), params)]


def _date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _aware(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _outstanding(row: dict[str, Any]) -> int:
    return sum(int(row[f"{p}_due_fen"]) - int(row[f"{p}_paid_fen"]) - int(row[f"{p}_waived_fen"]) for p in PARTS)


# ---------------------------------------------------------------- reminders


def audit_reminders(engine: Engine, observed: Observed, policy_file: Path, last_send_day: date) -> list[str]:
    """Every due installment got its reminders at the policy's offsets, none sent in quiet hours, none twice."""
    policy = tomllib.loads(policy_file.read_text(encoding="utf-8"))
    steps = [(s["code"], int(s["offset_days"]), time.fromisoformat(s["send_at"])) for s in policy["steps"]]
    problems: list[str] = []
    expected: set[tuple[int, int, date, str]] = set()
    for obs in observed.days:
        target = obs.day + timedelta(days=1)  # what the close of obs.day plans
        by_loan: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for inst in obs.installments:
            by_loan[inst["loan_id"]].append(inst)
        for loan_id, insts in by_loan.items():
            loan = obs.loans.get(loan_id)
            if loan is None or loan["status"] not in OPEN:
                continue
            loan_level = sum(
                int(loan[f"{c}_due_fen"]) - int(loan[f"{c}_paid_fen"]) - int(loan[f"{c}_waived_fen"])
                for c in ("cost", "fee")
            )
            for inst in insts:
                due_on = _date(inst["due_date"])
                for code, offset, _ in steps:
                    if due_on + timedelta(days=offset) != target or _outstanding(inst) <= 0:
                        continue
                    through = sum(_outstanding(i) for i in insts if _date(i["due_date"]) <= due_on)
                    if through + loan_level - int(loan["credit_fen"]) > 0:
                        expected.add((loan_id, int(inst["no"]), due_on, code))
    first, last = observed.first_day + timedelta(days=1), observed.days[-1].day + timedelta(days=1)
    actual_rows = _rows(
        engine,
        "SELECT id, loan_id, installment_no, due_date, step_code, business_date, planned_at, status, last_code "
        "FROM reminders WHERE business_date BETWEEN :a AND :b",
        a=first,
        b=last,
    )
    actual = {(r["loan_id"], r["installment_no"], _date(r["due_date"]), r["step_code"]): r for r in actual_rows}
    for key in sorted(expected - set(actual)):
        problems.append(f"reminder missing: loan {key[0]} installment {key[1]} due {key[2]} step {key[3]}")
    for key in sorted(set(actual) - expected):
        problems.append(f"reminder not due by policy: loan {key[0]} installment {key[1]} due {key[2]} step {key[3]}")
    offsets = {code: (offset, at) for code, offset, at in steps}
    for key, r in actual.items():
        offset, at = offsets[key[3]]
        if _date(r["business_date"]) != key[2] + timedelta(days=offset):
            problems.append(f"reminder {r['id']} planned on {r['business_date']}, not due date {key[2]} {key[3]}")
        planned = _aware(r["planned_at"]).astimezone(TZ)
        if planned.date() != _date(r["business_date"]) or planned.time() != at:
            problems.append(f"reminder {r['id']} planned at {planned}, the policy says {at} on {r['business_date']}")
        final = r["status"] == "delivered" or (r["status"] == "cancelled" and r["last_code"] == "installment_settled")
        if _date(r["business_date"]) <= last_send_day and not final:
            problems.append(f"reminder {r['id']} ended {r['status']} ({r['last_code']}), not delivered")
    repeated = Counter((r["loan_id"], r["installment_no"], _date(r["due_date"]), r["step_code"]) for r in actual_rows)
    problems += [f"reminder {k} exists {n} times" for k, n in repeated.items() if n > 1]
    attempts = _rows(
        engine,
        "SELECT a.reminder_id, a.attempted_at, a.status, a.code FROM reminder_attempts a "
        "JOIN reminders r ON r.id = a.reminder_id WHERE r.business_date BETWEEN :a AND :b",
        a=first,
        b=last,
    )
    sends: Counter[int] = Counter()
    for a in attempts:
        local = _aware(a["attempted_at"]).astimezone(TZ).time()
        if a["status"] in ("sent", "delivered"):
            sends[a["reminder_id"]] += 1
            if local >= QUIET_START or local < QUIET_END:
                problems.append(f"reminder {a['reminder_id']} sent at {local} local, inside quiet hours")
    problems += [f"reminder {rid} sent {n} times" for rid, n in sends.items() if n > 1]
    return problems


# ---------------------------------------------------------------- early warning


@dataclass(frozen=True)
class _Rule:
    code: str
    kind: str
    effective: date
    enabled: bool
    params: dict[str, Any]


def _rules_in_force(rules_file: Path, day: date) -> list[_Rule]:
    data = tomllib.loads(rules_file.read_text(encoding="utf-8"))
    latest: dict[str, _Rule] = {}
    for row in data["rules"]:
        rule = _Rule(
            row["code"],
            row["kind"],
            date.fromisoformat(row["effective"]),
            row.get("enabled", True),
            row.get("params", {}),
        )
        if rule.effective <= day and (rule.code not in latest or rule.effective >= latest[rule.code].effective):
            latest[rule.code] = rule
    return [r for r in latest.values() if r.enabled]


def expected_alerts(engine: Engine, observed: Observed, rules_file: Path) -> set[tuple[int, str, date]]:
    """(loan, rule, opened_on) for every alert the rules should have opened, day by day."""
    visits = _rows(engine, "SELECT loan_id, visited_on FROM visit_records WHERE fund_misuse = :t", t=True)
    collateral = {r["id"]: r for r in _rows(engine, "SELECT id, loan_id, custody_status FROM collateral")}
    valuations = _rows(engine, "SELECT id, collateral_id, valued_on, value_fen FROM collateral_valuations")
    signals = _rows(engine, "SELECT borrower_id, kind, observed_on, imported_on FROM external_signals")
    scores = _rows(engine, "SELECT id, loan_id, model, scored_on, score FROM loan_scores")
    promises = _rows(engine, "SELECT loan_id, broken_on FROM promises WHERE status = 'broken'")
    lost = _rows(engine, "SELECT loan_id, started_at FROM contact_log WHERE outcome = 'lost_contact'")
    closed = {
        (r["loan_id"], r["rule_code"], _date(r["opened_on"])): _date(r["closed_on"])
        for r in _rows(
            engine, "SELECT loan_id, rule_code, opened_on, closed_on FROM alerts WHERE closed_on IS NOT NULL"
        )
    }
    borrower_of = {r["id"]: r["borrower_id"] for r in _rows(engine, "SELECT id, borrower_id FROM loans")}
    opened: dict[tuple[int, str], list[date]] = defaultdict(list)
    expected: set[tuple[int, str, date]] = set()
    far_past = date(1900, 1, 1)

    def live(loan_id: int, code: str, day: date) -> bool:
        for on in opened[(loan_id, code)]:
            shut = closed.get((loan_id, code, on))
            if shut is None or shut > day:
                return True
        return False

    for obs in observed.days:
        day = obs.day
        open_loans = {i for i, loan in obs.loans.items() if loan["status"] in OPEN}
        for rule in _rules_in_force(rules_file, day):
            p = rule.params
            found: dict[int, list[date]] = defaultdict(list)  # loan -> since of each finding
            if rule.kind == "first_missed":
                for i in open_loans:
                    if obs.loans[i]["dpd"] >= 1:
                        found[i].append(far_past)
            elif rule.kind == "dpd_crossed":
                for i in open_loans:
                    dpd = obs.loans[i]["dpd"]
                    if dpd >= p["threshold_days"]:
                        found[i].append(day - timedelta(days=dpd - 1))
            elif rule.kind == "low_payment":
                for inst in obs.installments:
                    due_on = _date(inst["due_date"])
                    due = int(inst["principal_due_fen"]) + int(inst["interest_due_fen"])
                    paid = int(inst["principal_paid_fen"]) + int(inst["interest_paid_fen"])
                    recent = day - timedelta(days=p["lookback_days"]) < due_on <= day
                    if recent and paid > 0 and paid * 100 < due * p["ratio_pct"]:
                        found[inst["loan_id"]].append(due_on)
            elif rule.kind == "fund_misuse":
                for v in visits:
                    on = _date(v["visited_on"])
                    if day - timedelta(days=p["lookback_days"]) < on <= day:
                        found[v["loan_id"]].append(on)
            elif rule.kind == "collateral_drop":
                per: dict[int, list[dict[str, Any]]] = defaultdict(list)
                for v in valuations:
                    if _date(v["valued_on"]) <= day:
                        per[v["collateral_id"]].append(v)
                for cid, vals in per.items():
                    if len(vals) < 2 or collateral[cid]["custody_status"] in ("released", "disposed"):
                        continue
                    vals.sort(key=lambda v: (_date(v["valued_on"]), v["id"]))
                    base = vals[0] if p["baseline"] == "first" else vals[-2]
                    if vals[-1]["value_fen"] * 100 < base["value_fen"] * (100 - p["drop_pct"]):
                        found[collateral[cid]["loan_id"]].append(_date(vals[-1]["valued_on"]))
            elif rule.kind == "external_signal":
                for s in signals:
                    imported = _date(s["imported_on"])
                    ok = s["kind"] in p["kinds"] and _date(s["observed_on"]) <= day
                    if ok and day - timedelta(days=p["lookback_days"]) < imported <= day:
                        for loan_id in (i for i in open_loans if borrower_of[i] == s["borrower_id"]):
                            found[loan_id].append(imported)
            elif rule.kind == "score_drop":
                per_loan: dict[int, list[dict[str, Any]]] = defaultdict(list)
                for s in scores:
                    if s["model"] == p["model"] and _date(s["scored_on"]) <= day:
                        per_loan[s["loan_id"]].append(s)
                for loan_id, rows in per_loan.items():
                    rows.sort(key=lambda s: (_date(s["scored_on"]), s["id"]))
                    recent = _date(rows[-1]["scored_on"]) > day - timedelta(days=p["lookback_days"])
                    if len(rows) >= 2 and recent and rows[-2]["score"] - rows[-1]["score"] > p["points"]:
                        found[loan_id].append(_date(rows[-1]["scored_on"]))
            elif rule.kind == "broken_promise":
                for pr in promises:
                    on = _date(pr["broken_on"])
                    if day - timedelta(days=p["lookback_days"]) < on <= day:
                        found[pr["loan_id"]].append(on)
            elif rule.kind == "lost_contact":
                for c in lost:
                    on = _aware(c["started_at"]).date()
                    if day - timedelta(days=p["lookback_days"]) < on <= day:
                        found[c["loan_id"]].append(on)
            for loan_id, sinces in found.items():
                if loan_id not in open_loans or live(loan_id, rule.code, day):
                    continue
                if any(all(on < since for on in opened[(loan_id, rule.code)]) for since in sinces):
                    opened[(loan_id, rule.code)].append(day)
                    expected.add((loan_id, rule.code, day))
    return expected


def audit_warnings(engine: Engine, observed: Observed, rules_file: Path) -> list[str]:
    """Alerts opened exactly as the rules say (no more, no fewer, on the right day), one live per rule."""
    expected = expected_alerts(engine, observed, rules_file)
    rows = _rows(engine, "SELECT id, loan_id, rule_code, opened_on, status, evidence FROM alerts")
    actual = {(r["loan_id"], r["rule_code"], _date(r["opened_on"])) for r in rows}
    problems = [f"alert missing: loan {k[0]} rule {k[1]} on {k[2]}" for k in sorted(expected - actual)]
    problems += [
        f"alert the rules do not call for: loan {k[0]} rule {k[1]} on {k[2]}" for k in sorted(actual - expected)
    ]
    live = Counter((r["loan_id"], r["rule_code"]) for r in rows if r["status"] != "closed")
    problems += [f"{n} live alerts for loan {k[0]} rule {k[1]}" for k, n in live.items() if n > 1]
    for r in rows:
        if not isinstance(json.loads(r["evidence"]), dict):
            problems.append(f"alert {r['id']} has no evidence object")
    steps = Counter(r["alert_id"] for r in _rows(engine, "SELECT alert_id FROM alert_steps WHERE from_status IS NULL"))
    problems += [f"alert {r['id']} has {steps[r['id']]} opening steps" for r in rows if steps[r["id"]] != 1]
    return problems


# ---------------------------------------------------------------- visit plans


def audit_visit_plans(engine: Engine, observed: Observed, policy_file: Path) -> list[str]:
    """Each open loan has one open plan of the right kind, dated as the cadence says; none for closed loans;
    plans whose date passed unvisited are overdue."""
    policy = tomllib.loads(policy_file.read_text(encoding="utf-8"))
    cadence = policy["cadence"]
    phases = sorted(cadence["phases"], key=lambda ph: ph["from_age_days"])
    business_products = set(policy["business"]["products"])
    business_words = [w.lower() for w in policy["business"]["purpose_words"]]
    last = observed.days[-1]
    day = last.day
    loans = {
        r["id"]: r
        for r in _rows(
            engine,
            "SELECT l.id, l.status, l.dpd, l.classification, l.disbursed_on, l.purpose, "
            "l.schedule_version, p.code AS product FROM loans l JOIN products p ON p.id = l.product_id",
        )
    }
    plans = _rows(engine, "SELECT id, loan_id, due_on, kind, status, created_at FROM visit_plans")
    visits: dict[int, date] = {}
    for v in _rows(engine, "SELECT loan_id, visited_on FROM visit_records"):
        on = _date(v["visited_on"])
        visits[v["loan_id"]] = max(on, visits.get(v["loan_id"], on))
    overrides = {
        r["loan_id"] for r in _rows(engine, "SELECT loan_id FROM visit_cadence_overrides WHERE cleared_at IS NULL")
    }
    due_dates: dict[int, list[date]] = defaultdict(list)
    for r in _rows(
        engine,
        "SELECT i.loan_id, i.due_date FROM installments i JOIN loans l ON l.id = i.loan_id "
        "AND l.schedule_version = i.schedule_version",
    ):
        due_dates[r["loan_id"]].append(_date(r["due_date"]))
    open_plans: dict[int, list[dict[str, Any]]] = defaultdict(list)
    problems: list[str] = []
    for p in plans:
        if p["status"] in ("planned", "overdue"):
            open_plans[p["loan_id"]].append(p)
        if p["status"] == "planned" and _date(p["due_on"]) < day:
            problems.append(
                f"plan {p['id']} of loan {p['loan_id']} due {p['due_on']} passed unvisited but is not overdue"
            )
    for loan_id, loan in loans.items():
        mine = open_plans.get(loan_id, [])
        if loan["status"] not in OPEN:
            if mine:
                problems.append(f"closed loan {loan_id} ({loan['status']}) still has an open visit plan")
            continue
        if len(mine) != 1:
            problems.append(f"open loan {loan_id} has {len(mine)} open visit plans")
            continue
        plan = mine[0]
        disbursed = _date(loan["disbursed_on"])
        high_risk = (
            loan_id in overrides
            or loan["dpd"] > cadence["high_risk_dpd_over"]
            or (loan["classification"] not in cadence["normal_classes"])
        )
        business = loan["product"] in business_products or any(
            w in (loan["purpose"] or "").lower() for w in business_words
        )
        last_visit = visits.get(loan_id)
        planned_on = _aware(plan["created_at"]).astimezone(TZ).date()  # the simulation closes each day in the evening
        if last_visit is None:
            kind, ideal = "first", disbursed + timedelta(days=cadence["first_within_days"])
        else:
            kind = "high_risk" if high_risk else ("business_onsite" if business else "periodic")
            age = (last_visit - disbursed).days
            every = (
                cadence["high_risk_every_days"]
                if high_risk
                else next(ph["every_days"] for ph in reversed(phases) if age >= ph["from_age_days"])
            )
            latest = last_visit + timedelta(days=every)
            lead = timedelta(days=cadence["align_days_before_due"])
            candidates = [d - lead for d in due_dates[loan_id] if last_visit < d - lead <= latest]
            ideal = max(candidates, default=latest)
        if plan["kind"] != kind and not (kind == "high_risk" and plan["kind"] in ("periodic", "business_onsite")):
            problems.append(f"loan {loan_id}: open plan is {plan['kind']}, the policy says {kind}")
        due_on = _date(plan["due_on"])
        if plan["kind"] == kind and due_on not in (ideal, max(ideal, planned_on)):
            problems.append(f"loan {loan_id}: {kind} visit due {due_on}, the policy says {max(ideal, planned_on)}")
        if high_risk and plan["kind"] not in ("first", "high_risk"):
            anchor = last_visit or disbursed
            if due_on > max(anchor + timedelta(days=cadence["high_risk_every_days"]), planned_on):
                problems.append(f"high-risk loan {loan_id}: visit due {due_on} is later than monthly allows")
    return problems

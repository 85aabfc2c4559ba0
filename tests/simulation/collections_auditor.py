"""An auditor for collections, written apart from the code it audits.

It reads only raw tables (plain SQL) and the shipped strategy TOML, and re-derives every rule with
its own plain Python: it never imports `daihou.workflow.collections`, `daihou.domain.collections`,
`daihou.domain.compliance` or the collection store. The conduct rules it holds the logs to are the
ones DESIGN.md §5 states (quiet hours 22:00–08:00 Asia/Shanghai for call, SMS and robot calls;
≤ 3 connected conversations per debtor per day; ≤ 6 dials per number per day; contact persons only
when the debtor is unreachable; no dunning of a disputed debt), with what "connected" and
"unreachable" mean taken from the TOML.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import tomllib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, text

TZ = ZoneInfo("Asia/Shanghai")
QUIET_START_H, QUIET_END_H = 22, 8
QUIET_CHANNELS = {"call", "robot_call", "sms"}
VOICE = {"call", "robot_call"}
VOICE_CAP, DIAL_CAP = 3, 6
OPEN_LOAN = {"active", "overdue", "restructured"}


def strategy() -> dict[str, Any]:
    return tomllib.loads(resources.files("daihou.workflow").joinpath("collection_strategy.toml").read_text("utf-8"))


def _aware(v: Any) -> datetime:
    if isinstance(v, str):
        v = datetime.fromisoformat(v)
    return v.replace(tzinfo=UTC) if v.tzinfo is None else v


def _day(v: Any) -> date:
    return date.fromisoformat(v) if isinstance(v, str) else v


@dataclass
class Report:
    contacts: int = 0
    violations: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    facts: dict[str, Any] = field(default_factory=dict)

    def add(self, rule: str, what: str) -> None:
        self.violations[rule].append(what)


def _rows(engine: Engine, sql: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(text(sql))]


def audit(engine: Engine) -> Report:
    cfg = strategy()
    g = cfg["guardrails"]
    conversations = set(g["conversation_outcomes"])
    window = timedelta(days=g["unreachable_window_days"])
    min_attempts = g["unreachable_min_attempts"]
    report = Report()
    log = _rows(
        engine, "SELECT id, case_id, loan_id, borrower_id, channel, party, number, started_at, outcome FROM contact_log"
    )
    for r in log:
        r["at"] = _aware(r["started_at"])
        r["local"] = r["at"].astimezone(TZ)
    report.contacts = len(log)

    # quiet hours
    for r in log:
        h = r["local"].hour
        if r["channel"] in QUIET_CHANNELS and (h >= QUIET_START_H or h < QUIET_END_H):
            report.add("quiet_hours", f"contact {r['id']} at {r['local']:%Y-%m-%d %H:%M} local")

    # voice cap per debtor per local day, dial cap per number per local day
    connected: Counter[tuple[int, date]] = Counter()
    dials: Counter[tuple[str, date]] = Counter()
    for r in log:
        if r["channel"] not in VOICE:
            continue
        d = r["local"].date()
        if r["party"] == "debtor" and r["outcome"] in conversations:
            connected[(r["borrower_id"], d)] += 1
        if r["number"]:
            dials[(r["number"], d)] += 1
    for (b, d), n in connected.items():
        if n > VOICE_CAP:
            report.add("voice_cap", f"borrower {b} had {n} connected conversations on {d}")
    for (num, d), n in dials.items():
        if n > DIAL_CAP:
            report.add("dial_cap", f"number {num} dialled {n} times on {d}")
    report.facts["max_connected_per_debtor_day"] = max(connected.values(), default=0)
    report.facts["max_dials_per_number_day"] = max(dials.values(), default=0)

    # contact persons only while the debtor is unreachable
    debtor_voice: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r in log:
        if r["party"] == "debtor" and r["channel"] in VOICE:
            debtor_voice[r["borrower_id"]].append(r)
    third = [r for r in log if r["party"] == "contact_person"]
    for r in third:
        recent = [x for x in debtor_voice[r["borrower_id"]] if r["at"] - window <= x["at"] <= r["at"]]
        if len(recent) < min_attempts or any(x["outcome"] in conversations for x in recent):
            report.add("contact_person", f"contact {r['id']}: debtor {r['borrower_id']} was reachable")
    report.facts["contact_person_contacts"] = len(third)

    # disputes pause dunning of the debtor
    disputes = defaultdict(list)
    for d in _rows(engine, "SELECT loan_id, opened_at, resolved_at FROM loan_disputes"):
        disputes[d["loan_id"]].append((_aware(d["opened_at"]), _aware(d["resolved_at"]) if d["resolved_at"] else None))
    for r in log:
        if r["party"] != "debtor":
            continue
        for opened, resolved in disputes[r["loan_id"]]:
            if opened < r["at"] and (resolved is None or r["at"] < resolved):
                report.add("dispute", f"contact {r['id']} while loan {r['loan_id']} was disputed")

    _audit_cases(engine, report)
    _audit_arms(engine, cfg, report)
    return report


def _audit_cases(engine: Engine, report: Report) -> None:
    cases = _rows(engine, "SELECT id, loan_id, status, opened_on, closed_on, close_reason FROM collection_cases")
    loans = {r["id"]: r for r in _rows(engine, "SELECT id, status, dpd FROM loans")}
    by_loan: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for c in cases:
        by_loan[c["loan_id"]].append(c)
        if c["status"] == "closed" and (c["closed_on"] is None or c["close_reason"] not in
                                        {"cured", "settled", "paid_off", "written_off"}):  # fmt: skip
            report.add("case_close", f"case {c['id']} closed without a valid reason or date")
        if c["status"] == "open" and loans[c["loan_id"]]["status"] not in OPEN_LOAN:
            report.add("case_open_for_closed_loan", f"case {c['id']} open for a {loans[c['loan_id']]['status']} loan")
    for loan_id, rows in by_loan.items():
        if sum(1 for c in rows if c["status"] == "open") > 1:
            report.add("one_open_case", f"loan {loan_id} has several open cases")
        spans = sorted((_day(c["opened_on"]), _day(c["closed_on"]) if c["closed_on"] else date.max) for c in rows)
        for (a0, a1), (b0, _) in itertools.pairwise(spans):
            if b0 < a1:
                report.add("one_open_case", f"loan {loan_id}: cases overlap ({a0}–{a1} and from {b0})")
    for loan in loans.values():
        if (
            loan["status"] in OPEN_LOAN
            and loan["dpd"] >= 1
            and not any(c["status"] == "open" for c in by_loan[loan["id"]])
        ):
            report.add("overdue_without_case", f"loan {loan['id']} is {loan['dpd']} days past due without a case")
    report.facts["cases"] = len(cases)
    report.facts["closed_by_reason"] = dict(Counter(c["close_reason"] for c in cases if c["status"] == "closed"))


def draw(seed: int, case_id: int) -> float:
    digest = hashlib.sha256(f"{seed}:{case_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _share(cfg: dict[str, Any], segment: str) -> tuple[float, str, str]:
    stage, score_band, balance_band, product = segment.split("|")
    got = {"stage": stage, "score_band": score_band, "balance_band": balance_band, "product": product}
    for rule in cfg["rules"]:
        if all(rule.get(k, "*") in ("*", v) for k, v in got.items()):
            return float(rule["challenger_share"]), rule["champion"], rule["challenger"]
    raise AssertionError(f"no rule for segment {segment}")


def _audit_arms(engine: Engine, cfg: dict[str, Any], report: Report) -> None:
    """Each case's arm is the seeded draw against its segment's share (reproducible), and within
    segments the challenger count is what the share predicts (chi-square, p = 0.001)."""
    seed = int(cfg["seed"])
    cases = _rows(engine, "SELECT id, segment, strategy_arm FROM collection_cases")
    per_segment: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    chi2, dof = 0.0, 0
    for c in cases:
        share, _, _ = _share(cfg, c["segment"])
        expected = "challenger" if draw(seed, c["id"]) < share else "champion"
        if c["strategy_arm"] != expected:
            report.add("arm_reproducible", f"case {c['id']} is {c['strategy_arm']}, the seed says {expected}")
        per_segment[c["segment"]][0] += 1
        per_segment[c["segment"]][1] += c["strategy_arm"] == "challenger"
    for segment, (n, k) in per_segment.items():
        share = _share(cfg, segment)[0]
        if 0 < share < 1 and n >= 5:
            chi2 += (k - n * share) ** 2 / (n * share * (1 - share))
            dof += 1
    report.facts["arm_chi2"], report.facts["arm_dof"] = round(chi2, 2), dof
    if dof:
        z = 3.09  # one-sided 0.001; Wilson–Hilferty approximation of the chi-square quantile
        critical = dof * (1 - 2 / (9 * dof) + z * math.sqrt(2 / (9 * dof))) ** 3
        report.facts["arm_chi2_critical"] = round(critical, 2)
        if chi2 > critical:
            report.add("arm_share", f"challenger shares off their configured values: chi2 {chi2:.1f} > {critical:.1f}")

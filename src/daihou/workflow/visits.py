"""Follow-up visits (贷款回访): planning after each close, cadence overrides, visit records, reports.

The rules are `daihou.domain.visits` (the policy is `visit_policy.toml`); the SQL is
`daihou.storage.visit_store`, reached only from here. Functions other workflows call:

- `plan_visits(app, day)`: the after-close step (registered in `daihou.workflow.daily.steps`);
- `tighten_cadence(app, loan_ids, reason, user, day)` / `relax_cadence(...)`: what an early warning
  calls when it opens or closes (monthly visits while it is open);
- `record_visit(app, …)`: validates and stores a visit, completes its plan, plans the next one and
  lets the other workflows react (`daihou.workflow.daily.on_loan_event(…, "visit")`).
"""

from __future__ import annotations

import hashlib
import shutil
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from daihou.domain.visits import (
    FUND_MISUSE,
    PlanKind,
    Problem,
    VisitInput,
    VisitPolicy,
    all_flags,
    check_record,
    policy_from_dict,
)

if TYPE_CHECKING:
    from daihou.bootstrap import App

HIGH_RISK_CADENCE = "high_risk"
ATTACHMENT_DIR = "attachments"


def load_policy(path: Path | None = None) -> VisitPolicy:
    """The policy in `path` (TOML), or the default shipped with daihou."""
    if path is None:
        return _shipped_policy()
    return policy_from_dict(tomllib.loads(path.read_text(encoding="utf-8")))


@cache
def _shipped_policy() -> VisitPolicy:
    text = resources.files("daihou.workflow").joinpath("visit_policy.toml").read_text(encoding="utf-8")
    return policy_from_dict(tomllib.loads(text))


# ---------------------------------------------------------------- planning (after each close)


def plan_visits(app: App, day: date, policy: VisitPolicy | None = None) -> dict[str, int]:
    """Plan the next visit of every open loan without one, mark missed ones overdue, cancel plans of
    closed loans, replan high-risk loans monthly. Set-based; idempotent for `day`."""
    from daihou.storage import visit_store

    with app.engine.begin() as conn:
        return visit_store.plan(conn, policy or load_policy(), day, app.clock.now())


def tighten_cadence(
    app: App, loan_ids: list[int], reason: str, user: str, day: date, policy: VisitPolicy | None = None
) -> int:
    """Visit `loan_ids` at the high-risk cadence while `reason` holds (e.g. an open warning). Opens an
    override per loan unless one with the same reason is active and replans at once. Returns how many
    overrides were opened."""
    from daihou.storage import visit_store

    if not loan_ids:
        return 0
    policy = policy or load_policy()
    now = app.clock.now()
    with app.engine.begin() as conn:
        opened = visit_store.open_overrides(conn, loan_ids, HIGH_RISK_CADENCE, reason, user, now)
        if opened:
            visit_store.replan(conn, policy, day, now, opened)
    return len(opened)


def relax_cadence(
    app: App, loan_ids: list[int], reason: str, user: str, day: date, policy: VisitPolicy | None = None
) -> int:
    """Clear the overrides opened for `reason` on `loan_ids`; a loan no longer high risk for any other
    reason goes back to its normal cadence at once. Returns how many overrides were cleared."""
    from daihou.storage import visit_store

    if not loan_ids:
        return 0
    policy = policy or load_policy()
    now = app.clock.now()
    with app.engine.begin() as conn:
        cleared = visit_store.clear_overrides(conn, loan_ids, reason, user, now)
        if cleared:
            visit_store.replan(conn, policy, day, now, loan_ids)
    return cleared


# ---------------------------------------------------------------- records


@dataclass(frozen=True, slots=True)
class Attachment:
    kind: str  # photo, statement, signed_confirmation, other
    path: Path


@dataclass(frozen=True, slots=True)
class NextPlan:
    id: int
    due_on: date
    kind: str


@dataclass(frozen=True, slots=True)
class Recorded:
    visit_id: int
    loan_id: int
    plan_id: int | None  # the plan this visit completed
    risk_flags: tuple[str, ...]
    fund_misuse: bool
    attachments: tuple[str, ...]  # sha256 of each stored file
    next_plan: NextPlan | None
    ok = True


@dataclass(frozen=True, slots=True)
class NotRecorded:
    problems: tuple[Problem, ...]
    ok = False

    @property
    def message(self) -> str:
        return "; ".join(f"{p.field}: {p.message} ({p.code})" for p in self.problems)


@dataclass(frozen=True, slots=True)
class _Stored:
    kind: str
    file_name: str
    sha256: str
    size_bytes: int
    stored_path: str


def _sha256(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def store_file(data_dir: Path, kind: str, path: Path) -> _Stored:
    """Copy `path` under data_dir/attachments named by its SHA-256 (the same file is kept once)."""
    sha, size = _sha256(path)
    relative = f"{ATTACHMENT_DIR}/{sha}"
    target = data_dir / relative
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{sha}.part")
        shutil.copyfile(path, partial)
        partial.replace(target)
    return _Stored(kind, path.name[:255], sha, size, relative)


def record_visit(
    app: App,
    loan_no: str,
    *,
    visit_type: str,
    visited_on: date,
    officers: Sequence[str],
    answers: Mapping[str, Any],
    recorded_by: str,
    findings: str = "",
    flags: Sequence[str] = (),
    follow_up: str = "",
    attachments: Sequence[Attachment] = (),
    plan_id: int | None = None,
    day: date | None = None,
    policy: VisitPolicy | None = None,
) -> Recorded | NotRecorded:
    """Validate and store a visit; completes the loan's open plan (or `plan_id`) and plans the next.

    Rejections name the field: `officers`, `visited_on`, `visit_type`, `answers.<code>`,
    `attachments[n].path`, `attachments` (a business loan's on-site visit needs a statement), `plan_id`.
    """
    from daihou.storage import visit_store

    policy = policy or load_policy()
    today = day or app.today()
    now = app.clock.now()
    with app.engine.connect() as conn:
        loan = visit_store.loan_for_visit(conn, policy, loan_no)
        if loan is None:
            return NotRecorded((Problem("loan_not_found", "loan_no", f"no loan {loan_no}"),))
        plan = visit_store.plan_by_id(conn, plan_id) if plan_id is not None else visit_store.open_plan(conn, loan["id"])
    problems = _plan_problems(loan, plan, plan_id)
    if problems:
        return NotRecorded(problems)
    kind = PlanKind(plan["kind"]) if plan else _unplanned_kind(loan)
    missing = tuple(
        Problem("file_not_found", f"attachments[{n}].path", f"{a.path} is not a readable file")
        for n, a in enumerate(attachments)
        if not a.path.is_file()
    )
    visit = VisitInput(
        visit_type,
        visited_on,
        tuple(officers),
        answers,
        tuple(flags),
        tuple(a.kind for a in attachments),
        findings,
        follow_up,
    )
    problems = missing + check_record(
        policy, visit, kind=kind, business=bool(loan["business"]), disbursed_on=loan["disbursed_on"], today=today
    )
    if problems:
        return NotRecorded(problems)

    stored = [store_file(app.settings.data_dir, a.kind, a.path) for a in attachments]
    risk = all_flags(policy, flags, answers)
    values = {
        "loan_id": loan["id"],
        "plan_id": plan["id"] if plan else None,
        "visit_type": visit_type,
        "visited_on": visited_on,
        "officers": ",".join(o.strip() for o in officers if o.strip()),
        "answers": dict(answers),
        "findings": findings or None,
        "fund_misuse": FUND_MISUSE in risk,
        "risk_flags": ",".join(risk),
        "follow_up": follow_up or None,
        "recorded_by": recorded_by,
        "policy_version": policy.version,
        "created_at": visit_store.utc(now),
    }
    with app.engine.begin() as conn:
        visit_id = visit_store.insert_record(conn, values, [vars_of(s) for s in stored])
        if plan:
            visit_store.mark_done(conn, plan["id"], visit_id, visited_on, now)
        visit_store.replan(conn, policy, today, now, [loan["id"]])
        nxt = visit_store.open_plan(conn, loan["id"])
    from daihou.workflow.daily import on_loan_event

    on_loan_event(app, [loan["id"]], today, "visit")
    return Recorded(
        visit_id,
        loan["id"],
        plan["id"] if plan else None,
        risk,
        FUND_MISUSE in risk,
        tuple(s.sha256 for s in stored),
        NextPlan(nxt["id"], nxt["due_on"], nxt["kind"]) if nxt else None,
    )


def vars_of(s: _Stored) -> dict[str, Any]:
    return {
        "kind": s.kind,
        "file_name": s.file_name,
        "sha256": s.sha256,
        "size_bytes": s.size_bytes,
        "stored_path": s.stored_path,
    }


def _plan_problems(loan: Mapping[str, Any], plan: Mapping[str, Any] | None, plan_id: int | None) -> tuple[Problem, ...]:
    if plan_id is not None:
        if plan is None or plan["loan_id"] != loan["id"]:
            return (Problem("plan_not_found", "plan_id", f"no plan {plan_id} for loan {loan['loan_no']}"),)
        if plan["status"] not in ("planned", "overdue"):
            return (Problem("plan_not_open", "plan_id", f"plan {plan_id} is {plan['status']}"),)
    if loan["status"] not in ("active", "overdue", "restructured") and plan is None:
        return (Problem("loan_closed", "loan_no", f"loan {loan['loan_no']} is {loan['status']}"),)
    return ()


def _unplanned_kind(loan: Mapping[str, Any]) -> PlanKind:
    """The kind of a visit made without a plan: it asks the questions of the visit it stands for."""
    if loan["last_on"] is None:
        return PlanKind.FIRST
    if loan["high_risk"]:
        return PlanKind.HIGH_RISK
    return PlanKind.PERIODIC


# ---------------------------------------------------------------- reading, for drivers


@dataclass(frozen=True, slots=True)
class LoanVisits:
    loan_no: str
    officer: str | None
    business: bool
    high_risk: bool
    plans: list[dict[str, Any]]
    records: list[dict[str, Any]]
    overrides: list[dict[str, Any]]


@dataclass
class Completion:
    start: date
    end: date
    as_of: date
    rows: list[dict[str, Any]] = field(default_factory=list)  # officer, kind, planned, done_on_time, …

    def totals(self, key: str | None = None) -> list[dict[str, Any]]:
        """Summed by `key` ("officer" or "kind"), or overall when None; with rates."""
        groups: dict[str, dict[str, Any]] = {}
        for row in self.rows:
            name = row[key] if key else "all"
            g = groups.setdefault(name, {"planned": 0, "done_on_time": 0, "done_late": 0, "overdue": 0, "open": 0})
            for k in g:
                g[k] += row[k]
        return [{(key or "scope"): name, **g, **rates(g)} for name, g in sorted(groups.items())]


def rates(g: Mapping[str, int]) -> dict[str, str]:
    """Completion and on-time rates, as percentages with one decimal (text: exact, no float)."""

    def pct(n: int, d: int) -> str:
        if d == 0:
            return "0.0"
        tenths = (2000 * n + d) // (2 * d)  # half-up to a tenth of a percent
        return f"{tenths // 10}.{tenths % 10}"

    done = g["done_on_time"] + g["done_late"]
    return {"completion_rate": pct(done, g["planned"]), "on_time_rate": pct(g["done_on_time"], g["planned"])}


@dataclass
class VisitService:
    """The visit use cases for one app and policy (what the CLI, API and web call)."""

    app: App
    policy: VisitPolicy

    def plan(self, day: date) -> dict[str, int]:
        return plan_visits(self.app, day, self.policy)

    def loan(self, loan_no: str) -> LoanVisits | None:
        from daihou.storage import visit_store

        with self.app.engine.connect() as conn:
            loan = visit_store.loan_for_visit(conn, self.policy, loan_no)
            if loan is None:
                return None
            return LoanVisits(
                loan_no,
                loan["officer"],
                bool(loan["business"]),
                bool(loan["high_risk"]),
                visit_store.plans_of(conn, loan["id"]),
                visit_store.records_of(conn, loan["id"]),
                visit_store.overrides_of(conn, loan["id"]),
            )

    def due(
        self,
        as_of: date,
        officer: str | None = None,
        overdue_only: bool = False,
        within_days: int = 7,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        from daihou.storage import visit_store

        with self.app.engine.connect() as conn:
            return visit_store.due_list(conn, as_of, within_days, officer, overdue_only, limit)

    def report(self, start: date, end: date, as_of: date) -> Completion:
        from daihou.storage import visit_store

        with self.app.engine.connect() as conn:
            return Completion(start, end, as_of, visit_store.completion(conn, start, end, as_of))

    def record(self, loan_no: str, **kw: Any) -> Recorded | NotRecorded:
        return record_visit(self.app, loan_no, policy=self.policy, **kw)


def build(app: App, policy_path: Path | None = None) -> VisitService:
    return VisitService(app, load_policy(policy_path))

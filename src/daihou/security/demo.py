"""Demo users, one per role, scoped to data that exists in the demo book (printed by `daihou demo`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from daihou.security import users
from daihou.security.roles import ROLE_NAMES
from daihou.security.users import UserRefused
from daihou.security.wiring import reads, store

if TYPE_CHECKING:
    from daihou.bootstrap import App

DEMO_PASSWORD = "daihou-demo-2026"  # demo books only; printed on start


@dataclass(frozen=True, slots=True)
class DemoUser:
    username: str
    password: str
    role: str
    scope: str


def ensure_demo_users(app: App) -> list[DemoUser]:
    """Create (once) a user for every role; the officer, collector, agency and borrower users get the
    busiest officer, collector, agency and an overdue borrower of the book as their scope."""
    samples = reads(app).scope_samples()
    wanted: dict[str, tuple[str, dict[str, object], str]] = {
        "account_officer": (str(samples["officer"] or "officer"), {}, f"loans.officer = {samples['officer']}"),
        "collector": (str(samples["collector"] or "collector"), {}, "cases assigned to this collector"),
        "agency": ("agency", {"agency_id": int(samples["agency_id"] or 1)}, f"agency {samples['agency_id'] or 1}"),
    }
    if samples["borrower_no"]:
        wanted["borrower"] = (
            str(samples["borrower_mobile"] or samples["borrower_no"]),
            {"borrower_no": samples["borrower_no"]},
            f"borrower {samples['borrower_no']}",
        )
    out: list[DemoUser] = []
    for role in ROLE_NAMES:
        username, extra, scope = wanted.get(role, (role.replace("_", "-"), {}, "all"))
        existing = store(app).user_by_username(username)
        if existing is None:
            result = users.add_user(app, username, DEMO_PASSWORD, role, f"demo {role}", **extra)  # type: ignore[arg-type]
            if isinstance(result, UserRefused):
                continue
        elif existing.role != role:
            continue
        out.append(DemoUser(username, DEMO_PASSWORD, role, scope))
    if not samples["collector"]:
        _give_cases(app, wanted["collector"][0])
    return out


def _give_cases(app: App, collector: str, count: int = 5) -> None:
    """A demo book has no collectors on file, so its cases are unassigned: register the demo collector
    and hand it the first open cases, as a team lead would."""
    try:
        from daihou.domain.collections import Stage
        from daihou.workflow import collections
    except ImportError:  # collections not installed
        return
    if collections.cases_visible_to(app, "collector", collector, "open", 1):
        return
    collections.add_collector(app, collector, "demo collector", "demo", [s.value for s in Stage], 50)
    for case in collections.cases_visible_to(app, "supervisor", "team-lead", "open", count):
        collections.assign(app, case["id"], collector, app.today(), "team-lead")

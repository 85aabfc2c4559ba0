"""A small demo book behind the API, with one user per role and two of everything (ours, theirs).

`own` is inside every scoped role's data scope: loan L1 (its officer is the officer user, its borrower
is the borrower user), case C1 on L1 (assigned to the collector user, placed with the agency user's
agency). `other` is outside: loan L2 with another officer and borrower, case C2 on L2 assigned and
placed elsewhere. Each role gets a user and an API token.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import text

from daihou import bootstrap
from daihou.config import Settings
from daihou.domain.approval_limits import RequestKind
from daihou.security import tokens, users
from daihou.security.roles import ROLE_NAMES
from daihou.service import restructuring as rs
from daihou.workflow import recovery

AS_OF = date(2026, 11, 20)  # the last closed business day
NOW = datetime(2026, 11, 21, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
PASSWORD = "matrix-pass-2026"
OWN_AGENCY, OTHER_AGENCY = 7, 8


class FixedClock:
    def __init__(self) -> None:
        self.value = NOW

    def now(self) -> datetime:
        return self.value


@dataclass
class Subject:
    loan_no: str
    borrower_no: str
    case_id: int
    alert_id: int
    request_id: int


@dataclass
class World:
    app: bootstrap.App
    own: Subject
    other: Subject
    usernames: dict[str, str] = field(default_factory=dict)  # role -> username
    tokens: dict[str, str] = field(default_factory=dict)  # role -> API token
    raw_pii: set[str] = field(default_factory=set)  # every unmasked ID and mobile number in the book


def _pick(app: bootstrap.App) -> tuple[dict[str, object], dict[str, object]]:
    q = text(
        """
        SELECT l.loan_no, l.officer, b.borrower_no, l.borrower_id, c.id AS case_id, MIN(a.id) AS alert_id
        FROM loans l
        JOIN borrowers b ON b.id = l.borrower_id
        JOIN collection_cases c ON c.loan_id = l.id AND c.status = 'open'
        JOIN alerts a ON a.loan_id = l.id
        WHERE l.status IN ('active', 'overdue') AND l.officer IS NOT NULL
        GROUP BY l.loan_no, l.officer, b.borrower_no, l.borrower_id, c.id
        ORDER BY l.loan_no
        """
    )
    with app.engine.connect() as c:
        rows = [dict(r._mapping) for r in c.execute(q)]
    assert rows, "the demo book has no overdue loan with a case and an alert"
    first = rows[0]
    for r in rows[1:]:
        if r["officer"] != first["officer"] and r["borrower_id"] != first["borrower_id"]:
            return first, r
    raise AssertionError("the demo book has no second loan with another officer and borrower")


def _request(app: bootstrap.App, loan_no: str) -> int:
    rec = recovery.build(app)
    spec = rs.RequestSpec(RequestKind.EXTENSION, loan_no, "hardship", "maker-x", "collector", months=3)
    outcome = rs.request(rec.uow(), rec.limits, spec)
    assert outcome.code == rs.PENDING_APPROVAL, outcome
    found = [r.id for r in recovery.list_requests(app, "pending", None) if r.loan_no == loan_no]
    return found[-1]


def build_world(tmp: Path, loans: int = 400) -> World:
    settings = Settings(database_url=f"sqlite:///{tmp / 'world.db'}", data_dir=tmp / "var")
    app = bootstrap.build(settings, FixedClock())
    app.initialise()
    app.build_demo(loans, 11, AS_OF - timedelta(days=1))
    app.run_cob([AS_OF], "duckdb")
    a, b = _pick(app)
    with app.engine.begin() as c:
        for row, collector, agency in ((a, "col-own", OWN_AGENCY), (b, "col-other", OTHER_AGENCY)):
            c.execute(
                text("UPDATE collection_cases SET collector = :u, placement_agency_id = :g WHERE id = :i"),
                {"u": collector, "g": agency, "i": row["case_id"]},
            )
        raw = set()
        for sql in (
            "SELECT id_number, mobile FROM borrowers",
            "SELECT mobile, mobile FROM borrower_contacts",
            "SELECT id_number, mobile FROM guarantors",
        ):
            for x, y in c.execute(text(sql)):
                raw.update(v for v in (x, y) if v)
    own = Subject(str(a["loan_no"]), str(a["borrower_no"]), int(a["case_id"]), int(a["alert_id"]), 0)  # type: ignore[call-overload]
    other = Subject(str(b["loan_no"]), str(b["borrower_no"]), int(b["case_id"]), int(b["alert_id"]), 0)  # type: ignore[call-overload]
    own.request_id = _request(app, own.loan_no)
    other.request_id = _request(app, other.loan_no)
    world = World(app, own, other, raw_pii=raw)
    special = {
        "account_officer": (str(a["officer"]), {}),
        "collector": ("col-own", {}),
        "agency": ("agency-own", {"agency_id": OWN_AGENCY}),
        "borrower": ("borrower-own", {"borrower_no": own.borrower_no}),
    }
    for role in ROLE_NAMES:
        username, extra = special.get(role, (f"{role}-1", {}))
        made = users.add_user(app, username, PASSWORD, role, f"{role} user", **extra)  # type: ignore[arg-type]
        assert not isinstance(made, users.UserRefused), made
        world.usernames[role] = username
        world.tokens[role] = tokens.issue(app, username, "matrix").token
    return world

"""The authorization matrix: every API endpoint × every role × our own and others' data.

The endpoints are read from the application's routes: an endpoint without a rule below fails the
test. For each cell: a role without the permission gets 403; with it, its own data answers (never
403/404) and others' data answers 404 for a scoped role (officer, collector, agency, borrower); lists
hold only what the role may see; no response carries an unmasked ID or mobile number (except a
reveal, which is audited); every successful write leaves an audit entry; nobody unauthenticated gets in.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).parent))
from api_world import AS_OF, World, build_world

from daihou.api.app import create_app
from daihou.security.roles import ROLE_NAMES, Scope, load

API = "/api/v1"
PAID_ON = (AS_OF.replace(day=AS_OF.day + 1)).isoformat()

Body = Callable[[World, str, int], dict[str, Any] | None]


@dataclass(frozen=True)
class Rule:
    permission: str | None  # None: any authenticated caller
    subject: str | None = None  # loan | borrower | case | alert | request: the path names one
    list_key: str | None = None  # a list whose items carry loan_no: all must be in scope
    body: Body | None = None
    headers: Callable[[int], dict[str, str]] | None = None
    public: bool = False


def _payment(w: World, role: str, n: int) -> dict[str, Any]:
    return {"amount": "1.00", "paid_on": PAID_ON}


def _key(n: int) -> dict[str, str]:
    return {"Idempotency-Key": f"matrix-{n}"}


RULES: dict[tuple[str, str], Rule] = {
    ("POST", "/session"): Rule(None, public=True),
    ("GET", "/session"): Rule(None),
    ("DELETE", "/session"): Rule(None),
    ("GET", "/borrowers"): Rule("borrower.read", list_key="borrower_no"),
    ("GET", "/borrowers/{borrower_no}"): Rule("borrower.read", "borrower"),
    ("POST", "/borrowers/{borrower_no}/reveal"): Rule(
        "pii.reveal", "borrower", body=lambda w, r, n: {"field": "mobile"}
    ),
    ("GET", "/loans"): Rule("loan.read", list_key="loan_no"),
    ("GET", "/loans/{loan_no}"): Rule("loan.read", "loan"),
    ("GET", "/loans/{loan_no}/schedule"): Rule("loan.read", "loan"),
    ("POST", "/loans/{loan_no}/payments"): Rule("payment.post", "loan", body=_payment, headers=_key),
    ("GET", "/loans/{loan_no}/visits"): Rule("visit.read", "loan"),
    ("GET", "/visits/due"): Rule("visit.read", list_key="loan_no"),
    ("POST", "/loans/{loan_no}/visits"): Rule(
        "visit.write",
        "loan",
        body=lambda w, r, n: {"visit_type": "phone", "visited_on": AS_OF.isoformat(), "officers": ["x"], "answers": {}},
    ),
    ("GET", "/warnings"): Rule("warning.read", list_key="loan_no"),
    ("GET", "/warnings/{alert_id}"): Rule("warning.read", "alert"),
    ("POST", "/warnings/{alert_id}/{step}"): Rule("warning.write", "alert", body=lambda w, r, n: {"comment": "seen"}),
    ("GET", "/cases"): Rule("case.read", list_key="loan_no"),
    ("GET", "/cases/{case_id}"): Rule("case.read", "case"),
    ("POST", "/cases/{case_id}/contacts"): Rule(
        "case.write",
        "case",
        body=lambda w, r, n: {
            "channel": "call",
            "party": "debtor",
            "started_at": "2026-11-21T10:00:00+08:00",
            "outcome": "no_answer",
        },
    ),
    ("POST", "/cases/{case_id}/promises"): Rule(
        "case.write", "case", body=lambda w, r, n: {"parts": [{"due_on": "2026-11-28", "amount": "10.00"}]}
    ),
    ("GET", "/requests"): Rule("request.read", list_key="loan_no"),
    ("POST", "/loans/{loan_no}/requests"): Rule(
        "request.write", "loan", body=lambda w, r, n: {"kind": "extension", "reason": "hardship", "months": 1}
    ),
    ("GET", "/approvals"): Rule("approval.decide", list_key="loan_no"),
    ("POST", "/requests/{request_id}/decision"): Rule(
        "approval.decide", "request", body=lambda w, r, n: {"approve": False, "comment": "no"}
    ),
    ("GET", "/reports/portfolio"): Rule("report.read"),
    ("GET", "/audit"): Rule("audit.read"),
    ("GET", "/users"): Rule("user.manage"),
    ("POST", "/users"): Rule(
        "user.manage",
        body=lambda w, r, n: {"username": f"new-{n}", "password": "new-user-pass-1", "role": "auditor"},
    ),
}

SCOPED = {Scope.OFFICER, Scope.COLLECTOR, Scope.AGENCY, Scope.BORROWER}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return build_world(tmp_path_factory.mktemp("authz"))


@pytest.fixture(scope="module")
def client(world: World) -> Iterator[TestClient]:
    with TestClient(create_app(world.app), raise_server_exceptions=False) as c:
        yield c


def api_routes(client: TestClient) -> set[tuple[str, str]]:
    paths = client.app.openapi()["paths"]  # type: ignore[attr-defined]
    return {
        (method.upper(), path.removeprefix(API))
        for path, ops in paths.items()
        for method in ops
        if path.startswith(API)
    }


def test_every_api_endpoint_has_an_authorization_rule(client: TestClient) -> None:
    missing = api_routes(client) - RULES.keys()
    assert not missing, f"endpoints without a rule in the authorization matrix: {sorted(missing)}"
    stale = RULES.keys() - api_routes(client)
    assert not stale, f"rules for endpoints that no longer exist: {sorted(stale)}"


def test_every_rule_names_a_permission_of_the_role_book() -> None:
    perms = load().permissions
    assert {r.permission for r in RULES.values() if r.permission} <= perms.keys()


def test_the_auditor_reads_everything_and_writes_nothing() -> None:
    auditor = load().role("auditor")
    assert all(p.endswith(".read") for p in auditor.permissions)
    assert auditor.scope is Scope.ALL
    readable = {p for p in load().permissions if p.endswith(".read") and p != "audit.read"}
    assert readable <= auditor.permissions | {"audit.read"}


def _path(template: str, w: World, which: str) -> str:
    s = getattr(w, which)
    return (
        template.replace("{loan_no}", s.loan_no)
        .replace("{borrower_no}", s.borrower_no)
        .replace("{case_id}", str(s.case_id))
        .replace("{alert_id}", str(s.alert_id))
        .replace("{request_id}", str(s.request_id))
        .replace("{step}", "acknowledge")
    )


def _visible_loans(w: World, role: str) -> set[str] | None:
    """What a role may see, computed here from the scope definitions (None: everything)."""
    scope = load().role(role).scope
    user = w.usernames[role]
    queries = {
        Scope.OFFICER: ("SELECT loan_no FROM loans WHERE officer = :u", {"u": user}),
        Scope.BORROWER: (
            "SELECT l.loan_no FROM loans l JOIN borrowers b ON b.id = l.borrower_id WHERE b.borrower_no = :b",
            {"b": w.own.borrower_no},
        ),
        Scope.COLLECTOR: (
            "SELECT l.loan_no FROM loans l JOIN collection_cases c ON c.loan_id = l.id WHERE c.collector = :u",
            {"u": user},
        ),
        Scope.AGENCY: (
            "SELECT l.loan_no FROM loans l JOIN collection_cases c ON c.loan_id = l.id WHERE c.placement_agency_id = 7",
            {},
        ),
    }
    if scope not in queries:
        return None
    sql, params = queries[scope]
    with w.app.engine.connect() as c:
        return {r[0] for r in c.execute(text(sql), params)}


def _audit_count(w: World, actor: str, action: str | None = None) -> int:
    sql = "SELECT COUNT(*) FROM audit_log WHERE actor = :a" + (" AND action = :x" if action else "")
    with w.app.engine.connect() as c:
        return int(c.execute(text(sql), {"a": actor, "x": action}).scalar_one())


def _no_raw_pii(w: World, body: str, where: str) -> None:
    leaked = [v for v in w.raw_pii if len(v) >= 8 and v in body]
    assert not leaked, f"{where}: unmasked personal data in the response: {leaked[:3]}"


CELLS = [
    (m, p, role, which)
    for (m, p), rule in RULES.items()
    if not rule.public
    for role in ROLE_NAMES
    for which in (("own", "other") if rule.subject else ("own",))
]
STATUSES: dict[tuple[str, str, str, str], int] = {}
_counter = iter(range(1_000_000))


@pytest.mark.parametrize(("method", "template", "role", "which"), CELLS, ids=lambda v: str(v))
def test_authorization_cell(
    client: TestClient, world: World, method: str, template: str, role: str, which: str
) -> None:
    rule = RULES[(method, template)]
    n = next(_counter)
    path = API + _path(template, world, which)
    body = rule.body(world, role, n) if rule.body else None
    headers = {"Authorization": f"Bearer {world.tokens[role]}", **(rule.headers(n) if rule.headers else {})}
    username = world.usernames[role]
    audits_before = _audit_count(world, username)
    reveals_before = _audit_count(world, username, "pii.reveal")
    r = client.request(method, path, json=body, headers=headers)
    where = f"{method} {path} as {role}"
    STATUSES[(method, template, role, which)] = r.status_code
    assert r.status_code < 500, f"{where}: {r.status_code} {r.text}"
    role_def = load().role(role)
    allowed = rule.permission is None or rule.permission in role_def.permissions
    if not allowed:
        assert r.status_code == 403, f"{where}: expected 403, got {r.status_code} {r.text}"
        assert r.headers["content-type"].startswith("application/problem+json")
        return
    scoped_out = which == "other" and role_def.scope in SCOPED and rule.subject is not None
    if scoped_out:
        assert r.status_code == 404, f"{where}: others' data must look absent, got {r.status_code} {r.text}"
        _no_raw_pii(world, r.text, where)
        return
    assert r.status_code not in (401, 403, 404), f"{where}: own data refused: {r.status_code} {r.text}"
    if template.endswith("/reveal"):
        assert r.status_code == 200
        assert r.json()["value"] in world.raw_pii
        assert _audit_count(world, username, "pii.reveal") == reveals_before + 1, "a reveal must be audited"
    else:
        _no_raw_pii(world, r.text, where)
    if method != "GET" and 200 <= r.status_code < 300 and template != "/session":
        assert _audit_count(world, username) > audits_before, f"{where}: a write without an audit entry"
    if rule.list_key and r.status_code == 200:
        data = r.json()
        items = data["items"] if isinstance(data, dict) else data
        visible = _visible_loans(world, role)
        key = rule.list_key
        if visible is not None:
            if key == "borrower_no":
                with world.app.engine.connect() as c:
                    allowed_b = {
                        row[0]
                        for row in c.execute(
                            text(
                                "SELECT DISTINCT b.borrower_no FROM borrowers b JOIN loans l ON l.borrower_id = b.id "
                                "WHERE l.loan_no IN (SELECT value FROM json_each(:v))"
                            ),
                            {"v": json.dumps(sorted(visible))},
                        )
                    }
                outside = {i[key] for i in items} - allowed_b
            else:
                outside = {i[key] for i in items} - visible
            assert not outside, f"{where}: items outside the scope: {sorted(outside)[:5]}"
            assert world.other.loan_no not in {i.get("loan_no") for i in items}


@pytest.mark.parametrize(("method", "template"), sorted(RULES))
def test_nobody_unauthenticated_gets_in(client: TestClient, world: World, method: str, template: str) -> None:
    rule = RULES[(method, template)]
    path = API + _path(template, world, "own")
    fresh = TestClient(client.app, raise_server_exceptions=False)
    r = fresh.request(method, path, json=rule.body(world, "admin", 0) if rule.body else None)
    if rule.public:
        assert r.status_code in (401, 422), r.text  # a login without credentials fails
        return
    assert r.status_code == 401, f"{method} {path}: {r.status_code} {r.text}"
    assert r.headers["content-type"].startswith("application/problem+json")


def test_masked_fields_stay_masked_in_the_loan_view(client: TestClient, world: World) -> None:
    r = client.get(f"{API}/loans/{world.own.loan_no}", headers={"Authorization": f"Bearer {world.tokens['admin']}"})
    borrower = r.json()["borrower"]
    assert borrower["masked"] is True
    assert "*" in borrower["id_number"] and "*" in borrower["mobile"]


def test_reveals_are_listed_for_the_auditor(client: TestClient, world: World) -> None:
    admin = {"Authorization": f"Bearer {world.tokens['admin']}"}
    client.post(f"{API}/borrowers/{world.own.borrower_no}/reveal", json={"field": "id_number"}, headers=admin)
    auditor = {"Authorization": f"Bearer {world.tokens['auditor']}"}
    page = client.get(f"{API}/audit", params={"action": "pii.reveal", "actor": "admin-1"}, headers=auditor).json()
    assert page["total"] >= 1
    assert page["items"][0]["after"] == {"field": "id_number"}
    assert page["items"][0]["entity_id"] == world.own.borrower_no


def test_the_matrix_saw_successes_as_well_as_refusals() -> None:
    """Guards the matrix itself: allowed cells must mostly succeed, or the test proves nothing."""
    if len(STATUSES) < len(CELLS):
        pytest.skip("run with the whole matrix")
    ok = sum(1 for s in STATUSES.values() if 200 <= s < 300)
    assert ok >= len(CELLS) // 3, sorted(STATUSES.items())
    business = {k: s for k, s in STATUSES.items() if s in (409, 422)}
    assert len(business) <= len(CELLS) // 10, sorted(business.items())

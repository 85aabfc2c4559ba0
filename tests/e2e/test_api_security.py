"""Sessions, CSRF, login rate limiting, API tokens, idempotent payments and the append-only audit log,
through the HTTP API (in-process ASGI) on SQLite, and the audit log's guard on PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from daihou import bootstrap
from daihou.api.app import create_app
from daihou.config import Settings
from daihou.security import audit, policy, sessions, tokens, users
from daihou.security.principal import SYSTEM

API = "/api/v1"
NOW = datetime(2026, 11, 21, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
PASSWORD = "secret-pass-2026"


class Clock:
    def __init__(self) -> None:
        self.value = NOW

    def now(self) -> datetime:
        return self.value


@pytest.fixture
def app(tmp_path: Path) -> bootstrap.App:
    application = bootstrap.build(Settings(database_url=f"sqlite:///{tmp_path / 'sec.db'}", data_dir=tmp_path), Clock())
    application.initialise()
    for name, role in (("admin", "admin"), ("aud", "auditor"), ("cs", "customer_service")):
        made = users.add_user(application, name, PASSWORD, role)
        assert not isinstance(made, users.UserRefused)
    return application


@pytest.fixture
def client(app: bootstrap.App) -> Iterator[TestClient]:
    with TestClient(create_app(app), raise_server_exceptions=False) as c:
        yield c


def login(client: TestClient, username: str = "admin", password: str = PASSWORD) -> dict[str, object]:
    r = client.post(f"{API}/session", json={"username": username, "password": password})
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def test_login_sets_an_httponly_lax_session_cookie_and_a_readable_csrf_cookie(client: TestClient) -> None:
    r = client.post(f"{API}/session", json={"username": "admin", "password": PASSWORD})
    cookies = r.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith("daihou_session="))
    csrf = next(c for c in cookies if c.startswith("daihou_csrf="))
    assert "HttpOnly" in session and "SameSite=lax" in session
    assert "HttpOnly" not in csrf and "SameSite=lax" in csrf
    assert client.get(f"{API}/session").json()["username"] == "admin"


def test_the_session_token_is_stored_only_as_a_digest(client: TestClient, app: bootstrap.App) -> None:
    login(client)
    token = client.cookies["daihou_session"]
    with app.engine.connect() as c:
        stored = c.execute(text("SELECT token_sha256 FROM user_sessions")).scalar_one()
    assert stored == sessions.digest(token) and token not in stored


def test_a_wrong_password_is_refused_without_saying_which_part_was_wrong(client: TestClient) -> None:
    for username in ("admin", "nobody"):
        r = client.post(f"{API}/session", json={"username": username, "password": "wrong-pass-0"})
        assert r.status_code == 401
        assert r.json()["code"] == "bad_credentials"
        assert r.headers["content-type"] == "application/problem+json"


def test_unsafe_requests_with_a_session_need_the_csrf_token(client: TestClient) -> None:
    login(client)
    body = {"username": "new-user", "password": "new-user-pass-1", "role": "auditor"}
    refused = client.post(f"{API}/users", json=body)
    assert refused.status_code == 403 and refused.json()["code"] == "csrf_failed"
    forged = client.post(f"{API}/users", json=body, headers={"X-CSRF-Token": "forged"})
    assert forged.status_code == 403
    ok = client.post(f"{API}/users", json=body, headers={"X-CSRF-Token": client.cookies["daihou_csrf"]})
    assert ok.status_code == 201, ok.text


def test_the_csrf_cookie_alone_is_not_enough_it_must_be_the_sessions_own_token(client: TestClient) -> None:
    login(client)
    client.cookies.set("daihou_csrf", "attacker-chosen")
    r = client.post(
        f"{API}/users",
        json={"username": "x-user", "password": "new-user-pass-1", "role": "auditor"},
        headers={"X-CSRF-Token": "attacker-chosen"},
    )
    assert r.status_code == 403


def test_bearer_tokens_need_no_csrf_token(client: TestClient, app: bootstrap.App) -> None:
    token = tokens.issue(app, "admin", "system").token
    r = client.post(
        f"{API}/users",
        json={"username": "by-token", "password": "new-user-pass-1", "role": "auditor"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 201


def test_logins_are_rate_limited_per_username_and_address(client: TestClient) -> None:
    limit = policy.load().max_failures_per_user_ip
    for _ in range(limit):
        assert client.post(f"{API}/session", json={"username": "admin", "password": "wrong-pass-0"}).status_code == 401
    r = client.post(f"{API}/session", json={"username": "admin", "password": PASSWORD})
    assert r.status_code == 429 and r.json()["code"] == "rate_limited"
    assert int(r.headers["Retry-After"]) == policy.load().login_window_s
    # another user from the same address is not locked out by someone else's failures
    assert client.post(f"{API}/session", json={"username": "aud", "password": PASSWORD}).status_code == 201


def test_the_rate_limit_lifts_when_the_window_has_passed(client: TestClient, app: bootstrap.App) -> None:
    for _ in range(policy.load().max_failures_per_user_ip):
        client.post(f"{API}/session", json={"username": "admin", "password": "wrong-pass-0"})
    app.clock.value = NOW + timedelta(seconds=policy.load().login_window_s + 1)  # type: ignore[attr-defined]
    assert client.post(f"{API}/session", json={"username": "admin", "password": PASSWORD}).status_code == 201


def test_a_session_ends_after_the_idle_timeout(client: TestClient, app: bootstrap.App) -> None:
    login(client)
    app.clock.value = NOW + timedelta(seconds=policy.load().idle_timeout_s - 5)  # type: ignore[attr-defined]
    assert client.get(f"{API}/session").status_code == 200
    app.clock.value += timedelta(seconds=policy.load().idle_timeout_s + 1)  # type: ignore[attr-defined]
    assert client.get(f"{API}/session").status_code == 401


def test_a_busy_session_still_ends_at_its_lifetime(client: TestClient, app: bootstrap.App) -> None:
    login(client)
    step = timedelta(seconds=policy.load().idle_timeout_s - 60)
    end = NOW + timedelta(seconds=policy.load().session_lifetime_s)
    while app.clock.value + step < end:  # type: ignore[attr-defined]
        app.clock.value += step  # type: ignore[attr-defined]
        assert client.get(f"{API}/session").status_code == 200
    app.clock.value = end  # type: ignore[attr-defined]
    assert client.get(f"{API}/session").status_code == 401


def test_logout_ends_the_session_on_the_server(client: TestClient) -> None:
    login(client)
    stolen = client.cookies["daihou_session"]
    assert client.delete(f"{API}/session", headers={"X-CSRF-Token": client.cookies["daihou_csrf"]}).status_code == 204
    client.cookies.set("daihou_session", stolen)
    assert client.get(f"{API}/session").status_code == 401


def test_a_password_change_ends_open_sessions(client: TestClient, app: bootstrap.App) -> None:
    login(client)
    users.set_password(app, "admin", "another-pass-2026")
    assert client.get(f"{API}/session").status_code == 401


def test_revoked_and_disabled_users_tokens_stop_working(client: TestClient, app: bootstrap.App) -> None:
    issued = tokens.issue(app, "aud", "reporting")
    h = {"Authorization": f"Bearer {issued.token}"}
    assert client.get(f"{API}/session", headers=h).json()["via"] == "token"
    tokens.revoke(app, issued.id)
    assert client.get(f"{API}/session", headers=h).status_code == 401
    other = tokens.issue(app, "cs", "teller")
    users.set_active(app, "cs", False)
    assert client.get(f"{API}/session", headers={"Authorization": f"Bearer {other.token}"}).status_code == 401


def test_a_token_is_never_wider_than_its_user(app: bootstrap.App) -> None:
    with pytest.raises(ValueError, match="wider role"):
        tokens.issue(app, "aud", "escalate", role="admin")
    assert tokens.issue(app, "admin", "read-only", role="auditor").role == "auditor"


def test_a_payment_without_an_idempotency_key_is_refused(client: TestClient, app: bootstrap.App) -> None:
    h = {"Authorization": f"Bearer {tokens.issue(app, 'cs', 'teller').token}"}
    r = client.post(f"{API}/loans/NOPE/payments", json={"amount": "1.00", "paid_on": "2026-11-21"}, headers=h)
    assert r.status_code == 422 and "idempotency-key" in r.json()["detail"]


def test_users_are_added_by_the_administrator_only_and_audited(client: TestClient, app: bootstrap.App) -> None:
    admin = {"Authorization": f"Bearer {tokens.issue(app, 'admin', 'ops').token}"}
    aud = {"Authorization": f"Bearer {tokens.issue(app, 'aud', 'look').token}"}
    body = {"username": "wang", "password": "wang-pass-2026", "role": "collector"}
    assert client.post(f"{API}/users", json=body, headers=aud).status_code == 403
    assert client.post(f"{API}/users", json=body, headers=admin).status_code == 201
    again = client.post(f"{API}/users", json=body, headers=admin)
    assert again.status_code == 409 and again.json()["code"] == "user_exists"
    entries, _ = audit.entries(app, entity="user", entity_id="wang")
    assert entries[0]["action"] == "user.add" and entries[0]["actor"] == "admin"
    assert "wang-pass-2026" not in str(entries)


def test_every_error_is_a_problem_document(client: TestClient) -> None:
    r = client.get(f"{API}/loans")
    assert r.status_code == 401
    assert set(r.json()) >= {"type", "title", "status", "detail"}
    assert r.headers["content-type"] == "application/problem+json"
    missing = client.get("/api/v1/nothing-here")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"


# ---------------------------------------------------------------- PostgreSQL: the database guards the audit log


@pytest.fixture
def pg_app() -> Iterator[bootstrap.App]:
    admin = os.environ.get("DAIHOU_TEST_PG_URL")
    if not admin:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but DAIHOU_TEST_PG_URL is not set")
        pytest.skip("DAIHOU_TEST_PG_URL is not set")
    name = f"daihou_sec_{os.getpid()}"
    eng = create_engine(admin.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    with eng.connect() as c:
        c.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        c.execute(text(f"CREATE DATABASE {name}"))
    application = bootstrap.build(Settings(database_url=admin.rsplit("/", 1)[0] + "/" + name), Clock())
    application.initialise()
    yield application
    application.engine.dispose()
    with eng.connect() as c:
        c.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    eng.dispose()


def test_postgresql_refuses_to_change_or_delete_audit_entries(pg_app: bootstrap.App) -> None:
    audit.record(pg_app, SYSTEM, "test.write", "thing", 1, {"a": 1}, {"a": 2})
    for sql in ("UPDATE audit_log SET actor = 'someone else'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"), pg_app.engine.begin() as c:
            c.execute(text(sql))
    entries, total = audit.entries(pg_app)
    assert total == 1 and entries[0]["actor"] == "system" and entries[0]["before"] == {"a": 1}

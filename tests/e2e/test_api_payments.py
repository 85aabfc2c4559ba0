"""Repayments through the API: the Idempotency-Key makes a replay return the first answer and move no
money; a key in flight is not run twice; refusals are problem documents with the ledger's code."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).parent))
from api_world import NOW, World, build_world

from daihou.api.app import create_app
from daihou.security.wiring import store

API = "/api/v1"
PAID_ON = "2026-11-21"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return build_world(tmp_path_factory.mktemp("payments"), loans=150)


@pytest.fixture(scope="module")
def client(world: World) -> Iterator[TestClient]:
    with TestClient(create_app(world.app), raise_server_exceptions=False) as c:
        yield c


def _teller(world: World, key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.tokens['customer_service']}", "Idempotency-Key": key}


def _received(world: World, loan_no: str) -> int:
    with world.app.engine.connect() as c:
        return int(c.execute(text("SELECT received_fen FROM loans WHERE loan_no = :n"), {"n": loan_no}).scalar_one())


def _pay(client: TestClient, world: World, key: str, amount: str = "2.00", loan_no: str | None = None) -> Any:
    return client.post(
        f"{API}/loans/{loan_no or world.own.loan_no}/payments",
        json={"amount": amount, "paid_on": PAID_ON},
        headers=_teller(world, key),
    )


def test_a_payment_is_accepted_and_allocated(client: TestClient, world: World) -> None:
    before = _received(world, world.own.loan_no)
    r = _pay(client, world, "pay-1")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["code"] == "accepted" and body["reference"] == "pay-1"
    assert sum(int(p["amount"].replace(".", "")) for p in body["allocation"]) == 200
    assert _received(world, world.own.loan_no) == before + 200


def test_a_replay_returns_the_first_response_and_moves_no_money(client: TestClient, world: World) -> None:
    first = _pay(client, world, "pay-2")
    after_first = _received(world, world.own.loan_no)
    again = _pay(client, world, "pay-2")
    assert again.status_code == first.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert _received(world, world.own.loan_no) == after_first


def test_the_same_key_for_another_request_is_refused(client: TestClient, world: World) -> None:
    _pay(client, world, "pay-3", "3.00")
    r = _pay(client, world, "pay-3", "4.00")
    assert r.status_code == 422 and r.json()["code"] == "idempotency_key_reused"


def test_concurrent_requests_with_one_key_move_money_once(client: TestClient, world: World) -> None:
    before = _received(world, world.other.loan_no)
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: _pay(client, world, "pay-4", "5.00", world.other.loan_no), range(6)))
    assert _received(world, world.other.loan_no) == before + 500
    codes = sorted(a.status_code for a in answers)
    assert codes.count(201) >= 1 and set(codes) <= {201, 409}, codes
    assert all(a.json()["code"] == "idempotency_in_progress" for a in answers if a.status_code == 409)


def test_a_claim_left_by_a_dead_request_is_taken_over_later(client: TestClient, world: World) -> None:
    from daihou.api.routes.loans import _request_digest
    from daihou.api.schemas import PaymentCreate

    digest = _request_digest(world.own.loan_no, PaymentCreate(amount="6.00", paid_on=PAID_ON))  # type: ignore[arg-type]
    username = world.usernames["customer_service"]
    assert store(world.app).reserve_key(username, "pay-5", digest, NOW, NOW) is None  # then the request "dies"
    busy = _pay(client, world, "pay-5", "6.00")
    assert busy.status_code == 409 and busy.headers["Retry-After"] == "1"
    world.app.clock.value = NOW.replace(minute=5)  # type: ignore[attr-defined]
    try:
        assert _pay(client, world, "pay-5", "6.00").status_code == 201
    finally:
        world.app.clock.value = NOW  # type: ignore[attr-defined]


def test_a_refused_payment_is_a_problem_with_the_ledger_code_and_is_kept(client: TestClient, world: World) -> None:
    r = _pay(client, world, "pay-6", "1.00", "NO-SUCH-LOAN")
    assert r.status_code == 404 and r.json()["code"] == "loan_not_found"
    assert r.headers["content-type"] == "application/problem+json"
    zero = _pay(client, world, "pay-7", "0.00")
    assert zero.status_code == 422 and zero.json()["code"] == "invalid_amount"


def test_every_payment_is_in_the_audit_log(client: TestClient, world: World) -> None:
    _pay(client, world, "pay-8", "1.50")
    with world.app.engine.connect() as c:
        row = c.execute(
            text("SELECT after_json FROM audit_log WHERE action = 'payment.post' AND after_json LIKE '%pay-8%'")
        ).scalar_one()
    assert '"amount": "1.50"' in row and '"http_status": 201' in row

"""The borrower portal over HTTP (FastAPI's TestClient) on a small demo book: sign-in with password and
SMS code, borrower scoping, the payment gateway's signed and idempotent callback, uploads, requests,
messages."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, insert, select

from daihou.channels import payment_gateway as pg
from daihou.storage.portal_tables import payment_orders, portal_requests, portal_uploads
from daihou.storage.tables import borrowers, inbox_messages, loans, transactions
from tests.e2e.browser.book import FakeSms, build_book

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, dict[str, str]]:
    return build_book(tmp_path_factory.mktemp("portal"), loans=120)


@pytest.fixture(scope="module")
def sms() -> Iterator[FakeSms]:
    fake = FakeSms()
    yield fake
    fake.server.shutdown()


@pytest.fixture
def client(book: tuple[Any, dict[str, str]], sms: FakeSms, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    from daihou.api.app import create_app

    monkeypatch.setenv("DAIHOU_PAYMENT_FAKE", "true")
    monkeypatch.setenv("DAIHOU_CHANNELS_SMS_ENDPOINT", sms.url)
    monkeypatch.setenv("DAIHOU_CHANNELS_SMS_ACCESS_KEY_ID", "portal-test")
    monkeypatch.setenv("DAIHOU_CHANNELS_SMS_ACCESS_KEY_SECRET", "portal-test-key-51aa")
    monkeypatch.setenv("DAIHOU_PORTAL_CODES_PER_HOUR", "1000")  # the tests sign in many times within the hour
    return TestClient(create_app(book[0]))


def sign_in(client: TestClient, sms: FakeSms, mobile: str, password: str) -> str:
    """Password, then the SMS code; returns the session's CSRF token."""
    r = client.post("/portal/login", data={"mobile": mobile, "password": password})
    assert r.status_code == 200, r.text
    r = client.post("/portal/verify", data={"code": sms.last_code(mobile)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/portal/home"
    home = client.get("/portal/home")
    assert home.status_code == 200
    match = re.search(r'name="csrf_token" value="([^"]+)"', home.text)
    assert match
    return match.group(1)


def borrower_of(app: Any, users: dict[str, str]) -> dict[str, Any]:
    with app.engine.connect() as conn:
        row = conn.execute(select(borrowers).where(borrowers.c.mobile == users["borrower"])).mappings().first()
        loan = conn.execute(select(loans.c.loan_no).where(loans.c.borrower_id == row["id"])).scalar()
    return {**row, "loan_no": loan}


def test_a_borrower_needs_the_password_and_the_sms_code(client: TestClient, book: Any, sms: FakeSms) -> None:
    _, users = book
    assert client.get("/portal/home", follow_redirects=False).headers["location"] == "/portal/login"
    wrong = client.post("/portal/login", data={"mobile": users["borrower"], "password": "not-it-123"})
    assert wrong.status_code == 401
    r = client.post("/portal/login", data={"mobile": users["borrower"], "password": users["password"]})
    assert r.status_code == 200 and 'name="code"' in r.text
    code = sms.last_code(users["borrower"])
    bad = "000000" if code != "000000" else "111111"
    assert client.post("/portal/verify", data={"code": bad}).status_code == 401
    assert client.get("/portal/home", follow_redirects=False).status_code == 303
    ok = client.post("/portal/verify", data={"code": code}, follow_redirects=False)
    assert ok.status_code == 303
    assert client.get("/portal/home").status_code == 200
    # the SMS went through the adapter with the OTP template and only the code as its parameter
    last = sms.messages[-1]
    assert last["TemplateCode"] == "SMS_PORTAL_OTP" and last["PhoneNumbers"] == users["borrower"]


def test_an_sms_code_allows_five_tries_and_opens_one_session(client: TestClient, book: Any, sms: FakeSms) -> None:
    _, users = book
    client.post("/portal/login", data={"mobile": users["borrower"], "password": users["password"]})
    code = sms.last_code(users["borrower"])
    bad = "000000" if code != "000000" else "111111"
    for _ in range(5):
        assert client.post("/portal/verify", data={"code": bad}).status_code == 401
    assert client.post("/portal/verify", data={"code": code}).status_code == 400  # too many tries: ask again
    client.post("/portal/login", data={"mobile": users["borrower"], "password": users["password"]})
    challenge = client.cookies.get("daihou_portal_challenge")
    code = sms.last_code(users["borrower"])
    assert client.post("/portal/verify", data={"code": code}, follow_redirects=False).status_code == 303
    client.cookies.set("daihou_portal_challenge", challenge, path="/portal")
    assert client.post("/portal/verify", data={"code": code}).status_code == 400  # used once already


def test_at_most_so_many_sms_codes_an_hour(
    client: TestClient, book: Any, sms: FakeSms, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, users = book
    monkeypatch.setenv("DAIHOU_PORTAL_CODES_PER_HOUR", "2")  # this account has had more already
    sent = len(sms.messages)
    r = client.post("/portal/login", data={"mobile": users["borrower"], "password": users["password"]})
    assert r.status_code == 429 and len(sms.messages) == sent


def test_five_wrong_passwords_lock_the_account(client: TestClient, book: Any, sms: FakeSms) -> None:
    app, users = book
    from daihou.web.portal_auth import enrol

    store = app.portal_store()
    with app.engine.connect() as conn:
        mobile = conn.execute(
            select(borrowers.c.mobile).where(borrowers.c.mobile != users["borrower"], borrowers.c.mobile.is_not(None))
        ).scalar()
    assert enrol(store, mobile, "right-pass-2026", app.clock.now()) is not None
    for _ in range(5):
        assert client.post("/portal/login", data={"mobile": mobile, "password": "wrong-pass-1"}).status_code == 401
    locked = client.post("/portal/login", data={"mobile": mobile, "password": "right-pass-2026"})
    assert locked.status_code == 429
    unknown = client.post("/portal/login", data={"mobile": "13900000000", "password": "right-pass-2026"})
    assert unknown.status_code == 401  # no account: the same answer as a wrong password


def test_a_borrower_sees_only_own_loans(client: TestClient, book: Any, sms: FakeSms) -> None:
    app, users = book
    me = borrower_of(app, users)
    sign_in(client, sms, users["borrower"], users["password"])
    mine = client.get(f"/portal/loans/{me['loan_no']}")
    assert mine.status_code == 200 and 'id="schedule"' in mine.text
    with app.engine.connect() as conn:
        other = conn.execute(select(loans.c.loan_no).where(loans.c.borrower_id != me["id"]).limit(1)).scalar()
    assert client.get(f"/portal/loans/{other}").status_code == 404
    assert other not in client.get("/portal/home").text


def _callback(order_no: str, amount_fen: int, txn: str, status: str = "paid") -> dict[str, str]:
    gateway = pg.from_settings(pg.PaymentGatewaySettings(fake=True), "http://testserver/portal")
    assert gateway is not None
    form = {"merchant_id": gateway.merchant_id, "order_no": order_no, "txn_id": txn, "amount_fen": str(amount_fen),
            "status": status, "timestamp": "20261121100000"}  # fmt: skip
    form["sign"] = gateway.sign(form)
    return form


def _order(client: TestClient, loan_no: str, csrf: str, amount: str) -> str:
    r = client.post(f"/portal/loans/{loan_no}/pay", data={"amount": amount, "csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303 and "/portal/_fake_gateway/pay?" in r.headers["location"], r.text
    return re.search(r"order_no=([A-Z0-9]+)", r.headers["location"]).group(1)  # type: ignore[union-attr]


def _posted(app: Any, txn: str) -> int:
    with app.engine.connect() as conn:
        return int(conn.execute(select(func.count()).where(transactions.c.reference == f"GW:{txn}")).scalar_one())


def test_a_payment_posts_once_whatever_the_number_of_callbacks(client: TestClient, book: Any, sms: FakeSms) -> None:
    app, users = book
    me = borrower_of(app, users)
    csrf = sign_in(client, sms, users["borrower"], users["password"])
    order_no = _order(client, me["loan_no"], csrf, "12.34")
    form = _callback(order_no, 1234, "TXN-ONCE")
    for _ in range(3):
        r = client.post("/portal/pay/notify", data=form)
        assert r.status_code == 200 and r.text == "success"
    assert _posted(app, "TXN-ONCE") == 1
    page = client.get(f"/portal/pay/return?order_no={order_no}")
    assert 'data-status="paid"' in page.text
    # another transaction for the same order is refused, and moves nothing
    again = client.post("/portal/pay/notify", data=_callback(order_no, 1234, "TXN-OTHER"))
    assert again.status_code == 409 and _posted(app, "TXN-OTHER") == 0


def test_a_forged_or_altered_callback_moves_no_money(client: TestClient, book: Any, sms: FakeSms) -> None:
    app, users = book
    me = borrower_of(app, users)
    csrf = sign_in(client, sms, users["borrower"], users["password"])
    order_no = _order(client, me["loan_no"], csrf, "50.00")
    forged = {**_callback(order_no, 5000, "TXN-FORGED"), "sign": "0" * 64}
    assert client.post("/portal/pay/notify", data=forged).status_code == 400
    altered = {**_callback(order_no, 5000, "TXN-ALTERED"), "amount_fen": "500000"}
    assert client.post("/portal/pay/notify", data=altered).status_code == 400
    wrong_amount = _callback(order_no, 4000, "TXN-SHORT")
    assert client.post("/portal/pay/notify", data=wrong_amount).text == "amount_mismatch"
    assert _posted(app, "TXN-FORGED") + _posted(app, "TXN-ALTERED") + _posted(app, "TXN-SHORT") == 0
    with app.engine.connect() as conn:
        status = conn.execute(select(payment_orders.c.status).where(payment_orders.c.order_no == order_no)).scalar()
    assert status == "created"


def test_paying_needs_the_session_csrf_token(client: TestClient, book: Any, sms: FakeSms) -> None:
    app, users = book
    me = borrower_of(app, users)
    sign_in(client, sms, users["borrower"], users["password"])
    r = client.post(f"/portal/loans/{me['loan_no']}/pay", data={"amount": "1.00", "csrf_token": "forged"})
    assert r.status_code == 403


def test_uploads_are_stored_by_sha256_and_limited_in_type(client: TestClient, book: Any, sms: FakeSms) -> None:
    import hashlib

    app, users = book
    csrf = sign_in(client, sms, users["borrower"], users["password"])
    ok = client.post("/portal/uploads", data={"kind": "income_proof", "csrf_token": csrf},
                     files={"file": ("salary.pdf", PDF, "application/pdf")})  # fmt: skip
    assert ok.status_code == 200
    digest = hashlib.sha256(PDF).hexdigest()
    assert (Path(app.settings.data_dir) / "uploads" / digest).read_bytes() == PDF
    exe = client.post("/portal/uploads", data={"kind": "income_proof", "csrf_token": csrf},
                      files={"file": ("salary.pdf", b"MZ\x90\x00binary", "application/pdf")})  # fmt: skip
    assert exe.status_code == 400
    html = client.post("/portal/uploads", data={"kind": "other", "csrf_token": csrf},
                       files={"file": ("x.html", b"<html>", "text/html")})  # fmt: skip
    assert html.status_code == 400
    with app.engine.connect() as conn:
        stored = conn.execute(select(portal_uploads.c.sha256, portal_uploads.c.size_bytes)).all()
    assert [(s.sha256, s.size_bytes) for s in stored] == [(digest, len(PDF))]


def test_an_upload_over_the_size_limit_is_refused(
    client: TestClient, book: Any, sms: FakeSms, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, users = book
    monkeypatch.setenv("DAIHOU_PORTAL_MAX_UPLOAD_BYTES", "1000")
    csrf = sign_in(client, sms, users["borrower"], users["password"])
    big = PDF + b"0" * 2000
    r = client.post("/portal/uploads", data={"kind": "income_proof", "csrf_token": csrf},
                    files={"file": ("big.pdf", big, "application/pdf")})  # fmt: skip
    assert r.status_code == 400


def test_an_extension_request_goes_to_the_approval_inbox_and_a_hardship_request_is_kept_for_staff(
    client: TestClient, book: Any, sms: FakeSms
) -> None:
    app, users = book
    me = borrower_of(app, users)
    csrf = sign_in(client, sms, users["borrower"], users["password"])
    r = client.post("/portal/requests", data={"loan_no": me["loan_no"], "kind": "extension", "months": "3",
                                              "reason": "失业，收入中断", "csrf_token": csrf})  # fmt: skip
    assert r.status_code == 200
    with app.engine.connect() as conn:
        row = conn.execute(select(portal_requests)).mappings().one()
    assert (row["kind"], row["months"], row["status"]) == ("extension", 3, "forwarded")
    from daihou.workflow.recovery import list_requests

    [pending] = [r for r in list_requests(app, "pending") if r.loan_no == me["loan_no"]]
    assert (pending.kind, pending.periods, pending.maker) == ("extension", 3, f"portal:{me['borrower_no']}")
    r = client.post("/portal/requests", data={"loan_no": me["loan_no"], "kind": "hardship", "reason": "生病住院",
                                              "csrf_token": csrf})  # fmt: skip
    assert r.status_code == 200
    with app.engine.connect() as conn:
        statuses = conn.execute(select(portal_requests.c.kind, portal_requests.c.status)).all()
    assert ("hardship", "received") in statuses
    refused = client.post("/portal/requests", data={"loan_no": "NOT-MINE", "kind": "hardship", "reason": "x",
                                                    "csrf_token": csrf})  # fmt: skip
    assert refused.status_code == 400


def test_messages_are_the_borrowers_inbox_and_are_marked_read(client: TestClient, book: Any, sms: FakeSms) -> None:
    app, users = book
    me = borrower_of(app, users)
    with app.engine.begin() as conn:
        message = {"subject": "还款提醒", "body": "请于 11 月 25 日前还款", "locale": "zh-CN"}
        conn.execute(insert(inbox_messages).values(borrower_id=me["id"], created_at=app.clock.now(), **message))
    sign_in(client, sms, users["borrower"], users["password"])
    page = client.get("/portal/messages")
    assert "请于 11 月 25 日前还款" in page.text
    with app.engine.connect() as conn:
        unread = conn.execute(
            select(func.count()).where(inbox_messages.c.borrower_id == me["id"], inbox_messages.c.read_at.is_(None))
        ).scalar_one()
    assert unread == 0


def test_the_gateway_signature_covers_every_field() -> None:
    params = {"merchant_id": "m", "order_no": "P1", "amount_fen": "100", "txn_id": "T", "status": "paid",
              "timestamp": "20261121100000"}  # fmt: skip
    sign = pg.sign_params("k" * 32, params)
    assert (
        pg.canonical(params) == "amount_fen=100&merchant_id=m&order_no=P1&status=paid&timestamp=20261121100000&txn_id=T"
    )
    gateway = pg.HmacGateway("http://gw", "m", "k" * 32)
    assert gateway.verify({**params, "sign": sign}) == pg.Callback("P1", "T", 100, "paid")
    for key in params:
        changed = {**params, key: params[key] + "9", "sign": sign}
        assert isinstance(gateway.verify(changed), pg.Invalid), key
    assert isinstance(pg.HmacGateway("http://gw", "m", "other-key").verify({**params, "sign": sign}), pg.Invalid)


def test_a_gateway_secret_cannot_be_a_placeholder() -> None:
    with pytest.raises(ValueError, match="placeholder"):
        pg.PaymentGatewaySettings(secret="changeme")

"""The borrower self-service portal's pages (`/portal`).

Sign in with mobile number + password + SMS code (`portal_auth`); see own loans, the schedule, what
is due and overdue; pay through the payment gateway (order → cashier redirect → signed callback,
idempotent on the gateway's transaction id, posted with `service.ledger.post_payment`); upload
requested materials; ask for an extension or a hardship plan; read messages (the reminder inbox).
Every read is scoped to the signed-in borrower.
"""

from __future__ import annotations

import hashlib
import secrets
import urllib.parse
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Depends, Form, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

from daihou.channels import payment_gateway as pg
from daihou.channels.settings import ChannelSettings
from daihou.domain.money import Money
from daihou.service import ledger
from daihou.service.queries import NotFound, loan_view
from daihou.web import portal_auth as auth
from daihou.web.render import daihou_app, locale_of, page

router = APIRouter(prefix="/portal", include_in_schema=False)

SESSION_COOKIE = "daihou_portal"
CHALLENGE_COOKIE = "daihou_portal_challenge"
UPLOAD_KINDS = ("income_proof", "hardship_evidence", "id_copy", "other")
REQUEST_KINDS = ("extension", "hardship")
FAKE = "/_fake_gateway"


def settings() -> auth.PortalSettings:
    return auth.PortalSettings()


def _store(request: Request) -> Any:
    return daihou_app(request).portal_store()


def _now(request: Request) -> datetime:
    """Now in UTC: the portal's tables store UTC (SQLite keeps no offset)."""
    now: datetime = daihou_app(request).clock.now().astimezone(UTC)
    return now


def borrower(request: Request) -> dict[str, Any]:
    session = auth.resolve(_store(request), request.cookies.get(SESSION_COOKIE), _now(request))
    if session is None:
        raise HTTPException(303, headers={"Location": "/portal/login"})
    return session


Borrower = Annotated[dict[str, Any], Depends(borrower)]


def _csrf(session: dict[str, Any], token: str) -> None:
    if not secrets.compare_digest(session["csrf_token"], token or ""):
        raise HTTPException(403, "CSRF token missing or wrong")


def _sms(request: Request) -> Any:
    from daihou.channels.wiring import from_settings

    app = daihou_app(request)
    return from_settings(ChannelSettings(), app.engine, app.clock.now).get("sms")


def _security_account(request: Request) -> Any:
    """Borrower users of the security module (role "borrower", username = mobile) may sign in to the
    portal with the same password: their first sign-in opens a portal account with that hash."""

    def lookup(mobile: str) -> tuple[int, str] | None:
        from daihou.security.wiring import store

        user = store(daihou_app(request)).user_by_username(mobile)
        if user is None or user.role != "borrower" or not user.active or user.borrower_id is None:
            return None
        return user.borrower_id, user.password_hash

    return lookup


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


# ---------------------------------------------------------------- sign in


@router.get("", response_class=HTMLResponse)
@router.get("/", response_class=HTMLResponse)
def portal_root(request: Request) -> Response:
    return RedirectResponse("/portal/home", 303)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> Response:
    return page(request, "portal/login.html")


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, mobile: Annotated[str, Form()], password: Annotated[str, Form()]) -> Response:
    result = auth.start(
        _store(request), _sms(request), settings(), mobile, password, _now(request), locale_of(request),
        _security_account(request),
    )  # fmt: skip
    if isinstance(result, auth.Refusal):
        status = {"locked": 429, "too_many_codes": 429, "sms_failed": 503}.get(result.code, 401)
        return page(request, "portal/login.html", status, error=result.message_key, mobile=mobile)
    response = page(request, "portal/verify.html", shown_code=result.shown_code)
    response.set_cookie(CHALLENGE_COOKIE, result.challenge, max_age=300, httponly=True, samesite="strict",
                        path="/portal", secure=_secure(request))  # fmt: skip
    return response


@router.post("/verify", response_class=HTMLResponse)
def verify(request: Request, code: Annotated[str, Form()]) -> Response:
    result = auth.verify(_store(request), request.cookies.get(CHALLENGE_COOKIE, ""), code, _now(request))
    if isinstance(result, auth.Refusal):
        status = 401 if result.code == "code_wrong" else 400
        return page(request, "portal/verify.html", status, error=result.message_key)
    response = RedirectResponse("/portal/home", 303)
    response.set_cookie(SESSION_COOKIE, result.token, max_age=int(auth.SESSION_TTL.total_seconds()), httponly=True,
                        samesite="lax", path="/portal", secure=_secure(request))  # fmt: skip
    response.delete_cookie(CHALLENGE_COOKIE, path="/portal")
    return response


@router.post("/logout")
def logout(request: Request, session: Borrower, csrf_token: Annotated[str, Form()] = "") -> Response:
    _csrf(session, csrf_token)
    auth.end(_store(request), request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/portal/login", 303)
    response.delete_cookie(SESSION_COOKIE, path="/portal")
    return response


# ---------------------------------------------------------------- loans


def _summary(view: dict[str, Any], today: date) -> dict[str, Any]:
    """What is overdue, what falls due today or next, and the amount a payment should cover."""
    overdue = [i for i in view["installments"] if i["state"] == "overdue"]
    due = [i for i in view["installments"] if i["state"] == "due"]
    upcoming = [i for i in view["installments"] if i["state"] == "future"]
    overdue_fen = sum(Money.yuan(i["outstanding"]).fen for i in overdue)
    due_fen = sum(Money.yuan(i["outstanding"]).fen for i in due)
    nxt = upcoming[0] if upcoming else None
    suggested = overdue_fen + due_fen or (Money.yuan(nxt["outstanding"]).fen if nxt else 0)
    return {"overdue": overdue, "due": due, "next": nxt, "overdue_fen": overdue_fen, "due_fen": due_fen,
            "suggested_fen": suggested}  # fmt: skip


@router.get("/home", response_class=HTMLResponse)
def home(request: Request, session: Borrower) -> Response:
    app, store = daihou_app(request), _store(request)
    rows = []
    for loan in store.loans_of(session["borrower_id"]):
        view = loan_view(app.uow(), loan["loan_no"])
        if isinstance(view, NotFound):
            continue
        rows.append({"loan": loan, "view": view, "summary": _summary(view, app.today())})
    unread = sum(1 for m in store.messages(session["borrower_id"]) if m["read_at"] is None)
    who = store.borrower(session["borrower_id"])
    return page(request, "portal/home.html", session=session, rows=rows, unread=unread, who=who)


def _own_view(request: Request, session: dict[str, Any], loan_no: str) -> tuple[dict[str, Any], dict[str, Any]]:
    loan = _store(request).loan_of(session["borrower_id"], loan_no)
    if loan is None:
        raise HTTPException(404, "no such loan")  # another borrower's loan looks the same as none
    view = loan_view(daihou_app(request).uow(), loan_no)
    if isinstance(view, NotFound):
        raise HTTPException(404, "no such loan")
    return loan, view


@router.get("/loans/{loan_no}", response_class=HTMLResponse)
def loan_page(request: Request, loan_no: str, session: Borrower) -> Response:
    _loan, view = _own_view(request, session, loan_no)
    summary = _summary(view, daihou_app(request).today())
    orders = [o for o in _store(request).orders_of(session["borrower_id"]) if o["loan_no"] == loan_no]
    return page(request, "portal/loan.html", session=session, view=view, s=summary, orders=orders,
                gateway=_gateway(request) is not None)  # fmt: skip


# ---------------------------------------------------------------- payments


def _gateway(request: Request) -> pg.HmacGateway | None:
    return pg.from_settings(pg.PaymentGatewaySettings(), str(request.base_url).rstrip("/") + "/portal")


@router.post("/loans/{loan_no}/pay")
def pay(
    request: Request, loan_no: str, session: Borrower, amount: Annotated[str, Form()],
    csrf_token: Annotated[str, Form()] = "",
) -> Response:  # fmt: skip
    _csrf(session, csrf_token)
    loan, view = _own_view(request, session, loan_no)
    gateway = _gateway(request)
    if gateway is None:
        raise HTTPException(503, "no payment gateway is configured (DAIHOU_PAYMENT_*)")
    try:
        amount_fen = Money.yuan(amount.strip()).fen
    except (ValueError, ArithmeticError):
        amount_fen = 0
    if amount_fen <= 0:
        summary = _summary(view, daihou_app(request).today())
        return page(request, "portal/loan.html", 400, session=session, view=view, s=summary, orders=[],
                    gateway=True, error="portal.err.amount")  # fmt: skip
    now = _now(request)
    order_no = f"P{now:%Y%m%d%H%M%S}{secrets.token_hex(4).upper()}"
    _store(request).add_order(order_no, loan["id"], session["account_id"], amount_fen, now)
    base = str(request.base_url).rstrip("/")
    url = gateway.redirect_url(
        order_no, amount_fen, f"{loan_no} 还款", f"{base}/portal/pay/return?order_no={order_no}",
        f"{base}/portal/pay/notify", now.strftime("%Y%m%d%H%M%S"),
    )  # fmt: skip
    return RedirectResponse(url, 303)


def settle_callback(app: Any, store: Any, gateway: pg.HmacGateway, form: dict[str, str]) -> tuple[int, str]:
    """Verify a gateway callback and post the payment once. Returns (HTTP status, body): the gateway
    retries until it gets 200 "success"; a replay of a handled transaction gets "success" again."""
    checked = gateway.verify(form)
    if isinstance(checked, pg.Invalid):
        return 400, checked.code
    order = store.order(checked.order_no)
    if order is None:
        return 404, "unknown_order"
    if order["gateway_txn_id"] is not None:
        same = order["gateway_txn_id"] == checked.txn_id
        return (200, "success") if same else (409, "order_paid_by_another_transaction")
    if checked.amount_fen != order["amount_fen"]:
        return 400, "amount_mismatch"
    now = app.clock.now()
    if checked.status != pg.PAID:
        store.finish_order(checked.order_no, "failed", checked.status, "the gateway reported a failure", now)
        return 200, "success"
    if not store.claim_order(checked.order_no, checked.txn_id):
        return 200, "success"  # a concurrent delivery of the same callback got there first
    outcome = ledger.post_payment(app.uow(), order["loan_no"], checked.amount_fen, app.today(),
                                  f"GW:{checked.txn_id}")  # fmt: skip
    store.finish_order(checked.order_no, "paid" if outcome.ok else "rejected", outcome.code, outcome.message, now)
    if outcome.code == ledger.ACCEPTED:
        from daihou.workflow.daily import on_loan_event

        on_loan_event(app, [order["loan_id"]], app.today(), "payment")
    return 200, "success"


@router.post("/pay/notify")
async def pay_notify(request: Request) -> Response:
    """The gateway's asynchronous notification (no session: the signature authenticates it)."""
    gateway = _gateway(request)
    if gateway is None:
        return PlainTextResponse("no_gateway", 503)
    form = {k: str(v) for k, v in (await request.form()).items()}
    from starlette.concurrency import run_in_threadpool

    status, body = await run_in_threadpool(settle_callback, daihou_app(request), _store(request), gateway, form)
    return PlainTextResponse(body, status)


@router.get("/pay/return", response_class=HTMLResponse)
def pay_return(request: Request, order_no: str, session: Borrower) -> Response:
    order = _store(request).order(order_no)
    if order is None or order["borrower_id"] != session["borrower_id"]:
        raise HTTPException(404, "no such order")
    return page(request, "portal/paid.html", session=session, order=order)


@router.get(FAKE + "/pay", response_class=HTMLResponse)
def fake_cashier(request: Request) -> Response:
    """The fake gateway's cashier page (DAIHOU_PAYMENT_FAKE=true: demo and tests only)."""
    gateway = _gateway(request)
    if gateway is None or not pg.PaymentGatewaySettings().fake:
        raise HTTPException(404)
    params = dict(request.query_params)
    if not secrets.compare_digest(gateway.sign(params), params.get("sign", "")):
        raise HTTPException(400, "bad signature")
    return page(request, "portal/fake_cashier.html", p=params)


@router.post(FAKE + "/pay")
def fake_cashier_pay(request: Request, query: Annotated[str, Form()], outcome: Annotated[str, Form()]) -> Response:
    gateway = _gateway(request)
    if gateway is None or not pg.PaymentGatewaySettings().fake:
        raise HTTPException(404)
    params = dict(urllib.parse.parse_qsl(query))
    if not secrets.compare_digest(gateway.sign(params), params.get("sign", "")):
        raise HTTPException(400, "bad signature")
    txn = hashlib.sha256(f"{params['order_no']}:{params['timestamp']}".encode()).hexdigest()[:24]
    callback = {
        "merchant_id": params["merchant_id"], "order_no": params["order_no"], "txn_id": f"FAKE{txn}",
        "amount_fen": params["amount_fen"], "status": "paid" if outcome == "paid" else "failed",
        "timestamp": params["timestamp"],
    }  # fmt: skip
    callback["sign"] = gateway.sign(callback)
    httpx.post(params["notify_url"], data=callback, timeout=30)  # as a gateway's server would
    return RedirectResponse(params["return_url"], 303)


# ---------------------------------------------------------------- uploads, requests, messages


@router.get("/uploads", response_class=HTMLResponse)
def uploads(request: Request, session: Borrower) -> Response:
    store = _store(request)
    return page(request, "portal/uploads.html", session=session, uploads=store.uploads_of(session["borrower_id"]),
                loans=store.loans_of(session["borrower_id"]), kinds=UPLOAD_KINDS, s=settings())  # fmt: skip


@router.post("/uploads", response_class=HTMLResponse)
async def upload(
    request: Request, session: Borrower, file: UploadFile, kind: Annotated[str, Form()],
    csrf_token: Annotated[str, Form()] = "", loan_no: Annotated[str, Form()] = "",
) -> Response:  # fmt: skip
    _csrf(session, csrf_token)
    s, store = settings(), _store(request)
    data = await file.read(s.max_upload_bytes + 1)
    error = None
    if kind not in UPLOAD_KINDS:
        error = "portal.err.upload_kind"
    elif len(data) > s.max_upload_bytes:
        error = "portal.err.upload_size"
    elif (file.content_type or "") not in s.upload_types or not _sniff(data, file.content_type or ""):
        error = "portal.err.upload_type"
    elif not data:
        error = "portal.err.upload_empty"
    loan = store.loan_of(session["borrower_id"], loan_no) if loan_no else None
    if error is None:
        digest = hashlib.sha256(data).hexdigest()
        folder = Path(daihou_app(request).settings.data_dir) / "uploads"
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / digest
        if not target.exists():
            tmp = target.with_suffix(".tmp")
            tmp.write_bytes(data)
            tmp.replace(target)
        name = Path(file.filename or "upload").name[:200]
        store.add_upload(session["borrower_id"], loan["id"] if loan else None, kind, name,
                         file.content_type or "", len(data), digest, _now(request))  # fmt: skip
    return page(request, "portal/uploads.html", 400 if error else 200, session=session, error=error,
                done=error is None, uploads=store.uploads_of(session["borrower_id"]),
                loans=store.loans_of(session["borrower_id"]), kinds=UPLOAD_KINDS, s=s)  # fmt: skip


MAGIC = {"application/pdf": (b"%PDF",), "image/jpeg": (b"\xff\xd8\xff",), "image/png": (b"\x89PNG\r\n\x1a\n",)}


def _sniff(data: bytes, content_type: str) -> bool:
    """The bytes look like the declared type (a renamed executable is refused)."""
    return any(data.startswith(m) for m in MAGIC.get(content_type, ()))


@router.get("/requests", response_class=HTMLResponse)
def requests_page(request: Request, session: Borrower) -> Response:
    store = _store(request)
    return page(request, "portal/requests.html", session=session, rows=store.requests_of(session["borrower_id"]),
                loans=store.loans_of(session["borrower_id"]), kinds=REQUEST_KINDS)  # fmt: skip


@router.post("/requests", response_class=HTMLResponse)
def file_request(
    request: Request, session: Borrower, loan_no: Annotated[str, Form()], kind: Annotated[str, Form()],
    reason: Annotated[str, Form()], months: Annotated[int | None, Form()] = None,
    csrf_token: Annotated[str, Form()] = "",
) -> Response:  # fmt: skip
    _csrf(session, csrf_token)
    store = _store(request)
    loan = store.loan_of(session["borrower_id"], loan_no)
    error = None
    if loan is None:
        error = "portal.err.no_loan"
    elif kind not in REQUEST_KINDS:
        error = "portal.err.request_kind"
    elif not reason.strip():
        error = "portal.err.reason"
    elif months is not None and not 1 <= months <= 36:
        error = "portal.err.months"
    forwarded = None
    if error is None:
        assert loan is not None
        who = store.borrower(session["borrower_id"]) or {}
        forwarded = _forward(daihou_app(request), loan_no, str(who.get("borrower_no", "")), kind, months,
                             reason.strip())  # fmt: skip
        store.add_request(session["borrower_id"], loan["id"], kind, months, reason.strip()[:2000],
                          "forwarded" if forwarded else "received", forwarded, _now(request))  # fmt: skip
    return page(request, "portal/requests.html", 400 if error else 200, session=session, error=error,
                done=error is None, forwarded=forwarded, rows=store.requests_of(session["borrower_id"]),
                loans=store.loans_of(session["borrower_id"]), kinds=REQUEST_KINDS)  # fmt: skip


def _forward(app: Any, loan_no: str, borrower_no: str, kind: str, months: int | None, reason: str) -> str | None:
    """File an extension with the recovery workflow's approval inbox (`service.restructuring.request`)
    when the approval limits let a borrower make one; otherwise (hardship plans, or limits without
    "borrower" among the makers) the portal keeps the request, status "received", for staff."""
    if kind != "extension" or months is None:
        return None
    try:
        from daihou.domain.approval_limits import RequestKind
        from daihou.service import restructuring
        from daihou.workflow import recovery
    except ImportError:
        return None
    rec = recovery.build(app)
    spec = restructuring.RequestSpec(RequestKind.EXTENSION, loan_no, f"[portal] {reason}", f"portal:{borrower_no}",
                                     "borrower", months=months)  # fmt: skip
    outcome = restructuring.request(rec.uow(), rec.limits, spec)
    if outcome.code != restructuring.PENDING_APPROVAL:
        return None
    return str(outcome.detail.get("id"))


@router.get("/messages", response_class=HTMLResponse)
def messages(request: Request, session: Borrower) -> Response:
    store = _store(request)
    rows = store.messages(session["borrower_id"])
    for m in rows:
        if m["read_at"] is None:
            store.mark_read(session["borrower_id"], m["id"], _now(request))
    return page(request, "portal/messages.html", session=session, rows=rows)

"""Borrowers, loans, schedules and repayments."""

from __future__ import annotations

import hashlib
import json
import threading
from contextlib import AbstractContextManager, nullcontext
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, Header, Query, Request
from fastapi.responses import JSONResponse

from daihou.api.common import PageNo, PageSize, borrower_in_scope, loan_in_scope, page_of
from daihou.api.deps import AppDep, client_ip, require
from daihou.api.problems import PROBLEM, Problem, problem_body, responses
from daihou.api.schemas import (
    BorrowerDetail,
    BorrowerPublic,
    LoanPublic,
    LoanSummary,
    Page,
    PaymentCreate,
    PaymentPublic,
    RevealCreate,
    RevealPublic,
    SchedulePublic,
)
from daihou.domain.money import Money, MoneyFormatError, yuan_text
from daihou.security import masking
from daihou.security.ports import AuditEntry, LoanFilter
from daihou.security.principal import Principal
from daihou.security.wiring import reads, store
from daihou.service import ledger, queries
from daihou.service.ports import ConcurrencyError

router = APIRouter(tags=["loans"])
RETRIES = 5
IN_FLIGHT_STALE = timedelta(seconds=60)  # a claimed key older than this was left by a request that died

LoanRead = Annotated[Principal, Depends(require("loan.read"))]
BorrowerRead = Annotated[Principal, Depends(require("borrower.read"))]
Reveal = Annotated[Principal, Depends(require("pii.reveal"))]
PaymentPost = Annotated[Principal, Depends(require("payment.post"))]


# ---------------------------------------------------------------- borrowers


def _borrower_public(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "borrower_no": row["borrower_no"],
        "kind": row["kind"],
        "name": masking.mask("name", row["name"]),
        "id_number": masking.mask("id_number", row["id_number"]),
        "mobile": masking.mask("mobile", row.get("mobile")),
        "masked": True,
    }


@router.get("/borrowers", responses=responses(401, 403, 422))
def list_borrowers(
    app: AppDep,
    principal: BorrowerRead,
    page: PageNo = 1,
    size: PageSize = 50,
    q: Annotated[str | None, Query(max_length=64, description="borrower number prefix")] = None,
) -> Page[BorrowerPublic]:
    """Borrowers inside the caller's scope, personal data masked."""
    rows, total = reads(app).borrowers_page(principal, q, page, size)
    return Page[BorrowerPublic].model_validate(page_of([_borrower_public(r) for r in rows], total, page, size))


@router.get("/borrowers/{borrower_no}", responses=responses(401, 403, 404))
def get_borrower(borrower_no: str, app: AppDep, principal: BorrowerRead) -> BorrowerDetail:
    borrower_in_scope(app, principal, borrower_no)
    row = reads(app).borrower(borrower_no)
    assert row is not None
    visible = set(row["loan_nos"]) if principal.sees_all else reads(app).loan_nos_in_scope(principal, row["loan_nos"])
    loan_nos = [no for no in row["loan_nos"] if no in visible]
    return BorrowerDetail(
        **_borrower_public(row),
        address=masking.mask("address", row.get("address")),
        employer=row.get("employer"),
        loan_nos=loan_nos,
    )


@router.post("/borrowers/{borrower_no}/reveal", responses=responses(401, 403, 404, 422))
def reveal_field(
    borrower_no: str, body: RevealCreate, request: Request, app: AppDep, principal: Reveal
) -> RevealPublic:
    """Show one unmasked personal-data field (查看明文). Every reveal is written to the audit log."""
    result = masking.reveal(app, principal, borrower_no, body.field, client_ip(request))
    if isinstance(result, masking.RevealRefused):
        raise Problem(404 if result.code == "not_found" else 403, result.message, result.code)
    return RevealPublic(borrower_no=borrower_no, field=body.field, value=result.value)


# ---------------------------------------------------------------- loans


@router.get("/loans", responses=responses(401, 403, 422))
def list_loans(
    app: AppDep,
    principal: LoanRead,
    page: PageNo = 1,
    size: PageSize = 50,
    status: Annotated[str | None, Query(pattern="^(active|overdue|restructured|paid_off|written_off|closed)$")] = None,
    classification: Annotated[str | None, Query(pattern="^(normal|special_mention|substandard|doubtful|loss)$")] = None,
    officer: Annotated[str | None, Query(max_length=64)] = None,
    product_code: Annotated[str | None, Query(max_length=32)] = None,
    borrower_no: Annotated[str | None, Query(max_length=64)] = None,
    min_dpd: Annotated[int | None, Query(ge=0, le=100_000)] = None,
    max_dpd: Annotated[int | None, Query(ge=0, le=100_000)] = None,
    q: Annotated[str | None, Query(max_length=64, description="loan number prefix")] = None,
) -> Page[LoanSummary]:
    """Loans inside the caller's scope, filtered, one page at a time: `{items, total, page, size}`."""
    flt = LoanFilter(status, classification, officer, product_code, borrower_no, min_dpd, max_dpd, q)
    rows, total = reads(app).loans_page(principal, flt, page, size)
    items = [
        {
            "loan_no": r["loan_no"],
            "borrower_no": r["borrower_no"],
            "borrower_name": masking.mask("name", r["borrower_name"]),
            "product_code": r["product_code"],
            "officer": r["officer"],
            "status": r["status"],
            "principal": yuan_text(r["principal_fen"]),
            "dpd": r["dpd"],
            "classification": r["classification"],
            "disbursement_date": r["disbursed_on"],
            "accrued_through": r["accrued_through"],
        }
        for r in rows
    ]
    return Page[LoanSummary].model_validate(page_of(items, total, page, size))


def _view(app: AppDep, loan_no: str, as_of: date | None) -> dict[str, Any]:
    view = queries.loan_view(app.uow(), loan_no, as_of, reveal=False, snapshots=app.snapshots())
    if isinstance(view, queries.NotFound):
        raise Problem(404, view.message, "loan_not_found")
    return view


AsOf = Annotated[
    date | None,
    Query(
        description="business date; a past closed day answers from its snapshot",
        ge=date(1990, 1, 1),
        le=date(2199, 12, 31),
    ),
]


@router.get("/loans/{loan_no}", responses=responses(401, 403, 404, 422))
def get_loan(loan_no: str, app: AppDep, principal: LoanRead, as_of: AsOf = None) -> LoanPublic:
    """The loan as `daihou loan show --json` prints it (personal data masked)."""
    loan_in_scope(app, principal, loan_no)
    return LoanPublic.model_validate(_view(app, loan_no, as_of))


@router.get("/loans/{loan_no}/schedule", responses=responses(401, 403, 404, 422))
def get_schedule(loan_no: str, app: AppDep, principal: LoanRead, as_of: AsOf = None) -> SchedulePublic:
    """The repayment schedule (还款计划) with what is paid, due and overdue."""
    loan_in_scope(app, principal, loan_no)
    view = _view(app, loan_no, as_of)
    return SchedulePublic.model_validate({k: view[k] for k in ("loan_no", "as_of", "schedule_version", "installments")})


# ---------------------------------------------------------------- payments


def _request_digest(loan_no: str, body: PaymentCreate) -> str:
    canonical = json.dumps({"loan_no": loan_no, **body.model_dump(mode="json")}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


@router.post(
    "/loans/{loan_no}/payments",
    status_code=201,
    responses={
        200: {"description": "already posted (replay or duplicate reference)", "model": PaymentPublic},
        **responses(401, 403, 404, 409, 422),
    },
)
def post_payment(
    loan_no: str,
    body: PaymentCreate,
    request: Request,
    background: BackgroundTasks,
    app: AppDep,
    principal: PaymentPost,
    idempotency_key: Annotated[
        str,
        Header(
            min_length=1,
            max_length=128,
            pattern=r"^[\x21-\x7e]+$",
            description="required: a replay with the same key returns the first response and moves no money",
        ),
    ],
) -> JSONResponse:
    """Post a repayment (还款入账) through `service.ledger.post_payment`."""
    s = store(app)
    digest = _request_digest(loan_no, body)
    first = s.stored_response(principal.username, idempotency_key)
    if first is None or (first.status_code == 0 and first.request_sha256 == digest):  # new, or maybe abandoned
        if not principal.sees_all:  # the ledger itself answers loan_not_found for everyone else
            loan_in_scope(app, principal, loan_no)
        try:
            amount_fen = Money.yuan(body.amount).fen
        except MoneyFormatError as exc:
            raise Problem(422, f"amount: {exc}", "invalid_amount") from None
        if amount_fen <= 0:
            raise Problem(422, "amount: a payment is more than zero", "invalid_amount")
        now = app.clock.now()
        with _serial(app):
            first = s.reserve_key(principal.username, idempotency_key, digest, now, now - IN_FLIGHT_STALE)
    if first is not None:
        if first.request_sha256 != digest:
            raise Problem(422, "this Idempotency-Key was used for a different request", "idempotency_key_reused")
        if first.status_code == 0:
            raise Problem(
                409,
                "a request with this Idempotency-Key is still running",
                "idempotency_in_progress",
                headers={"Retry-After": "1"},
            )
        return _stored(first.body, first.status_code, replayed=True)
    reference = body.reference or idempotency_key
    try:
        with _serial(app):
            outcome = _post_with_retry(app, loan_no, amount_fen, body.paid_on, reference)
    except BaseException:
        s.release_key(principal.username, idempotency_key)
        raise
    content = {
        "code": outcome.code,
        "message": outcome.message,
        "loan_no": outcome.loan_no or loan_no,
        "reference": outcome.reference or reference,
        **outcome.detail,
    }
    if outcome.ok:
        status = 201 if outcome.code == ledger.ACCEPTED else 200
    else:
        status = {ledger.REFERENCE_CONFLICT: 409, "loan_not_found": 404}.get(outcome.code, 422)
        content = problem_body(status, outcome.message, outcome.code, loan_no=loan_no, reference=reference)
    entry = AuditEntry(
        app.clock.now(),
        principal.username,
        principal.role,
        "payment.post",
        "loan",
        loan_no,
        None,
        {**content, "http_status": status, "amount": body.amount, "paid_on": body.paid_on.isoformat()},
        client_ip(request),
    )
    with _serial(app):
        kept = s.store_response(principal.username, idempotency_key, digest, status, content, app.clock.now(), entry)
    if outcome.code == ledger.ACCEPTED:  # cases, promises and warnings react once the answer is out
        from daihou.workflow.daily import after_money_moved

        background.add_task(after_money_moved, app, outcome.loan_no or loan_no, True, "payment")
    return _stored(kept.body, kept.status_code)


_SQLITE_WRITES = threading.Lock()


def _serial(app: AppDep) -> AbstractContextManager[object]:
    """SQLite has one writer at a time, and a writer that finds the database locked sleeps in steps
    of up to 100 ms before it tries again: the threads of one server process queue here instead, which
    keeps the latency tail short. PostgreSQL writes in parallel."""
    return _SQLITE_WRITES if app.engine.dialect.name == "sqlite" else nullcontext()


def _post_with_retry(app: AppDep, loan_no: str, amount_fen: int, on: date, reference: str) -> ledger.Outcome:
    """Two payments to one loan at the same moment: the loser of the optimistic lock tries again (the
    reference makes a retry safe); after a few losses the caller gets 409 and may retry."""
    for _ in range(RETRIES):
        try:
            return ledger.post_payment(app.uow(), loan_no, amount_fen, on, reference)
        except ConcurrencyError:
            continue
    raise Problem(409, f"loan {loan_no} is being changed by others; try again", "concurrent_update")


def _stored(body: Any, status: int, replayed: bool = False) -> JSONResponse:
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    return JSONResponse(body, status, headers=headers, media_type=PROBLEM if status >= 400 else "application/json")

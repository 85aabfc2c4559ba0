"""The staff web application's pages (server-rendered Jinja2 + HTMX, ECharts for the dashboard).

Sessions, roles, CSRF, masking and the audit log are the security module's
(`daihou.security`, `daihou.api.deps`): every page needs a session, every write checks a permission
and the CSRF token (form field `csrf_token` or the `X-CSRF-Token` header HTMX sends) and is audited.
The pages call service and workflow functions; they never touch the store directly.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from daihou.api.deps import client_ip, optional_principal
from daihou.domain.money import Money
from daihou.security import audit, masking, sessions
from daihou.security.principal import Principal
from daihou.service import dashboard as dash
from daihou.service.queries import NotFound, loan_view
from daihou.web import admin, jobs
from daihou.web.access import Csrf, Staff, ctx, home_of, need, staff, verdict
from daihou.web.i18n import normalise
from daihou.web.render import LANG_COOKIE, daihou_app, page

router = APIRouter(include_in_schema=False)
router.include_router(admin.router)  # /admin/…: users, roles, templates, rules
__all__ = ["home_of", "router", "staff"]


def _today(request: Request) -> date:
    return daihou_app(request).today()  # type: ignore[no-any-return]


# ---------------------------------------------------------------- login, language


@router.get("/", response_class=HTMLResponse)
def root(request: Request) -> Response:
    principal = optional_principal(request)
    if principal is None:
        return RedirectResponse("/login", 303)
    return RedirectResponse("/portal/home" if principal.role == "borrower" else home_of(principal), 303)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "") -> Response:
    return page(request, "staff/login.html", next=next)


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    next: Annotated[str, Form()] = "",
) -> Response:
    app = daihou_app(request)
    result = sessions.login(app, username.strip(), password, client_ip(request))
    if isinstance(result, sessions.Refused):
        status = 429 if result.code == sessions.RATE_LIMITED else 401
        return page(request, "staff/login.html", status, error=result.code, next=next, username=username)
    target = next if next.startswith("/") and not next.startswith("//") else home_of(result.principal)
    if result.principal.role == "borrower":
        target = "/portal/home"
    response = RedirectResponse(target, 303)
    secure = request.url.scheme == "https"
    max_age = max(int((result.expires_at - app.clock.now()).total_seconds()), 60)
    response.set_cookie(sessions.SESSION_COOKIE, result.token, max_age=max_age, httponly=True, samesite="lax",
                        secure=secure)  # fmt: skip
    response.set_cookie(sessions.CSRF_COOKIE, result.csrf_token, max_age=max_age, httponly=False, samesite="strict",
                        secure=secure)  # fmt: skip
    return response


@router.post("/logout")
def logout(request: Request, principal: Staff, _: Csrf) -> Response:
    sessions.logout(daihou_app(request), request.cookies.get(sessions.SESSION_COOKIE, ""))
    response = RedirectResponse("/login", 303)
    response.delete_cookie(sessions.SESSION_COOKIE)
    response.delete_cookie(sessions.CSRF_COOKIE)
    return response


@router.get("/lang/{code}")
def set_language(code: str, next: str = "/") -> Response:
    target = next if next.startswith("/") and not next.startswith("//") else "/"
    response = RedirectResponse(target, 303)
    response.set_cookie(LANG_COOKIE, normalise(code), max_age=365 * 86400, samesite="lax")
    return response


# ---------------------------------------------------------------- dashboard


def _charts(payload: dict[str, Any]) -> dict[str, Any]:
    """The ECharts series the page draws (labels are translated in the template)."""
    buckets = payload.get("buckets") or []
    return {
        "buckets": {
            "names": [b["bucket"] for b in buckets],
            "balance": [round(b["balance_fen"] / 100, 2) for b in buckets],
            "share": [round(b["share"] * 100, 3) for b in buckets],
            "loans": [b["loans"] for b in buckets],
        },
        "classes": [{"code": k, "value": round(v / 100, 2)} for k, v in (payload.get("classes") or {}).items()],
        "roll": payload.get("roll"),
        "vintage": payload.get("vintage"),
    }


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard(request: Request, principal: Staff) -> Response:
    need(principal, "report.read")
    store, _ = daihou_app(request).dashboard_store()
    figures = dash.latest(store)
    payload = figures.payload if figures else None
    charts = json.dumps(_charts(payload), ensure_ascii=False) if payload else "null"
    return page(request, "staff/dashboard.html", **ctx(principal, figures=figures, d=payload, charts=charts,
                activity=_activity(payload), job=jobs.running("dashboard")))  # fmt: skip


def _activity(payload: dict[str, Any] | None) -> dict[str, dict[str, dict[str, int]] | None]:
    """Counts by status, split into all rows and the last 7 days (`recent_*`)."""
    out: dict[str, dict[str, dict[str, int]] | None] = {}
    for name, counts in ((payload or {}).get("activity") or {}).items():
        if counts is None:
            out[name] = None
            continue
        out[name] = {
            "all": {k: v for k, v in counts.items() if not k.startswith("recent_")},
            "recent": {k.removeprefix("recent_"): v for k, v in counts.items() if k.startswith("recent_")},
        }
    return out


@router.post("/jobs/dashboard", response_class=HTMLResponse)
def refresh_dashboard(request: Request, principal: Staff, _: Csrf) -> Response:
    need(principal, "report.read")
    app = daihou_app(request)
    job = jobs.running("dashboard")
    if job is None:

        def work(job: jobs.Job) -> dict[str, Any]:
            store, snapshots = app.dashboard_store()
            day = store.last_business_date() or app.today() - timedelta(days=1)
            job.progress("dashboard", 0, 1)
            figures = dash.refresh(store, snapshots, day, app.clock.now())
            job.progress("dashboard", 1, 1)
            return {"business_date": day.isoformat(), "elapsed_ms": figures.elapsed_ms}

        job = jobs.start("dashboard", principal.username, work)
    return page(request, "staff/_job.html", **ctx(principal, job=job))


@router.post("/jobs/cob", response_class=HTMLResponse)
def run_cob(request: Request, principal: Staff, _: Csrf) -> Response:
    """Close the next business day (after the last closed one) with the batch, showing progress."""
    need(principal, "rules.manage")
    app = daihou_app(request)
    job = jobs.running("cob")
    if job is None:
        store, _s = app.dashboard_store()
        last = store.last_business_date()
        day = last + timedelta(days=1) if last else app.today() - timedelta(days=1)
        if day >= app.today():
            return page(request, "staff/_job.html", **ctx(principal, job=None, note="web.cob.up_to_date"))

        def work(job: jobs.Job) -> dict[str, Any]:
            done = app.run_cob([day], "duckdb", progress=job.progress)
            result = done[-1]
            counts = getattr(result, "counts", None)
            if counts is None:
                raise RuntimeError(getattr(result, "message", str(result)))
            return {"business_date": day.isoformat(), **{k: v for k, v in counts.items() if isinstance(v, int)}}

        job = jobs.start("cob", principal.username, work)
        audit.record(app, principal, "cob.run", "business_date", day.isoformat(), None, {"job": job.id},
                     client_ip(request))  # fmt: skip
    return page(request, "staff/_job.html", **ctx(principal, job=job))


IMPORT_CHUNK = 2000  # rows per transaction when bad rows may be skipped (progress moves per chunk)
IMPORT_PERMISSION = {"payments": "payment.post", "loans": "rules.manage", "borrowers": "rules.manage"}


def _csv_rows(data: bytes) -> tuple[list[dict[str, str]], list[int]]:
    """A UTF-8 CSV's data rows (header row 1; blank lines skipped but counted, as the CLI does)."""
    import csv
    import io

    records = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    if not records:
        return [], []
    headers = [h.strip() for h in records[0]]
    rows, numbers = [], []
    for number, record in enumerate(records[1:], start=2):
        if any(cell.strip() for cell in record):
            cells = [*record, *[""] * (len(headers) - len(record))]
            rows.append({h: cells[i].strip() for i, h in enumerate(headers) if h})
            numbers.append(number)
    return rows, numbers


@router.post("/jobs/import", response_class=HTMLResponse)
async def start_import(request: Request, principal: Staff, _: Csrf) -> Response:
    """Import a CSV of loans, borrowers or payments (`daihou.service.importing`) as a job. With
    "skip bad rows" the rows go in chunks (each its own transaction) and the progress moves per
    chunk; without it the file is all or nothing, as `daihou import` does."""
    from daihou.service import importing

    form = await request.form()
    kind = str(form.get("kind", ""))
    if kind not in IMPORT_PERMISSION:
        raise HTTPException(400, f"kind {kind!r}: one of {', '.join(IMPORT_PERMISSION)}")
    need(principal, IMPORT_PERMISSION[kind])
    upload = form.get("file")
    if upload is None or isinstance(upload, str):
        raise HTTPException(400, "file: choose a CSV file")
    try:
        rows, numbers = _csv_rows(await upload.read())
    except UnicodeDecodeError as exc:
        raise HTTPException(400, f"file: not UTF-8 text ({exc.reason})") from exc
    skip = bool(form.get("skip_invalid"))
    name = getattr(upload, "filename", "") or "upload.csv"
    run = {"loans": importing.import_loans, "payments": importing.import_payments,
           "borrowers": importing.import_borrowers}[kind]  # fmt: skip
    app = daihou_app(request)

    def work(job: jobs.Job) -> dict[str, Any]:
        step = IMPORT_CHUNK if skip else max(len(rows), 1)
        totals = {"read": 0, "imported": 0, "unchanged": 0, "rejected": 0}
        errors: list[str] = []
        committed = True
        for start in range(0, max(len(rows), 1), step):
            job.progress(f"{kind} {name}", start, len(rows))
            report = run(app.uow(), rows[start : start + step], skip, numbers[start : start + step])
            for key in totals:
                totals[key] += getattr(report, key)
            committed = committed and report.committed
            errors += [f"row {e.row} {e.column}: {e.reason}" for e in report.errors][: 5 - len(errors)]
        job.progress(f"{kind} {name}", len(rows), len(rows))
        return {**totals, "committed": committed, **({"errors": " | ".join(errors)} if errors else {})}

    job = jobs.start("import", principal.username, work)
    audit.record(app, principal, f"import.{kind}", "file", name, None, {"rows": len(rows), "job": job.id},
                 client_ip(request))  # fmt: skip
    return page(request, "staff/_job.html", **ctx(principal, job=job))


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_status(request: Request, job_id: str, principal: Staff) -> Response:
    job = jobs.get(job_id)
    if job is None:
        raise HTTPException(404, "no such job")
    response = page(request, "staff/_job.html", **ctx(principal, job=job))
    if job.status != "running" and job.kind == "dashboard" and job.status == "done":
        response.headers["HX-Refresh"] = "true"  # the figures changed: reload the page once
    return response


@router.get("/operations", response_class=HTMLResponse)
def operations(request: Request, principal: Staff) -> Response:
    store, _ = daihou_app(request).dashboard_store()
    return page(request, "staff/operations.html", **ctx(principal, recent=jobs.recent(),
                last=store.last_business_date()))  # fmt: skip


# ---------------------------------------------------------------- loans


@router.get("/loans", response_class=HTMLResponse)
def loans(request: Request, principal: Staff, q: str = "", page_no: int = 1) -> Response:
    need(principal, "loan.read")
    from daihou.security.ports import LoanFilter
    from daihou.security.wiring import reads

    size = 50
    rows, total = reads(daihou_app(request)).loans_page(principal, LoanFilter(q=q or None), max(page_no, 1), size)
    return page(request, "staff/loans.html", **ctx(principal, rows=rows, total=total, q=q, page_no=page_no,
                size=size))  # fmt: skip


def _in_scope(request: Request, principal: Principal, loan_no: str) -> None:
    from daihou.security.wiring import reads

    if reads(daihou_app(request)).loan_scope(principal, loan_no) != "in":
        raise HTTPException(404, f"loan {loan_no} does not exist")  # out of scope looks like absent


@router.get("/loans/{loan_no}", response_class=HTMLResponse)
def loan_360(request: Request, loan_no: str, principal: Staff) -> Response:
    need(principal, "loan.read")
    _in_scope(request, principal, loan_no)
    app = daihou_app(request)
    view = loan_view(app.uow(), loan_no, snapshots=app.snapshots())
    if isinstance(view, NotFound):
        raise HTTPException(404, view.message)
    store, _ = app.dashboard_store()
    records = dash.loan_records(store, loan_no)
    trail: list[dict[str, Any]] = []
    if principal.can("audit.read"):
        trail, _n = audit.entries(app, entity="loan", entity_id=loan_no, limit=50)
        if view.get("borrower"):
            more, _m = audit.entries(app, entity="borrower", entity_id=view["borrower"]["borrower_no"], limit=50)
            trail = sorted([*trail, *more], key=lambda e: str(e.get("at", "")), reverse=True)
    return page(request, "staff/loan.html", **ctx(principal, view=view, r=records, trail=trail))


@router.post("/borrowers/{borrower_no}/reveal/{field}", response_class=HTMLResponse)
def reveal(request: Request, borrower_no: str, field: str, principal: Staff, _: Csrf) -> Response:
    """One personal-data field, unmasked: permissioned and audited by the security module."""
    result = masking.reveal(daihou_app(request), principal, borrower_no, field, client_ip(request))
    if isinstance(result, masking.RevealRefused):
        status = {"forbidden": 403, "not_found": 404}.get(result.code, 400)
        return HTMLResponse(f'<span class="bad">{result.message}</span>', status)
    return page(request, "staff/_revealed.html", value=result.value or "")


# ---------------------------------------------------------------- collector workbench


def _collections() -> Any:
    try:
        from daihou.workflow import collections
    except ImportError:  # the collections capability is not installed in this build
        return None
    return collections


def _case_kind(principal: Principal) -> tuple[str, str]:
    """The collections workflow's principal kind for a security role: collectors and agencies see
    their own cases; every other role with `case.read` sees all (its data scope is "all")."""
    if principal.role == "collector":
        return "collector", principal.username
    if principal.role == "agency":
        return "agency", str(principal.agency_id)
    return ("supervisor" if principal.sees_all else "other"), principal.username


def _visible_cases(request: Request, principal: Principal) -> list[dict[str, Any]]:
    col = _collections()
    if col is None:
        return []
    kind, ident = _case_kind(principal)
    return col.cases_visible_to(daihou_app(request), kind, ident, "open", 500)  # type: ignore[no-any-return]


@router.get("/workbench", response_class=HTMLResponse)
def workbench(request: Request, principal: Staff) -> Response:
    need(principal, "case.read")
    col = _collections()
    app = daihou_app(request)
    items: list[dict[str, Any]] = []
    if col is not None:
        day = _today(request)
        who = principal.username if principal.role == "collector" else None
        items = col.worklist(app, day, who) or col.worklist(app, day - timedelta(days=1), who)
        if principal.role != "collector":
            items = items[:200]
    cases = _visible_cases(request, principal)
    if items:
        visible = {c["id"] for c in cases}
        items = [i for i in items if i.get("case_id") in visible]
    return page(request, "staff/workbench.html", **ctx(principal, items=items, cases=cases,
                installed=col is not None))  # fmt: skip


@router.get("/workbench/next")
def next_case(request: Request, principal: Staff, after: int = 0) -> Response:
    """The next case to work: the first in today's list (or the open cases) after `after`."""
    need(principal, "case.read")
    ids = [c["id"] for c in _visible_cases(request, principal)]
    col = _collections()
    if col is not None:
        who = principal.username if principal.role == "collector" else None
        listed = [i["case_id"] for i in col.worklist(daihou_app(request), _today(request), who)]
        ids = [i for i in listed if i in set(ids)] + [i for i in ids if i not in set(listed)]
    later = ids[ids.index(after) + 1 :] if after in ids else ids
    return RedirectResponse(f"/cases/{later[0]}" if later else "/workbench", 303)


def _case(request: Request, principal: Principal, case_id: int) -> dict[str, Any]:
    col = _collections()
    if col is None:
        raise HTTPException(404, "collections are not installed")
    from daihou.security.wiring import reads

    if reads(daihou_app(request)).case_scope(principal, case_id) != "in":
        raise HTTPException(404, f"case {case_id} does not exist")
    detail = col.case_detail(daihou_app(request), case_id)
    if detail is None:
        raise HTTPException(404, f"case {case_id} does not exist")
    return detail  # type: ignore[no-any-return]


def _case_page(request: Request, principal: Principal, case_id: int, status: int = 200, **extra: Any) -> Response:
    detail = _case(request, principal, case_id)
    from daihou.domain import collections as dc

    view = loan_view(daihou_app(request).uow(), detail["loan_no"])
    return page(request, "staff/case.html", status, **ctx(principal, c=detail, view=view, today=_today(request),
                outcomes=[o.value for o in dc.Outcome], parties=[p.value for p in dc.Party],
                channels=dc.CHANNELS, **extra))  # fmt: skip


@router.get("/cases/{case_id}", response_class=HTMLResponse)
def case_page(request: Request, case_id: int, principal: Staff) -> Response:
    need(principal, "case.read")
    return _case_page(request, principal, case_id)


def _refusal(result: Any) -> str | None:
    if getattr(result, "ok", True):
        return None
    code = getattr(result, "code", "refused")
    return f"{getattr(code, 'value', code)}: {getattr(result, 'reason', '')}"


@router.post("/cases/{case_id}/call", response_class=HTMLResponse)
def log_call(
    request: Request,
    case_id: int,
    principal: Staff,
    _: Csrf,
    outcome: Annotated[str, Form()],
    notes: Annotated[str, Form()] = "",
    party: Annotated[str, Form()] = "debtor",
    channel: Annotated[str, Form()] = "call",
    promise_amount: Annotated[str, Form()] = "",
    promise_date: Annotated[str, Form()] = "",
) -> Response:
    """Log a call in one step; with an amount and a date it also records the promise made on it."""
    need(principal, "case.write")
    detail = _case(request, principal, case_id)
    col = _collections()
    app = daihou_app(request)
    now = app.clock.now()
    result = col.log_contact(
        app,
        col.ContactInput(case_id=case_id, channel=channel, party=party, started_at=now, outcome=outcome,
                         collector=principal.username, ended_at=now, notes=notes.strip()),
    )  # fmt: skip
    if (error := _refusal(result)) is not None:
        return _case_page(request, principal, case_id, 409, error=error)
    audit.record(app, principal, "case.contact", "case", case_id, None,
                 {"outcome": outcome, "channel": channel, "party": party}, client_ip(request))  # fmt: skip
    message = "web.case.call_logged"
    if promise_amount.strip():
        promised = _promise(request, principal, detail, promise_amount, promise_date, result.contact_id)
        if isinstance(promised, str):
            return _case_page(request, principal, case_id, 409, error=promised, message=message)
        message = "web.case.call_and_promise"
    return _case_page(request, principal, case_id, message=message)


def _promise(
    request: Request, principal: Principal, detail: dict[str, Any], amount: str, due: str, contact_id: int | None
) -> Any:
    """Record a promise; returns the workflow's result, or an error text."""
    col = _collections()
    app = daihou_app(request)
    try:
        amount_fen = Money.yuan(amount).fen
        due_on = date.fromisoformat(due)
    except ValueError as exc:
        return f"bad_input: {exc}"
    result = col.make_promise(app, detail["id"], [(due_on, amount_fen)], _today(request), principal.username,
                              contact_id)  # fmt: skip
    if (error := _refusal(result)) is not None:
        return error
    audit.record(app, principal, "case.promise", "case", detail["id"], None,
                 {"amount_fen": amount_fen, "due_on": due_on.isoformat()}, client_ip(request))  # fmt: skip
    return result


@router.post("/cases/{case_id}/promise", response_class=HTMLResponse)
def record_promise(
    request: Request,
    case_id: int,
    principal: Staff,
    _: Csrf,
    amount: Annotated[str, Form()],
    due_on: Annotated[str, Form()],
) -> Response:
    need(principal, "case.write")
    detail = _case(request, principal, case_id)
    result = _promise(request, principal, detail, amount, due_on, None)
    if isinstance(result, str):
        return _case_page(request, principal, case_id, 409, error=result)
    return _case_page(request, principal, case_id, message="web.case.promise_recorded")


# ---------------------------------------------------------------- visits


def _visits() -> Any:
    try:
        from daihou.workflow import visits
    except ImportError:
        return None
    return visits


def _questions(visits: Any, locale: str) -> list[dict[str, Any]]:
    """The visit policy's questionnaire, ready for the form (labels in the page's language)."""
    out = []
    for q in visits.load_policy().questions:
        labels = dict(q.choice_labels)
        out.append({
            "code": q.code, "kind": q.kind.value, "label": q.label(locale), "required": q.required,
            "applies_to": sorted(k.value for k in q.applies_to),
            "choices": [(c, dict(labels.get(c, ())).get(locale, c)) for c in q.choices],
        })  # fmt: skip
    return out


def _visit_page(request: Request, principal: Principal, status: int = 200, **extra: Any) -> Response:
    from daihou.web.render import locale_of

    visits = _visits()
    questions = _questions(visits, locale_of(request)) if visits else []
    return page(request, "staff/visit.html", status, **ctx(principal, today=_today(request), questions=questions,
                installed=visits is not None, **extra))  # fmt: skip


@router.get("/visits/new", response_class=HTMLResponse)
def visit_form(request: Request, principal: Staff, loan_no: str = "") -> Response:
    need(principal, "visit.write")
    return _visit_page(request, principal, loan_no=loan_no)


def _answers(form: Any, questions: list[dict[str, Any]]) -> tuple[dict[str, Any], str | None]:
    """The questionnaire's answers from the form (blank fields are left out), or the first bad one."""
    answers: dict[str, Any] = {}
    for q in questions:
        raw = str(form.get(f"q_{q['code']}", "")).strip()
        if not raw:
            continue
        if q["kind"] == "yes_no":
            answers[q["code"]] = raw == "true"
        elif q["kind"] == "amount":
            try:
                answers[q["code"]] = Money.yuan(raw).fen
            except ValueError as exc:
                return answers, f"answers.{q['code']}: {exc}"
        else:
            answers[q["code"]] = raw
    return answers, None


@router.post("/visits", response_class=HTMLResponse)
async def visit_record(request: Request, principal: Staff, _: Csrf) -> Response:
    """Record a follow-up visit with `daihou.workflow.visits.record_visit` (it names any bad field)."""
    from starlette.concurrency import run_in_threadpool

    from daihou.web.render import locale_of

    need(principal, "visit.write")
    visits = _visits()
    if visits is None:
        raise HTTPException(404, "visits are not installed")
    form = await request.form()
    loan_no = str(form.get("loan_no", "")).strip()
    _in_scope(request, principal, loan_no)
    answers, error = _answers(form, _questions(visits, locale_of(request)))
    try:
        visited_on = date.fromisoformat(str(form.get("visited_on", "")))
    except ValueError:
        error = error or f"visited_on: {form.get('visited_on')!r} is not a date (YYYY-MM-DD)"
    if error is not None:
        return _visit_page(request, principal, 400, loan_no=loan_no, error=error)
    officers = [o.strip() for o in str(form.get("officers", "")).replace("，", ",").split(",") if o.strip()]
    app = daihou_app(request)
    result = await run_in_threadpool(
        visits.record_visit, app, loan_no, visit_type=str(form.get("visit_type", "")), visited_on=visited_on,
        officers=officers, answers=answers, recorded_by=principal.username,
        findings=str(form.get("findings", "")), follow_up=str(form.get("follow_up", "")),
    )  # fmt: skip
    if not result.ok:
        return _visit_page(request, principal, 409, loan_no=loan_no, error=result.message)
    audit.record(app, principal, "visit.record", "loan", loan_no, None,
                 {"visit_id": result.visit_id, "risk_flags": list(result.risk_flags)}, client_ip(request))  # fmt: skip
    return _visit_page(request, principal, loan_no=loan_no, done=result)


# ---------------------------------------------------------------- warnings and approvals


def _warning_service(request: Request) -> Any:
    try:
        from daihou.workflow import warnings
    except ImportError:
        return None
    return warnings.build(daihou_app(request))


@router.get("/warnings", response_class=HTMLResponse)
def warning_inbox(request: Request, principal: Staff, status: str = "open") -> Response:
    need(principal, "warning.read")
    service = _warning_service(request)
    rows: list[Any] = []
    if service is not None:
        rows = service.alerts(status=status or None, limit=300)
        if not principal.sees_all:
            from daihou.security.wiring import reads

            ids = reads(daihou_app(request)).scoped_loan_ids(principal, [r.loan_id for r in rows])
            rows = [r for r in rows if r.loan_id in ids]
    outcomes: list[str] = []
    if service is not None:
        from daihou.domain.warnings import Outcome as AlertOutcome

        outcomes = [o.value for o in AlertOutcome]
    return page(request, "staff/warnings.html", **ctx(principal, rows=rows, status=status, outcomes=outcomes,
                installed=service is not None))  # fmt: skip


@router.post("/warnings/{alert_id}/{action}", response_class=HTMLResponse)
def warning_action(
    request: Request,
    alert_id: int,
    action: str,
    principal: Staff,
    _: Csrf,
    comment: Annotated[str, Form()] = "",
    outcome: Annotated[str, Form()] = "",
) -> Response:
    need(principal, "warning.write")
    service = _warning_service(request)
    if service is None or action not in ("acknowledge", "close"):
        raise HTTPException(404)
    from daihou.security.wiring import reads

    alert = next((a for a in service.alerts(status=None, limit=100000) if a.id == alert_id), None)
    if alert is None or reads(daihou_app(request)).loan_scope(principal, alert.loan_no) != "in":
        raise HTTPException(404, f"alert {alert_id} does not exist")
    if action == "acknowledge":
        result = service.acknowledge(alert_id, principal.username, comment)
    else:
        result = service.close(alert_id, principal.username, comment, outcome or None)
    error = _refusal(result)
    if error is None:
        after = {"comment": comment, "outcome": outcome}
        audit.record(daihou_app(request), principal, f"warning.{action}", "alert", alert_id,
                     {"status": alert.status}, after, client_ip(request))  # fmt: skip
    return verdict(error)


@router.get("/approvals", response_class=HTMLResponse)
def approval_inbox(request: Request, principal: Staff) -> Response:
    """Manual classification changes (maker-checker) and the recovery requests this role may decide."""
    need(principal, "approval.decide")
    app = daihou_app(request)
    with app.uow() as uow:
        overrides = uow.overrides.pending()
    recovery = _recovery()
    requests_: list[Any] = recovery.list_requests(app, "pending", principal.role) if recovery else []
    return page(request, "staff/approvals.html", **ctx(principal, overrides=overrides, requests=requests_,
                recovery=recovery is not None))  # fmt: skip


def _recovery() -> Any:
    try:
        from daihou.workflow import recovery
    except ImportError:  # the recovery capability is not installed in this build
        return None
    return recovery


@router.post("/approvals/override/{override_id}/{decision}", response_class=HTMLResponse)
def decide_override(request: Request, override_id: int, decision: str, principal: Staff, _: Csrf) -> Response:
    need(principal, "approval.decide")
    from daihou.service import classification

    if decision not in ("approve", "reject"):
        raise HTTPException(404)
    app = daihou_app(request)
    outcome = classification.decide(app.uow(), override_id, principal.username, decision == "approve")
    error = None if outcome.ok else f"{outcome.code}: {outcome.message}"
    if error is None:
        audit.record(app, principal, f"classification.{decision}", "override", override_id, None,
                     {"loan_no": outcome.loan_no}, client_ip(request))  # fmt: skip
    return verdict(error)


@router.post("/approvals/request/{request_id}/{decision}", response_class=HTMLResponse)
def decide_request(
    request: Request, request_id: int, decision: str, principal: Staff, _: Csrf, note: Annotated[str, Form()] = ""
) -> Response:
    need(principal, "approval.decide")
    recovery = _recovery()
    if recovery is None or decision not in ("approve", "reject"):
        raise HTTPException(404)
    app = daihou_app(request)
    outcome = recovery.decide(app, request_id, principal.username, principal.role, decision == "approve", note)
    error = None if outcome.code in ("accepted", "pending_approval") else f"{outcome.code}: {outcome.message}"
    if error is None:
        audit.record(app, principal, f"request.{decision}", "request", request_id, None,
                     {"note": note, "result": outcome.message}, client_ip(request))  # fmt: skip
    return verdict(error)


# ---------------------------------------------------------------- helpers for optional capabilities


def _get(row: Any, key: str) -> Any:
    return row.get(key) if isinstance(row, dict) else getattr(row, key, None)


def _call(target: Any, names: tuple[str, ...], **offered: Any) -> Any:
    """Call the first of `names` that `target` has, with the keyword arguments its signature takes.
    Lets these pages follow the workflow modules' signatures without a hard dependency on each."""
    import inspect

    for name in names:
        fn = getattr(target, name, None)
        if fn is None:
            continue
        params = inspect.signature(fn).parameters
        return fn(**{k: v for k, v in offered.items() if k in params})
    return None

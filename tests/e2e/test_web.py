"""The staff web application over HTTP (FastAPI's TestClient) on a small demo book: sign-in and each
role's start page, permissions, masking and audited reveals, CSRF, the collector's one-step call and
promise, the visit form, the warning and approval inboxes, job progress, the language switch."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from daihou.security import audit
from daihou.storage.tables import borrowers, loans
from tests.e2e.browser.book import START, build_book


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, dict[str, str]]:
    return build_book(tmp_path_factory.mktemp("web"), loans=150)


@pytest.fixture
def client(book: tuple[Any, dict[str, str]]) -> TestClient:
    from daihou.api.app import create_app

    return TestClient(create_app(book[0]))


def sign_in(client: TestClient, book: tuple[Any, dict[str, str]], role: str) -> str:
    """Sign in as the demo user of `role`; returns where the login sent it."""
    _, users = book
    r = client.post("/login", data={"username": users[role], "password": users["password"]}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return str(r.headers["location"])


def csrf(client: TestClient) -> dict[str, str]:
    return {"X-CSRF-Token": client.cookies.get("daihou_csrf") or ""}


def a_loan(app: Any, overdue: bool = False) -> dict[str, Any]:
    with app.engine.connect() as conn:
        q = select(loans.c.loan_no, loans.c.officer, borrowers.c.borrower_no, borrowers.c.mobile).join(
            borrowers, borrowers.c.id == loans.c.borrower_id
        )
        if overdue:
            q = q.where(loans.c.dpd > 0)
        return dict(conn.execute(q.order_by(loans.c.id).limit(1)).mappings().one())


def test_a_page_without_a_session_sends_the_browser_to_the_login(client: TestClient) -> None:
    for path in ("/dashboard", "/workbench", "/loans", "/warnings", "/approvals"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login"), path


def test_a_wrong_password_is_refused_and_says_so(client: TestClient, book: Any) -> None:
    _, users = book
    r = client.post("/login", data={"username": users["admin"], "password": "wrong-password-1"})
    assert r.status_code == 401 and "用户名或密码错误" in r.text
    assert "daihou_session" not in r.cookies


@pytest.mark.parametrize(
    ("role", "home"),
    [("risk_manager", "/dashboard"), ("collector", "/workbench"), ("account_officer", "/warnings"),
     ("auditor", "/dashboard")],
)  # fmt: skip
def test_each_role_starts_on_its_own_page(client: TestClient, book: Any, role: str, home: str) -> None:
    assert sign_in(client, book, role) == home
    assert client.get(home).status_code == 200


def test_a_role_without_the_permission_is_refused(client: TestClient, book: Any) -> None:
    sign_in(client, book, "collector")
    assert client.get("/dashboard").status_code == 403
    assert client.get("/approvals").status_code == 403
    assert "/dashboard" not in client.get("/workbench").text  # no link to what it may not see


def test_the_dashboard_shows_the_closed_days_figures(client: TestClient, book: Any) -> None:
    app, _ = book
    sign_in(client, book, "risk_manager")
    page = client.get("/dashboard")
    store, snapshots = app.dashboard_store()
    figures = store.latest()
    assert figures is not None and figures.business_date.isoformat() == "2026-11-20"
    book_now = snapshots.book(figures.business_date)
    assert f"{book_now.loans:,}" in page.text
    assert 'id="chart-buckets"' in page.text and "echarts-6.1.0.min.js" in page.text
    assert figures.payload["book"]["outstanding_fen"] == book_now.outstanding_fen


def test_a_dashboard_refresh_runs_as_a_job_the_page_polls(client: TestClient, book: Any) -> None:
    sign_in(client, book, "risk_manager")
    assert client.post("/jobs/dashboard").status_code == 403  # no CSRF token
    started = client.post("/jobs/dashboard", headers=csrf(client))
    assert (started.status_code == 200 and "hx-get=" in started.text) or 'data-status="done"' in started.text
    job_id = re.search(r'id="job-([0-9a-f]+)"', started.text).group(1)  # type: ignore[union-attr]
    for _ in range(100):
        status = client.get(f"/jobs/{job_id}")
        if 'data-status="running"' not in status.text:
            break
        time.sleep(0.1)
    assert 'data-status="done"' in status.text, status.text
    assert "hx-get" not in status.text  # polling stops when the job is done


def test_personal_data_is_masked_and_a_reveal_is_audited(client: TestClient, book: Any) -> None:
    app, _ = book
    loan = a_loan(app)
    sign_in(client, book, "customer_service")
    page = client.get(f"/loans/{loan['loan_no']}")
    assert page.status_code == 200
    assert loan["mobile"] not in page.text and loan["mobile"][:3] in page.text
    for section in ("transactions", "cases", "promises", "visits", "warnings", "uploads", "documents", "audit"):
        assert f'id="sec-{section}"' in page.text, section
    r = client.post(f"/borrowers/{loan['borrower_no']}/reveal/mobile", headers=csrf(client))
    assert r.status_code == 200 and loan["mobile"] in r.text
    entries, _ = audit.entries(app, entity="borrower", entity_id=loan["borrower_no"], action="pii.reveal")
    assert any(e["actor"] == book[1]["customer_service"] for e in entries)


def test_a_role_without_the_reveal_permission_gets_no_button_and_no_value(client: TestClient, book: Any) -> None:
    app, _ = book
    loan = a_loan(app)
    sign_in(client, book, "auditor")
    page = client.get(f"/loans/{loan['loan_no']}")
    assert "/reveal/" not in page.text
    r = client.post(f"/borrowers/{loan['borrower_no']}/reveal/mobile", headers=csrf(client))
    assert r.status_code == 403 and loan["mobile"] not in r.text
    assert 'id="sec-audit"' in page.text  # the auditor reads the trail


def test_a_loan_outside_an_officers_book_looks_absent(client: TestClient, book: Any) -> None:
    app, users = book
    with app.engine.connect() as conn:
        other = conn.execute(select(loans.c.loan_no).where(loans.c.officer != users["account_officer"])).scalar()
    sign_in(client, book, "account_officer")
    assert client.get(f"/loans/{other}").status_code == 404


def _first_case(client: TestClient) -> int:
    r = client.get("/workbench/next", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/cases/"), r.headers
    return int(r.headers["location"].rsplit("/", 1)[1])


def test_a_collector_logs_a_call_with_a_promise_in_one_step(client: TestClient, book: Any) -> None:
    sign_in(client, book, "collector")
    case_id = _first_case(client)
    due = (START.date() + timedelta(days=2)).isoformat()
    form = {"outcome": "promise_to_pay", "party": "debtor", "notes": "本周五前还款", "promise_amount": "88.00",
            "promise_date": due, "csrf_token": client.cookies.get("daihou_csrf") or ""}  # fmt: skip
    r = client.post(f"/cases/{case_id}/call", data=form)
    assert r.status_code == 200, r.text
    page = client.get(f"/cases/{case_id}").text
    contacts = page.split('id="contacts"')[1].split("</table>")[0]
    promises = page.split('id="promises"')[1].split("</table>")[0]
    assert "本周五前还款" in contacts and "88.00" in promises and due in promises


def test_a_promise_above_the_collectable_amount_is_refused_with_its_code(client: TestClient, book: Any) -> None:
    sign_in(client, book, "collector")
    case_id = _first_case(client)
    form = {"amount": "99999999.00", "due_on": (START.date() + timedelta(days=1)).isoformat(),
            "csrf_token": client.cookies.get("daihou_csrf") or ""}  # fmt: skip
    r = client.post(f"/cases/{case_id}/promise", data=form)
    assert r.status_code == 409 and "amount_above_cap" in r.text


def test_writes_need_the_csrf_token(client: TestClient, book: Any) -> None:
    sign_in(client, book, "collector")
    case_id = _first_case(client)
    r = client.post(f"/cases/{case_id}/call", data={"outcome": "no_answer"})
    assert r.status_code == 403


def test_a_collector_cannot_open_a_case_that_is_not_theirs(client: TestClient, book: Any) -> None:
    from daihou.workflow import collections

    app, users = book
    everyone = collections.cases_visible_to(app, "supervisor", "x", "open", 500)
    others = [c["id"] for c in everyone if c["collector"] != users["collector"]]
    assert others, "the demo book has cases of other collectors or unassigned ones"
    sign_in(client, book, "collector")
    assert client.get(f"/cases/{others[0]}").status_code == 404


def _answer_everything(form_html: str) -> dict[str, str]:
    """An answer for every question on the form: "yes", the first choice, zero or a text."""
    answers: dict[str, str] = {}
    for label in re.findall(r'<label for="(q_\w+)">', form_html):
        block = form_html.split(f'<label for="{label}">', 1)[1]
        field = block.split("</label>", 1)[1].lstrip()
        if field.startswith("<select"):
            options = re.findall(r'<option value="([^"]+)"', field.split("</select>", 1)[0])
            answers[label] = "true" if "true" in options else options[0]
        elif 'inputmode="decimal"' in field.split(">", 1)[0]:
            answers[label] = "0.00"
        else:
            answers[label] = "无异常"
    return answers


def test_the_visit_form_records_a_visit_through_the_visits_workflow(client: TestClient, book: Any) -> None:
    app, users = book
    with app.engine.connect() as conn:
        loan_no = conn.execute(
            select(loans.c.loan_no).where(loans.c.officer == users["account_officer"], loans.c.status == "active")
        ).scalar()
    sign_in(client, book, "account_officer")
    form = client.get(f"/visits/new?loan_no={loan_no}")
    assert form.status_code == 200 and 'name="q_fund_usage"' in form.text
    data = {"loan_no": loan_no, "visit_type": "phone", "visited_on": START.date().isoformat(),
            "officers": users["account_officer"], "findings": "经营正常",
            "csrf_token": client.cookies.get("daihou_csrf") or "", **_answer_everything(form.text)}  # fmt: skip
    missing = client.post("/visits", data={k: v for k, v in data.items() if k != "q_willingness_to_pay"})
    assert missing.status_code == 409 and "answers.willingness_to_pay" in missing.text
    r = client.post("/visits", data=data)
    assert r.status_code == 200 and 'id="message"' in r.text, r.text
    assert "经营正常" in client.get(f"/loans/{loan_no}").text.split('id="sec-visits"')[1]
    bad = client.post("/visits", data={**data, "visited_on": "21/11/2026"})
    assert bad.status_code == 400 and "visited_on" in bad.text


def test_the_warning_inbox_lists_alerts_and_acknowledges_one(client: TestClient, book: Any) -> None:
    sign_in(client, book, "risk_manager")
    page = client.get("/warnings?status=open")
    assert page.status_code == 200
    ids = re.findall(r'id="alert-act-(\d+)"', page.text)
    assert ids, "the demo book raises early warnings on its overdue loans"
    r = client.post(f"/warnings/{ids[0]}/acknowledge", data={"comment": "已电话核实"}, headers=csrf(client))
    assert r.status_code == 200 and "✓" in r.text
    assert f'id="alert-act-{ids[0]}"' not in client.get("/warnings?status=open").text


def test_the_approval_inbox_takes_a_second_person_for_a_manual_classification(client: TestClient, book: Any) -> None:
    from daihou.domain.grades import Grade
    from daihou.service import classification

    app, users = book
    with app.engine.connect() as conn:
        loan_no = conn.execute(select(loans.c.loan_no).where(loans.c.classification != "normal")).scalar()
    proposed = classification.propose(app.uow(), loan_no, Grade.NORMAL, "已追加担保", users["risk_manager"],
                                      START.date())  # fmt: skip
    assert proposed.code == "pending_approval", proposed  # improving needs a checker
    override_id = proposed.detail["id"]
    sign_in(client, book, "risk_manager")
    assert f'id="ovr-{override_id}"' in client.get("/approvals").text
    own = client.post(f"/approvals/override/{override_id}/approve", headers=csrf(client))
    assert own.status_code == 409 and "checker" in own.text  # the maker may not check
    client.cookies.clear()
    sign_in(client, book, "team_lead")
    ok = client.post(f"/approvals/override/{override_id}/approve", headers=csrf(client))
    assert ok.status_code == 200 and "✓" in ok.text


def test_the_language_switch_turns_the_pages_english(client: TestClient, book: Any) -> None:
    sign_in(client, book, "risk_manager")
    assert "不良率" in client.get("/dashboard").text
    r = client.get("/lang/en?next=/dashboard", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/dashboard"
    client.cookies.set("daihou_lang", r.cookies["daihou_lang"])
    english = client.get("/dashboard").text
    assert "NPL ratio" in english and 'lang="en"' in english
    assert client.get("/lang/en?next=//evil.example", follow_redirects=False).headers["location"] == "/"


def _wait(client: TestClient, started_html: str) -> str:
    job_id = re.search(r'id="job-([0-9a-f]+)"', started_html).group(1)  # type: ignore[union-attr]
    for _ in range(200):
        status = client.get(f"/jobs/{job_id}").text
        if 'data-status="running"' not in status:
            return status
        time.sleep(0.1)
    raise AssertionError("the job did not finish")


def test_a_payments_import_runs_as_a_job_and_reports_its_rows(client: TestClient, book: Any) -> None:
    app, _ = book
    loan = a_loan(app, overdue=True)
    day = START.date().isoformat()
    text = (
        "loan_no,paid_on,amount,reference\n"
        f"{loan['loan_no']},{day},10.00,WEB-IMPORT-1\n"
        f"NO-SUCH-LOAN,{day},5.00,WEB-IMPORT-2\n"
    )
    files = {"file": ("p.csv", text.encode(), "text/csv")}
    sign_in(client, book, "collector")
    refused = client.post("/jobs/import", data={"kind": "payments"}, files=files, headers=csrf(client))
    assert refused.status_code == 403  # a collector may not post payments
    client.cookies.clear()
    sign_in(client, book, "admin")
    started = client.post("/jobs/import", data={"kind": "payments", "skip_invalid": "1"}, files=files,
                          headers=csrf(client))  # fmt: skip
    assert started.status_code == 200, started.text
    done = _wait(client, started.text)
    assert 'data-status="done"' in done
    assert "imported: 1" in done and "rejected: 1" in done and "NO-SUCH-LOAN" in done
    with app.engine.connect() as conn:
        from daihou.storage.tables import transactions

        posted = conn.execute(select(transactions.c.amount_fen).where(transactions.c.reference == "WEB-IMPORT-1"))
        assert posted.scalar() == 1000


def test_a_team_lead_approves_an_extension_from_the_approval_inbox(client: TestClient, book: Any) -> None:
    from daihou.domain.approval_limits import RequestKind
    from daihou.service import restructuring
    from daihou.workflow import recovery

    app, users = book
    with app.engine.connect() as conn:
        loan_no = conn.execute(
            select(loans.c.loan_no).where(loans.c.status == "active", loans.c.principal_fen <= 30_000_00).limit(1)
        ).scalar()
    rec = recovery.build(app)
    spec = restructuring.RequestSpec(RequestKind.EXTENSION, loan_no, "临时失业，申请展期一个月", users["collector"],
                                     "collector", months=1)  # fmt: skip
    filed = restructuring.request(rec.uow(), rec.limits, spec)
    assert filed.code == "pending_approval", filed
    request_id = filed.detail["id"]
    sign_in(client, book, "collector")
    assert client.get("/approvals").status_code == 403  # a maker's role does not decide
    client.cookies.clear()
    sign_in(client, book, "team_lead")
    assert f'id="req-{request_id}"' in client.get("/approvals").text
    r = client.post(f"/approvals/request/{request_id}/approve", data={"note": "同意"}, headers=csrf(client))
    assert r.status_code == 200 and "✓" in r.text, r.text
    assert f'id="req-{request_id}"' not in client.get("/approvals").text
    with app.engine.connect() as conn:
        status = conn.execute(select(loans.c.status).where(loans.c.loan_no == loan_no)).scalar()
    assert status == "restructured"


def test_an_administrator_adds_and_disables_a_user_and_it_is_audited(client: TestClient, book: Any) -> None:
    app, _ = book
    sign_in(client, book, "collector")
    assert client.get("/admin/users").status_code == 403
    client.cookies.clear()
    sign_in(client, book, "admin")
    token = client.cookies.get("daihou_csrf") or ""
    form = {"username": "wang.wu", "password": "short", "role": "collector", "csrf_token": token}
    weak = client.post("/admin/users", data=form)
    assert weak.status_code == 409 and "weak_password" in weak.text
    added = client.post("/admin/users", data={**form, "password": "催收-2026-pass", "display_name": "王五"})
    assert added.status_code == 200 and 'id="message"' in added.text
    assert client.post("/admin/users/wang.wu/disable", headers=csrf(client)).status_code == 200
    client.cookies.clear()
    r = client.post("/login", data={"username": "wang.wu", "password": "催收-2026-pass"})
    assert r.status_code == 401
    actions = {e["action"] for e in audit.entries(app, entity="user", entity_id="wang.wu")[0]}
    assert {"user.add", "user.disable"} <= actions


def test_rules_and_templates_pages_show_what_is_in_force(client: TestClient, book: Any) -> None:
    sign_in(client, book, "risk_manager")
    rules = client.get("/admin/rules")
    assert rules.status_code == 200 and "M7+" in rules.text and "100.00%" in rules.text
    templates = client.get("/admin/templates")
    assert templates.status_code == 200
    ids = re.findall(r'hx-post="/admin/templates/([^/"]+)/activate"', templates.text)
    if ids:  # an inactive template: activating it passes the language check, or the answer names the problem
        r = client.post(f"/admin/templates/{ids[0]}/activate", headers=csrf(client))
        assert (r.status_code == 200) == ("✓" in r.text) and r.status_code in (200, 409), r.text
    assert client.get("/admin/users").status_code == 403  # rules.manage is not user.manage

"""The three journeys of issue 6 in real Chromium: a collector works a case, a borrower sees the
schedule and pays, a manager's dashboard draws its charts. Screenshots go to tests/e2e/artifacts/."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from tests.e2e.browser.conftest import START, Server, login, shot


def test_a_collector_logs_a_call_and_a_promise_and_sees_both_on_the_case(page: Any, server: Server) -> None:
    login(page, server, "collector")
    assert page.url.endswith("/workbench")
    page.click("#next-case")  # the first case of the day
    page.wait_for_url(re.compile(r"/cases/\d+$"))
    case_url = page.url
    promised_on = (START.date() + timedelta(days=3)).isoformat()
    page.select_option("#outcome", "promise_to_pay")
    page.fill("#notes", "借款人表示三天内还款")
    page.fill("#promise_amount", "100.00")
    page.fill("#promise_date", promised_on)
    page.click("#log-call")
    page.wait_for_load_state("networkidle")
    assert page.locator("#error").count() == 0, page.locator("#error").inner_text()
    assert page.locator("#message").is_visible()
    # the case shows the call and the promise, also after a fresh load
    page.goto(case_url)
    contacts = page.locator("#contacts tbody tr").first
    assert "借款人表示三天内还款" in contacts.inner_text()
    assert "承诺还款" in contacts.inner_text()
    promise = page.locator("#promises tbody tr").first.inner_text()
    assert "100.00" in promise and promised_on in promise
    shot(page, "collector-case-after-call-and-promise")
    # the loan 360° page: the mobile number is masked until the collector reveals it (audited)
    page.click("h1 a")
    page.wait_for_selector("#schedule")
    masked = page.inner_text("#pii-mobile")
    assert "*" in masked
    page.click("#reveal-mobile")
    page.wait_for_function("() => !document.querySelector('#pii-mobile').innerText.includes('*')")
    revealed = page.inner_text("#pii-mobile")
    assert revealed[:3] == masked[:3] and revealed[-4:] == masked[-4:] and "*" not in revealed
    shot(page, "collector-loan-360")


def test_a_borrower_signs_in_with_an_sms_code_sees_the_schedule_and_pays(page: Any, server: Server) -> None:
    mobile = server.users["borrower"]
    page.goto(server.url + "/portal/login")
    page.fill("#mobile", mobile)
    page.fill("#password", server.users["password"])
    page.click("#send-code")
    page.wait_for_selector("#code")
    page.fill("#code", server.sms.last_code(mobile))
    page.click("#verify")
    page.wait_for_url(re.compile(r"/portal/home$"))
    shot(page, "borrower-home")
    page.locator("#my-loans tbody a").first.click()
    page.wait_for_selector("#schedule")
    rows = page.locator("#schedule tbody tr")
    assert rows.count() > 1
    loan_no = page.url.rsplit("/", 1)[1]
    shot(page, "borrower-schedule")
    amount = page.input_value("#amount")
    assert float(amount) > 0
    page.click("#pay")
    page.wait_for_selector("#gateway-pay")  # the fake gateway's cashier
    shot(page, "borrower-cashier")
    page.click("#gateway-pay")
    page.wait_for_selector("#order-status")
    assert page.get_attribute("#order-status", "data-status") == "paid"
    shot(page, "borrower-paid")
    # the ledger has the payment, once, under the gateway's transaction id
    from daihou.storage.tables import loans, transactions

    app = server.app()
    with app.engine.connect() as conn:
        posted = conn.execute(
            select(transactions.c.amount_fen, transactions.c.reference)
            .join(loans, loans.c.id == transactions.c.loan_id)
            .where(loans.c.loan_no == loan_no, transactions.c.reference.like("GW:%"))
        ).all()
    app.engine.dispose()
    assert len(posted) == 1
    assert posted[0].amount_fen == round(float(amount) * 100)


def test_a_managers_dashboard_draws_its_charts(page: Any, server: Server) -> None:
    login(page, server, "risk_manager")
    page.goto(server.url + "/dashboard")
    for chart in ("#chart-buckets", "#chart-classes", "#chart-roll", "#chart-vintage"):
        page.wait_for_selector(f"{chart} canvas")
        drawn = page.evaluate(
            """(sel) => {
                const c = document.querySelector(sel + ' canvas');
                const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
                return {w: c.width, h: c.height, painted: n};
            }""",
            chart,
        )
        assert drawn["w"] > 100 and drawn["h"] > 100, drawn
        assert drawn["painted"] > 1000, f"{chart} canvas is blank: {drawn}"
    assert "不良率" in page.inner_text("#kpis")
    shot(page, "manager-dashboard")
    page.click("text=English")
    page.wait_for_load_state("networkidle")
    assert "NPL ratio" in page.inner_text("#kpis")
    shot(page, "manager-dashboard-en")

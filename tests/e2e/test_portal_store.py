"""The portal's and the dashboard's stores on SQLite and on real PostgreSQL (the integration suite's
`engine`/`app` fixtures): sign-in codes and sessions expire by the clock whatever the backend does
with time zones, a gateway callback posts once, and the dashboard's figures round-trip."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select

from daihou.bootstrap import App
from daihou.channels import payment_gateway as pg
from daihou.domain.parties import Borrower, PartyKind
from daihou.service import dashboard as dash
from daihou.service import ledger
from daihou.service.commands import BookLoan
from daihou.storage.tables import transactions
from daihou.web import portal_auth as auth
from daihou.web.portal import settle_callback
from tests.integration import conftest as integration
from tests.integration.conftest import FixedClock

# the integration suite's fixtures: every test here runs on SQLite and on PostgreSQL
engine, clock, app = integration.engine, integration.clock, integration.app

MOBILE = "13812345678"


def _book(app: App) -> None:
    with app.uow() as uow:
        uow.borrowers.add(Borrower("B1", PartyKind.INDIVIDUAL, "张三丰", "11010519491231002X", MOBILE))
        uow.commit()
    cmd = BookLoan("L1", "B1", 1_200_000, Decimal("0.12"), 12, date(2026, 1, 15))
    assert ledger.book_loan(app.uow(), cmd).code == "accepted"


class Sms:
    name = "sms"

    def __init__(self) -> None:
        self.codes: list[str] = []

    def send(self, message: object) -> object:
        from daihou.channels.ports import Sent

        self.codes.append(message.params["code"])  # type: ignore[attr-defined]
        return Sent("sms-1")


def test_an_sms_code_and_a_session_expire_by_the_clock(app: App, clock: FixedClock) -> None:
    _book(app)
    store = app.portal_store()
    now = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)
    assert auth.enrol(store, MOBILE, "pass-word-2026", now) is not None
    sms = Sms()
    challenge = auth.start(store, sms, auth.PortalSettings(), MOBILE, "pass-word-2026", now, "zh-CN")
    assert isinstance(challenge, auth.Challenge) and len(sms.codes) == 1
    late = auth.verify(store, challenge.challenge, sms.codes[0], now + auth.CODE_TTL + timedelta(seconds=1))
    assert isinstance(late, auth.Refusal) and late.code == "code_expired"
    again = auth.start(store, sms, auth.PortalSettings(), MOBILE, "pass-word-2026", now, "zh-CN")
    assert isinstance(again, auth.Challenge)
    session = auth.verify(store, again.challenge, sms.codes[1], now + timedelta(minutes=1))
    assert isinstance(session, auth.Session)
    assert auth.resolve(store, session.token, now + timedelta(minutes=2))["borrower_id"] > 0  # type: ignore[index]
    assert auth.resolve(store, session.token, now + auth.SESSION_TTL + timedelta(minutes=2)) is None


def test_a_gateway_callback_posts_the_payment_once(app: App, clock: FixedClock) -> None:
    _book(app)
    clock.value = datetime(2026, 2, 16, 2, 0, tzinfo=UTC)  # the day after the first due date
    store = app.portal_store()
    now = clock.now()
    account = auth.enrol(store, MOBILE, "pass-word-2026", now)
    loan = store.loans_of(store.account(account)["borrower_id"])[0]
    store.add_order("P1", loan["id"], account, 106_000, now)
    gateway = pg.HmacGateway("http://gw", "m1", "secret-key-for-tests")
    form = {"merchant_id": "m1", "order_no": "P1", "txn_id": "T1", "amount_fen": "106000", "status": "paid",
            "timestamp": "20260216100000"}  # fmt: skip
    form["sign"] = gateway.sign(form)
    assert settle_callback(app, store, gateway, form) == (200, "success")
    assert settle_callback(app, store, gateway, form) == (200, "success")
    with app.engine.connect() as conn:
        posted = conn.execute(select(func.count()).where(transactions.c.reference == "GW:T1")).scalar_one()
    assert posted == 1
    order = store.order("P1")
    assert (order["status"], order["outcome_code"], order["gateway_txn_id"]) == ("paid", "accepted", "T1")


def test_the_dashboard_figures_round_trip_and_fall_back_to_the_loans_table(app: App) -> None:
    _book(app)
    store, snapshots = app.dashboard_store()
    assert dash.latest(store) is None
    figures = dash.refresh(store, snapshots, date(2026, 1, 20), datetime(2026, 1, 20, 12, 0, tzinfo=UTC))
    assert figures.payload["source"] == "loans"  # no close of business has run: no snapshot
    assert figures.payload["book"]["loans"] == 1
    assert figures.payload["book"]["outstanding_fen"] == 1_200_000
    assert figures.payload["buckets"] == [{"bucket": "M0", "loans": 1, "balance_fen": 1_200_000, "share": 1.0}]
    again = dash.refresh(store, snapshots, date(2026, 1, 20), datetime(2026, 1, 20, 13, 0, tzinfo=UTC))
    read = dash.latest(store)
    assert read is not None and read.payload == again.payload and read.business_date == date(2026, 1, 20)
    assert read.computed_at.replace(tzinfo=read.computed_at.tzinfo or UTC) == datetime(2026, 1, 20, 13, 0, tzinfo=UTC)

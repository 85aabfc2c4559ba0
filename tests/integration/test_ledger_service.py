"""The ledger use cases against a real store: SQLite and PostgreSQL (see conftest)."""

from __future__ import annotations

import threading
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text

from daihou.bootstrap import App
from daihou.domain.loan import position
from daihou.domain.parties import Borrower, Contact, PartyKind
from daihou.domain.products import Component
from daihou.domain.servicing import Charge, Prepayment, PrepaymentMode, Waiver
from daihou.service import ledger, queries
from daihou.service.commands import BookLoan
from daihou.service.ports import ConcurrencyError
from daihou.storage import tables as t

D = date.fromisoformat


def _borrower(app: App, no: str = "B1") -> None:
    with app.uow() as uow:
        uow.borrowers.add(
            Borrower(
                no,
                PartyKind.INDIVIDUAL,
                "张三丰",
                "11010519491231002X",
                "13812345678",
                "北京市东城区景山前街4号",
                "故宫博物院",
                contacts=(Contact("张翠山", "son", "13900000000"),),
            )
        )
        uow.commit()


def _book(app: App, loan_no: str = "L1", **kw: object) -> None:
    _borrower(app)
    cmd = BookLoan(loan_no, "B1", 1_200_000, Decimal("0.12"), 12, D("2026-01-15"), **kw)  # type: ignore[arg-type]
    assert ledger.book_loan(app.uow(), cmd).code == "accepted"


def _journal_matches_state(app: App, loan_no: str) -> None:
    with app.uow() as uow:
        loan = uow.loans.get(loan_no)
        assert loan is not None
        balances = uow.journal.balances(loan_no)
    expected = {a.value: v for a, v in position(loan).items() if v}
    assert {k: v for k, v in balances.items() if v} == expected


def test_a_booked_loan_survives_a_restart_with_its_schedule_and_disbursement(app: App) -> None:
    _book(app)
    with app.uow() as uow:
        loan = uow.loans.get("L1")
        info = uow.loans.info("L1")
    assert loan is not None and info is not None
    assert len(loan.installments) == 12
    assert sum(i.principal.due for i in loan.installments) == 1_200_000
    assert info.borrower_no == "B1" and info.product_code == "STD"
    assert loan.terms.penalty_rate_annual == Decimal("0.18")
    _journal_matches_state(app, "L1")


def test_booking_the_same_loan_number_twice_is_refused(app: App) -> None:
    _book(app)
    again = ledger.book_loan(app.uow(), BookLoan("L1", "B1", 100, Decimal("0.1"), 1, D("2026-01-15")))
    assert again.code == "duplicate_loan"


def test_a_payment_allocates_oldest_first_and_the_journal_follows(app: App) -> None:
    _book(app)
    out = ledger.post_payment(app.uow(), "L1", 106_619, D("2026-02-15"), "P1")
    assert out.code == "accepted"
    assert out.detail["allocation"] == [
        {"installment": 1, "component": "interest", "amount": "120.00"},
        {"installment": 1, "component": "principal", "amount": "946.19"},
    ]
    _journal_matches_state(app, "L1")


def test_a_replayed_payment_returns_the_first_result_and_moves_no_money(app: App) -> None:
    _book(app)
    first = ledger.post_payment(app.uow(), "L1", 50_000, D("2026-02-15"), "P1")
    with app.uow() as uow:
        before = uow.journal.balances("L1")
    again = ledger.post_payment(app.uow(), "L1", 50_000, D("2026-02-15"), "P1")
    assert again.code == "duplicate" and again.detail == first.detail
    with app.uow() as uow:
        assert uow.journal.balances("L1") == before
        assert uow.connection.execute(select(func.count()).select_from(t.transactions)).scalar_one() == 2


def test_a_reference_reused_for_another_loan_is_a_conflict_not_a_duplicate(app: App) -> None:
    _book(app)
    cmd = BookLoan("L2", "B1", 500_000, Decimal("0.1"), 6, D("2026-01-15"))
    assert ledger.book_loan(app.uow(), cmd).code == "accepted"
    ledger.post_payment(app.uow(), "L1", 50_000, D("2026-02-15"), "P1")
    assert ledger.post_payment(app.uow(), "L2", 50_000, D("2026-02-15"), "P1").code == "reference_conflict"


@pytest.mark.parametrize(
    ("loan_no", "amount", "code"),
    [("NOPE", 100, "loan_not_found"), ("L1", 0, "amount_not_positive"), ("L1", -5, "amount_not_positive")],
)
def test_bad_payments_are_refused_with_a_code_and_change_nothing(
    app: App, loan_no: str, amount: int, code: str
) -> None:
    _book(app)
    out = ledger.post_payment(app.uow(), loan_no, amount, D("2026-02-15"), "PX")
    assert out.code == code and not out.ok
    with app.uow() as uow:
        assert uow.transactions.by_reference("PX") is None


def test_an_overpayment_is_kept_as_borrower_credit(app: App) -> None:
    _book(app)
    out = ledger.post_payment(app.uow(), "L1", 200_000, D("2026-02-15"), "P1")
    assert out.detail["credit"] == "933.81"  # 2000.00 - 1066.19 due
    view = queries.loan_view(app.uow(), "L1")
    assert not isinstance(view, queries.NotFound) and view["credit"] == "933.81"
    _journal_matches_state(app, "L1")


def test_a_payoff_closes_the_loan_and_later_payments_are_refused(app: App) -> None:
    _book(app)
    view = queries.loan_view(app.uow(), "L1", D("2026-02-28"))
    assert not isinstance(view, queries.NotFound) and view["payoff_date"] == "2026-03-01"
    out = ledger.post_payment(app.uow(), "L1", 1_300_000, D("2026-03-01"), "P1")
    assert out.code == "accepted" and out.detail["paid_off"] is True and out.detail["status"] == "paid_off"
    assert ledger.post_payment(app.uow(), "L1", 100, D("2026-03-02"), "P2").code == "loan_closed"
    with app.uow() as uow:
        loan = uow.loans.get("L1")
        versions = uow.connection.execute(select(func.count()).select_from(t.schedule_versions)).scalar_one()
    assert loan is not None and loan.status.value == "paid_off" and loan.schedule_version == 2 and versions == 2
    assert loan.credit_fen == 1_300_000 - int(Decimal(view["payoff_amount"]) * 100)
    _journal_matches_state(app, "L1")


def test_a_reversal_restores_the_balances_with_a_new_entry(app: App) -> None:
    _book(app)
    ledger.post_payment(app.uow(), "L1", 106_619, D("2026-02-15"), "P1")
    with app.uow() as uow:
        before = uow.loans.get("L1")
    ledger.post_payment(app.uow(), "L1", 80_000, D("2026-03-20"), "P2")
    out = ledger.reverse(app.uow(), "P2", D("2026-03-21"), "bounced")
    assert out.code == "accepted"
    with app.uow() as uow:
        after = uow.loans.get("L1")
        kinds = (
            uow.connection.execute(select(t.journal_entries.c.kind).order_by(t.journal_entries.c.id)).scalars().all()
        )
    assert after is not None and before is not None
    # The reversed payment is gone from the state: the loan is as if only P1 had been paid, accrued to 03-19.
    assert after.installments == tuple(i for i in after.installments)  # same schedule version shape
    assert after.credit_fen == 0 and after.received_fen == before.received_fen
    assert [i.principal.paid for i in after.installments] == [i.principal.paid for i in before.installments]
    assert kinds[-1] == "reversal"
    assert ledger.reverse(app.uow(), "P2", D("2026-03-21")).code == "already_reversed"
    _journal_matches_state(app, "L1")


def test_a_back_valued_payment_is_replayed_into_its_place(app: App) -> None:
    _book(app)
    ledger.post_payment(app.uow(), "L1", 106_619, D("2026-04-01"), "LATE")  # pays installment 1 late
    late = ledger.post_payment(app.uow(), "L1", 106_619, D("2026-02-15"), "ONTIME")  # arrives afterwards
    assert late.code == "accepted"
    with app.uow() as uow:
        loan = uow.loans.get("L1")
    assert loan is not None
    assert loan.installments[0].penalty.due == 0  # installment 1 was paid on time after all
    _journal_matches_state(app, "L1")


def test_prepayment_waiver_and_charge_keep_the_journal_equal_to_the_state(app: App) -> None:
    _book(app)
    ledger.post_payment(app.uow(), "L1", 106_619, D("2026-02-15"), "P1")
    ledger.charge(app.uow(), "L1", Charge(D("2026-03-16"), Component.COST, 20_000, "C1", "lawyer letter"))
    ledger.post_payment(app.uow(), "L1", 50_000, D("2026-03-20"), "P2")
    waived = ledger.waive(app.uow(), "L1", Waiver(D("2026-03-21"), Component.PENALTY, 1, "W1", "goodwill"))
    assert waived.code == "accepted"
    too_much = ledger.waive(app.uow(), "L1", Waiver(D("2026-03-21"), Component.PENALTY, 10**9, "W2"))
    assert too_much.code == "waiver_exceeds_outstanding"
    ledger.post_payment(app.uow(), "L1", 200_000, D("2026-03-25"), "P3")
    pre = ledger.prepay(app.uow(), "L1", Prepayment(D("2026-03-25"), 300_000, "PP1", PrepaymentMode.SHORTEN_TERM))
    assert pre.code == "accepted", pre.message
    with app.uow() as uow:
        loan = uow.loans.get("L1")
    assert loan is not None and loan.cost.paid == 20_000
    assert sum(i.principal.due for i in loan.installments) == 1_200_000
    assert len([i for i in loan.installments if i.due_date > D("2026-03-25")]) < 10
    _journal_matches_state(app, "L1")


def test_loan_show_as_of_a_past_date_replays_history(app: App) -> None:
    _book(app)
    ledger.post_payment(app.uow(), "L1", 106_619, D("2026-02-15"), "P1")
    view = queries.loan_view(app.uow(), "L1", D("2026-04-20"))
    past = queries.loan_view(app.uow(), "L1", D("2026-02-10"))
    assert not isinstance(view, queries.NotFound) and not isinstance(past, queries.NotFound)
    assert view["dpd"] == 36 and view["classification"] == "special_mention" and view["bucket"] == "M2"
    assert past["dpd"] == 0 and past["outstanding_principal"] == "12000.00" and past["source"] == "replay"
    assert view["borrower"]["id_number"] == "110105********002X" and view["borrower"]["mobile"] == "138****5678"


def test_a_stale_writer_loses_with_a_concurrency_error(app: App) -> None:
    _book(app)
    uow_a, uow_b = app.uow(), app.uow()
    if app.engine.dialect.name == "sqlite":
        pytest.skip("SQLite serialises writers with a database lock; optimistic locking is exercised on PostgreSQL")
    with uow_a, uow_b:
        a, b = uow_a.loans.get("L1"), uow_b.loans.get("L1")
        assert a is not None and b is not None
        uow_a.loans.save(a, "test", D("2026-01-15"))
        uow_a.commit()
        with pytest.raises(ConcurrencyError):
            uow_b.loans.save(b, "test", D("2026-01-15"))


def test_concurrent_posts_of_one_reference_move_money_once(app: App) -> None:
    _book(app)
    results: list[str] = []

    def post() -> None:
        for _ in range(20):
            try:
                results.append(ledger.post_payment(app.uow(), "L1", 10_000, D("2026-02-15"), "SAME").code)
                return
            except Exception:
                continue

    threads = [threading.Thread(target=post) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(results).count("accepted") == 1
    with app.uow() as uow:
        assert (
            uow.connection.execute(text("select count(*) from transactions where reference = 'SAME'")).scalar_one() == 1
        )
    _journal_matches_state(app, "L1")

"""A seeded year of servicing through the service and a real store: nothing is lost, nothing drifts.

Sixty loans of every method live through ~450 days of random payments (on time, late, partial,
excess), prepayments, waivers, charges, reversals and back-valued payments. Afterwards every loan's
stored state equals a replay of its surviving events, its journal equals its ledger position, and
every yuan received is either allocated or held as credit.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from daihou.bootstrap import App
from daihou.config import Settings
from daihou.domain.loan import position
from daihou.domain.parties import Borrower, PartyKind
from daihou.domain.products import Component
from daihou.domain.servicing import Charge, Prepayment, PrepaymentMode, Waiver, replay
from daihou.service import ledger
from daihou.service.commands import BookLoan
from daihou.storage.engine import make_engine

START = date(2025, 6, 1)
PRODUCTS = ["STD", "CONSUMER", "MORTGAGE", "SME_REVOLVE", "BRIDGE"]


class Clock:
    def now(self):  # type: ignore[no-untyped-def]
        from datetime import UTC, datetime

        return datetime(2026, 11, 22, tzinfo=UTC)


@pytest.fixture
def app(tmp_path: Path) -> App:
    url = f"sqlite:///{tmp_path / 'sim.db'}"
    application = App(Settings(database_url=url), make_engine(url), Clock())
    application.initialise()
    return application


def _id_number(rng: random.Random) -> str:
    from daihou.domain.identity import id_check_char

    body = f"110105{rng.randint(1960, 2000)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{rng.randint(0, 999):03d}"
    return body + id_check_char(body)


def test_a_year_of_random_servicing_keeps_state_journal_and_cash_consistent(app: App) -> None:
    rng = random.Random(20261122)
    loans = []
    with app.uow() as uow:
        for k in range(60):
            uow.borrowers.add(Borrower(f"B{k}", PartyKind.INDIVIDUAL, "测试", _id_number(rng), "13800000000"))
        uow.commit()
    for k in range(60):
        product = PRODUCTS[k % len(PRODUCTS)]
        disbursed = START + timedelta(days=rng.randint(0, 90))
        first_due = disbursed + timedelta(days=rng.randint(20, 45)) if rng.random() < 0.3 else None
        periods = 12 if product != "BRIDGE" else 6
        cmd = BookLoan(
            f"L{k}",
            f"B{k}",
            rng.randint(5_000, 200_000) * 100,
            Decimal(rng.randint(300, 2400)) / 10000,
            periods,
            disbursed,
            product_code=product,
            first_due_on=first_due,
        )
        assert ledger.book_loan(app.uow(), cmd).code == "accepted"
        loans.append(f"L{k}")

    refs: list[tuple[str, str]] = []  # (loan, reference) of accepted money events
    seen: Counter[tuple[str, str]] = Counter()  # (kind, outcome code)
    day = START
    n = 0
    while day < START + timedelta(days=450):
        day += timedelta(days=rng.randint(3, 12))
        for loan_no in rng.sample(loans, 12):
            n += 1
            ref = f"E{n}"
            roll = rng.random()
            if roll < 0.55:
                out = ledger.post_payment(app.uow(), loan_no, rng.randint(1, 400_000), day, ref)
            elif roll < 0.65:
                mode = rng.choice(list(PrepaymentMode))
                out = ledger.prepay(app.uow(), loan_no, Prepayment(day, rng.randint(1, 3_000_000), ref, mode))
            elif roll < 0.72:
                comp = rng.choice([Component.PENALTY, Component.COMPOUND, Component.INTEREST])
                out = ledger.waive(app.uow(), loan_no, Waiver(day, comp, rng.randint(1, 5_000), ref))
            elif roll < 0.77:
                out = ledger.charge(app.uow(), loan_no, Charge(day, Component.COST, rng.randint(1, 50_000), ref))
            elif roll < 0.87 and refs:
                victim_loan, victim = rng.choice(refs)
                out = ledger.reverse(app.uow(), victim, day)
                seen["reversal", out.code] += 1
                if out.code == "accepted":
                    refs.remove((victim_loan, victim))
                continue
            else:  # a payment that arrives late in the files, dated some days back
                back = day - timedelta(days=rng.randint(1, 20))
                out = ledger.post_payment(app.uow(), loan_no, rng.randint(1, 200_000), back, ref)
            seen[
                (
                    "payment"
                    if roll < 0.55
                    else "prepayment"
                    if roll < 0.65
                    else "waiver"
                    if roll < 0.72
                    else "charge"
                    if roll < 0.77
                    else "back-valued"
                ),
                out.code,
            ] += 1
            assert out.code != ledger.DUPLICATE
            if out.code == "accepted":
                refs.append((loan_no, ref))

    assert len(refs) > 150, "the simulation should exercise many accepted events"
    for kind in ("payment", "prepayment", "waiver", "charge", "back-valued", "reversal"):
        assert seen[kind, "accepted"] >= 5, (kind, seen)
    assert seen["payment", "loan_closed"] > 0 and seen["prepayment", "arrears_outstanding"] > 0, seen
    with app.uow() as uow:
        for loan_no in loans:
            loan = uow.loans.get(loan_no)
            assert loan is not None
            events = [e for _, e in uow.loans.events(loan_no)]
            replayed = replay(uow.loans.opening(loan_no), events, loan.accrued_through).loan
            assert replayed.installments == loan.installments, loan_no
            assert (replayed.credit_fen, replayed.received_fen, replayed.status) == (
                loan.credit_fen,
                loan.received_fen,
                loan.status,
            )
            balances = {k: v for k, v in uow.journal.balances(loan_no).items() if v}
            assert balances == {a.value: v for a, v in position(loan).items() if v}, loan_no
            paid = sum(
                i.owed(c).paid
                for i in loan.installments
                for c in (Component.PRINCIPAL, Component.INTEREST, Component.PENALTY, Component.COMPOUND)
            )
            assert loan.received_fen == paid + loan.cost.paid + loan.fee.paid + loan.credit_fen, loan_no
            received = sum(e.amount_fen for e in events if type(e).__name__ in ("Payment", "Prepayment"))
            assert loan.received_fen == received, loan_no
            assert all(
                i.owed(c).outstanding >= 0
                for i in loan.installments
                for c in Component
                if c not in (Component.COST, Component.FEE)
            )

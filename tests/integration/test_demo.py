"""The demo book (`daihou demo`) on a real store: SQLite and PostgreSQL (see conftest).

The demo engine simulates payments as arrays; these tests load loans back through the unit of work
and hold them against the domain: replaying a loan's stored payments from its opening must give
the stored loan exactly, and its journal must sum to its ledger position.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Table, func, inspect, select, text

from daihou.bootstrap import App
from daihou.demo import DemoSummary, build_demo_book
from daihou.demo.generate import PRODUCT_MIX, ProductRef, generate_book
from daihou.demo.rows import Rows
from daihou.domain.identity import id_number_problem, mobile_problem, uscc_problem
from daihou.domain.loan import LoanStatus, position
from daihou.domain.parties import Borrower, PartyKind
from daihou.domain.products import RepaymentMethod
from daihou.domain.servicing import Applied, replay
from daihou.service import ledger
from daihou.service.commands import BookLoan
from daihou.storage import tables as t
from daihou.storage.tables import metadata

AS_OF = date(2026, 11, 22)
LOANS = 3_000
SAMPLE = 150


@pytest.fixture(autouse=True)
def _wipe_sqlite_book_after(app: App) -> Iterator[None]:
    """Empty the SQLite book with foreign-key checks off once a test is done.

    The shared fixture empties tables row by row with the checks on; `transactions.reverses_id`
    has no index, so each deleted transaction scans the table: quadratic on a demo book.
    """
    yield
    if app.engine.dialect.name != "sqlite":
        return
    raw = app.engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("PRAGMA foreign_keys=OFF")  # outside a transaction, or SQLite ignores it
        for table in reversed(metadata.sorted_tables):
            if table is not t.products:
                cur.execute(f"DELETE FROM {table.name}")
        raw.commit()
        cur.execute("PRAGMA foreign_keys=ON")
    finally:
        raw.close()


def _build(app: App, loans: int = LOANS, seed: int = 7) -> DemoSummary:
    return build_demo_book(app.engine, loans=loans, seed=seed, as_of=AS_OF, now=app.clock.now())


def _count(app: App, table: Table) -> int:
    with app.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _loan_nos(app: App) -> list[str]:
    with app.engine.connect() as conn:
        return list(conn.execute(select(t.loans.c.loan_no).order_by(t.loans.c.id)).scalars())


def test_every_sampled_demo_loan_is_what_its_payments_make_of_it_and_its_journal_agrees(app: App) -> None:
    _build(app)
    sample = random.Random(2026).sample(_loan_nos(app), SAMPLE)
    seen: Counter[str] = Counter()
    with app.uow() as uow:
        for loan_no in sample:
            stored = uow.loans.get(loan_no)
            assert stored is not None
            events = [e for _, e in uow.loans.events(loan_no)]
            replayed = replay(uow.loans.opening(loan_no), events, AS_OF)
            assert all(isinstance(r, Applied) for r in replayed.results), loan_no
            assert replayed.loan == stored, loan_no
            balances = {k: v for k, v in uow.journal.balances(loan_no).items() if v}
            assert balances == {a.value: v for a, v in position(stored).items() if v}, loan_no
            seen[stored.status.value] += 1
            seen[f"v{stored.schedule_version}"] += 1
    # the sample covers the interesting cases, not only loans paid on time
    assert seen["overdue"] and seen["paid_off"] and seen["active"] and seen["v2"]


def test_the_demo_book_has_valid_identities_and_a_realistic_mix(app: App) -> None:
    summary = _build(app)
    with app.engine.connect() as conn:
        borrowers = conn.execute(select(t.borrowers.c.kind, t.borrowers.c.id_number, t.borrowers.c.mobile)).all()
        contacts = list(conn.execute(select(t.borrower_contacts.c.mobile)).scalars())
        methods = Counter(conn.execute(select(t.loans.c.method)).scalars())
        statuses = Counter(conn.execute(select(t.loans.c.status)).scalars())
        officers = set(conn.execute(select(t.loans.c.officer)).scalars())
        disbursed = conn.execute(select(func.min(t.loans.c.disbursed_on), func.max(t.loans.c.disbursed_on))).one()
        broken = conn.execute(select(func.count()).where(t.loans.c.first_due_on.is_not(None))).scalar_one()
        two_loans = conn.execute(
            select(func.count()).select_from(
                select(t.loans.c.borrower_id).group_by(t.loans.c.borrower_id).having(func.count() == 2).subquery()
            )
        ).scalar_one()

    kinds = Counter(kind for kind, _, _ in borrowers)
    for kind, id_number, mobile in borrowers:
        check = id_number_problem if kind == PartyKind.INDIVIDUAL.value else uscc_problem
        assert check(id_number) is None, id_number
        assert mobile_problem(mobile) is None, mobile
    assert all(mobile_problem(m) is None for m in contacts)
    assert len({id_number for _, id_number, _ in borrowers}) == len(borrowers)
    assert len(contacts) == kinds[PartyKind.INDIVIDUAL.value]  # one emergency contact each
    assert 0.08 < kinds[PartyKind.ENTERPRISE.value] / len(borrowers) < 0.25

    assert set(methods) == {m.value for m in RepaymentMethod}
    assert methods[RepaymentMethod.EQUAL_INSTALLMENT.value] > LOANS / 2
    assert set(summary.loans_by_behaviour) == {"on_time", "early_payoff", "late", "partial", "default"}
    assert all(summary.loans_by_behaviour.values())
    assert summary.loans_by_behaviour["on_time"] > LOANS / 2
    assert 0.02 < statuses[LoanStatus.OVERDUE.value] / LOANS < 0.15
    assert dict(statuses) == {k: v for k, v in summary.loans_by_status.items() if v}
    assert 30 <= len(officers) <= 40
    assert (AS_OF - disbursed[0]).days <= 730 and disbursed[1] < AS_OF
    assert 0.1 < broken / LOANS < 0.3
    assert 0.05 < two_loans / len(borrowers) < 0.15

    assert summary.loans == LOANS == _count(app, t.loans)
    assert summary.borrowers == _count(app, t.borrowers)
    assert summary.installments == _count(app, t.installments)
    assert summary.transactions == _count(app, t.transactions)
    assert summary.journal_lines == _count(app, t.journal_lines)


def test_a_demo_book_is_only_built_into_a_book_without_loans(app: App) -> None:
    _build(app, loans=50)
    with pytest.raises(ValueError, match="already has 50 loans"):
        _build(app, loans=50, seed=8)
    assert _count(app, t.loans) == 50


@pytest.mark.parametrize("loans", [100, LOANS])  # on SQLite, a book of LOANS loans has a helper process
def test_a_demo_load_that_fails_half_way_leaves_the_book_as_it_was(
    app: App, monkeypatch: pytest.MonkeyPatch, loans: int
) -> None:
    real_of = Rows.of

    def of_then_failure(self: Rows, table: Table) -> Iterator[Any]:
        if table is t.transactions:  # borrowers, contacts, loans, schedules and installments are written
            raise OSError("disk full")
        return real_of(self, table)

    monkeypatch.setattr(Rows, "of", of_then_failure)
    with pytest.raises(OSError, match="disk full"):
        _build(app, loans=loans)
    assert _count(app, t.borrowers) == _count(app, t.loans) == _count(app, t.installments) == 0
    assert _count(app, t.journal_lines) == 0
    schema = inspect(app.engine)
    assert {ix["name"] for ix in schema.get_indexes("journal_lines")} >= {"ix_journal_lines_entry_id"}
    assert schema.get_foreign_keys("installments")
    monkeypatch.undo()
    assert _build(app, loans=100).loans == 100


def test_the_application_keeps_working_on_a_demo_book(app: App) -> None:
    """New rows get fresh IDs (PostgreSQL sequences moved on) and the SQLite load settings are undone."""
    if app.engine.dialect.name == "sqlite":  # another connection has the file open: the load stays in WAL
        with app.engine.connect() as reader:
            reader.execute(select(func.count()).select_from(t.products)).scalar_one()
            _build(app, loans=200)
    else:
        _build(app, loans=200)
    with app.uow() as uow:
        uow.borrowers.add(Borrower("NEW-1", PartyKind.INDIVIDUAL, "李四", "11010519491231002X", "13812345678"))
        uow.commit()
    cmd = BookLoan("NEW-L1", "NEW-1", 1_000_000, Decimal("0.06"), 12, date(2026, 11, 1))
    assert ledger.book_loan(app.uow(), cmd).code == "accepted"
    assert ledger.post_payment(app.uow(), "NEW-L1", 50_000, date(2026, 11, 20), "NEW-P1").code == "accepted"
    active = next(n for n in _loan_nos(app) if _status(app, n) == LoanStatus.ACTIVE.value)
    assert ledger.post_payment(app.uow(), active, 100, AS_OF + timedelta(days=1), "NEW-P2").ok
    if app.engine.dialect.name == "sqlite":
        with app.engine.connect() as conn:
            assert conn.execute(text("PRAGMA foreign_keys")).scalar_one() == 1
            assert conn.execute(text("PRAGMA synchronous")).scalar_one() == 1  # NORMAL, as the engine sets it
            assert conn.execute(text("PRAGMA foreign_key_check")).all() == []
            assert conn.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"


def _status(app: App, loan_no: str) -> str:
    with app.engine.connect() as conn:
        return str(conn.execute(select(t.loans.c.status).where(t.loans.c.loan_no == loan_no)).scalar_one())


def test_the_same_seed_gives_the_same_book_and_another_seed_another(app: App) -> None:
    with app.uow() as uow:
        stored = {p.code: p for p in uow.products.all()}
    products = [ProductRef(k, stored[m.code]) for k, m in enumerate(PRODUCT_MIX, start=1)]

    def book(seed: int) -> tuple[list[str], list[int], list[str], list[int]]:
        b = generate_book(products, loans=300, seed=seed, as_of=AS_OF)
        return (
            b.parties.id_number.tolist(),
            b.loans.principal_fen.tolist(),
            b.parties.name.tolist(),
            b.outcome.payments.amount.tolist(),
        )

    assert book(1) == book(1)
    assert book(1) != book(2)

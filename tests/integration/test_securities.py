"""Guarantors and collateral are kept with their loan, with valuation history and custody status."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from daihou.bootstrap import App
from daihou.domain.parties import (
    Borrower,
    Collateral,
    CollateralKind,
    CustodyStatus,
    Guarantor,
    PartyKind,
    Valuation,
)
from daihou.service import ledger, queries, securities
from daihou.service.commands import BookLoan

D = date.fromisoformat


def _loan(app: App) -> None:
    with app.uow() as uow:
        uow.borrowers.add(Borrower("B1", PartyKind.INDIVIDUAL, "李四", "11010519491231002X", "13812345678"))
        uow.commit()
    cmd = BookLoan("L1", "B1", 50_000_000, Decimal("0.049"), 120, D("2026-01-15"), product_code="MORTGAGE")
    assert ledger.book_loan(app.uow(), cmd).code == "accepted"


def test_a_guarantor_is_validated_and_shown_masked_on_the_loan(app: App) -> None:
    _loan(app)
    bad = securities.add_guarantor(app.uow(), "L1", Guarantor(PartyKind.INDIVIDUAL, "王五", "110105194912310021"))
    assert bad.code == "invalid" and "check digit" in bad.message
    good = Guarantor(PartyKind.ENTERPRISE, "北京某某担保有限公司", "91350100M000100Y43", amount_fen=10_000_000)
    assert securities.add_guarantor(app.uow(), "L1", good).code == "accepted"
    view = queries.loan_view(app.uow(), "L1")
    assert not isinstance(view, queries.NotFound)
    assert view["guarantors"][0]["id_number"] == "913501********0Y43" and view["guarantors"][0]["amount"] == "100000.00"


def test_collateral_keeps_its_valuation_history_and_custody_only_moves_forward(app: App) -> None:
    _loan(app)
    house = Collateral(
        CollateralKind.REAL_ESTATE,
        "北京市朝阳区某小区3号楼101",
        "李四",
        "京(2026)朝阳区不动产证明第0001号",
        valuations=(Valuation(D("2026-01-10"), 80_000_000, "某评估公司"),),
    )
    added = securities.add_collateral(app.uow(), "L1", house)
    cid = added.detail["id"]
    assert securities.revalue(app.uow(), cid, Valuation(D("2026-07-01"), 60_000_000, "某评估公司")).code == "accepted"
    assert securities.move_custody(app.uow(), cid, CustodyStatus.IN_CUSTODY).code == "accepted"
    assert securities.move_custody(app.uow(), cid, CustodyStatus.RELEASED).code == "accepted"
    refused = securities.move_custody(app.uow(), cid, CustodyStatus.IN_CUSTODY)
    assert refused.code == "custody_transition_not_allowed"
    with app.uow() as uow:
        stored = uow.securities.get_collateral(cid)
    assert stored is not None and stored.custody_status is CustodyStatus.RELEASED
    assert stored.latest_value_fen == 60_000_000 and stored.value_change() == Decimal("-0.25")
    assert securities.add_collateral(app.uow(), "NOPE", house).code == "not_found"

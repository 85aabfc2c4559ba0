"""Collection KPIs per collector, team and agency from the cases, contacts and promises in the store."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import insert, select
from typer.testing import CliRunner

from daihou.bootstrap import App
from daihou.cli.main import app as cli
from daihou.domain.parties import Borrower, PartyKind
from daihou.service import ledger
from daihou.service.commands import BookLoan
from daihou.storage.collection_tables import collection_cases, contact_log, promises
from daihou.storage.recovery_tables import agencies
from daihou.storage.tables import loans
from daihou.workflow.kpis import collection_kpis

D = date.fromisoformat
NOW = datetime(2026, 11, 1, tzinfo=UTC)


def _case(conn: Any, loan_id: int, borrower_id: int, **kw: Any) -> int:
    row = {
        "loan_id": loan_id,
        "borrower_id": borrower_id,
        "stage": "m1_early",
        "status": "open",
        "opened_on": D("2026-10-01"),
        "open_reason": "dpd",
        "stage_since": D("2026-10-01"),
        "segment": "m1_early|*",
        "strategy_arm": "champion",
        "treatment": "call",
        "worker": "in_house",
        "score_band": "unscored",
        "balance_band": "low",
        "balance_at_open_fen": 100_000,
        "balance_fen": 100_000,
        "overdue_fen": 10_000,
        "collectable_fen": 100_000,
        "collected_fen": 0,
        "dpd": 5,
        "version": 1,
        "created_at": NOW,
        "updated_at": NOW,
    } | kw
    return int(conn.execute(insert(collection_cases).values(row)).inserted_primary_key[0])


def _contact(
    conn: Any, case_id: int, loan_id: int, borrower_id: int, at: str, outcome: str, party: str = "debtor"
) -> None:
    conn.execute(
        insert(contact_log).values(
            case_id=case_id,
            loan_id=loan_id,
            borrower_id=borrower_id,
            channel="call",
            party=party,
            number="13812345678",
            started_at=datetime.fromisoformat(at),
            outcome=outcome,
            collector="c1",
            created_at=NOW,
        )
    )


def _promise(conn: Any, case_id: int, loan_id: int, on: str, amount: int, paid: int, status: str) -> None:
    conn.execute(
        insert(promises).values(
            case_id=case_id,
            loan_id=loan_id,
            promised_on=D(on),
            due_on=D(on),
            amount_fen=amount,
            paid_fen=paid,
            status=status,
            created_by="c1",
            created_at=NOW,
        )
    )


@pytest.fixture
def worked(app: App) -> App:
    """Two collectors in two teams, one agency placement, October 2026."""
    with app.uow() as uow:
        uow.borrowers.add(Borrower("B1", PartyKind.INDIVIDUAL, "张三丰", "11010519491231002X", "13812345678"))
        uow.commit()
    for n in range(4):
        cmd = BookLoan(f"L{n}", "B1", 1_000_000, Decimal("0.12"), 12, D("2026-01-15"), "STD")
        assert ledger.book_loan(app.uow(), cmd).code == "accepted"
    with app.engine.begin() as conn:
        ids = [i for (i,) in conn.execute(select(loans.c.id).order_by(loans.c.id))]
        borrower = conn.execute(select(loans.c.borrower_id)).scalars().first()
        agency = conn.execute(
            insert(agencies).values(code="AG1", name="华信催收", created_at=NOW)
        ).inserted_primary_key[0]
        a = _case(conn, ids[0], borrower, collector="c1", team="north", collected_fen=40_000)
        b = _case(
            conn,
            ids[1],
            borrower,
            collector="c1",
            team="north",
            status="closed",
            closed_on=D("2026-10-20"),
            close_reason="cured",
            collected_fen=100_000,
        )
        c = _case(conn, ids[2], borrower, collector="c2", team="south", strategy_arm="challenger")
        _case(conn, ids[3], borrower, team="south", placement_agency_id=agency, worker="agency", collected_fen=30_000)
        # a case closed before the period is not counted
        _case(
            conn,
            ids[3],
            borrower,
            collector="c2",
            team="south",
            status="closed",
            opened_on=D("2026-08-01"),
            closed_on=D("2026-09-15"),
            close_reason="cured",
            collected_fen=999_999,
        )
        _contact(conn, a, ids[0], borrower, "2026-10-02T02:00:00+00:00", "no_answer")
        _contact(conn, a, ids[0], borrower, "2026-10-03T02:00:00+00:00", "promise_to_pay")
        _contact(conn, b, ids[1], borrower, "2026-10-05T03:00:00+00:00", "connected", party="contact_person")
        _contact(conn, c, ids[2], borrower, "2026-10-06T03:00:00+00:00", "no_answer")
        # 16:30 UTC on 31 October is 00:30 on 1 November in Shanghai: outside October
        _contact(conn, c, ids[2], borrower, "2026-10-31T16:30:00+00:00", "connected")
        _promise(conn, a, ids[0], "2026-10-03", 20_000, 20_000, "kept")
        _promise(conn, a, ids[0], "2026-10-10", 20_000, 5_000, "partly_kept")
        _promise(conn, b, ids[1], "2026-10-12", 50_000, 0, "broken")
        _promise(conn, c, ids[2], "2026-10-30", 10_000, 0, "pending")
    return app


def _row(table: Any, key: str, value: str) -> dict[str, Any]:
    rows = table[table[key] == value].to_dict(orient="records")
    assert len(rows) == 1, rows
    return dict(rows[0])


def test_kpis_per_collector_count_cases_contacts_and_promises_of_the_period(worked: App) -> None:
    table = collection_kpis(worked, D("2026-10-01"), D("2026-10-31"), "collector")
    c1 = _row(table, "collector", "c1")
    assert (c1["cases"], c1["balance_at_open_fen"], c1["collected_fen"]) == (2, 200_000, 140_000)
    assert c1["recovery_rate"] == 0.7 and c1["closed_cured"] == 1
    assert (c1["contacts"], c1["conversations"], c1["right_party"]) == (3, 2, 1)
    assert c1["contact_rate"] == 1.0 and c1["right_party_rate"] == 0.5
    assert (c1["promises"], c1["promises_resolved"], c1["promises_kept"]) == (3, 3, 1)
    assert c1["promise_kept_rate"] == round(1 / 3, 4) and c1["promise_paid_fen"] == 25_000
    c2 = _row(table, "collector", "c2")
    assert (c2["cases"], c2["contacts"], c2["conversations"], c2["contact_rate"]) == (1, 1, 0, 0.0)
    assert c2["promises"] == 1 and c2["promise_kept_rate"] == 0.0  # pending: not yet resolved
    unassigned = _row(table, "collector", "(unassigned)")
    assert unassigned["cases"] == 1 and unassigned["collected_fen"] == 30_000
    total = _row(table, "collector", "(total)")
    assert total["cases"] == 4 and total["collected_fen"] == 170_000 and total["recovery_rate"] == 0.425


def test_kpis_group_by_team_agency_and_strategy_arm(worked: App) -> None:
    october = (D("2026-10-01"), D("2026-10-31"))
    by_team = collection_kpis(worked, *october, "team")
    assert _row(by_team, "team", "north")["cases"] == 2 and _row(by_team, "team", "south")["cases"] == 2
    by_agency = collection_kpis(worked, *october, "agency")
    assert _row(by_agency, "agency", "华信催收")["collected_fen"] == 30_000
    assert _row(by_agency, "agency", "(unassigned)")["cases"] == 3
    by_arm = collection_kpis(worked, *october, "strategy_arm")
    assert _row(by_arm, "strategy_arm", "challenger")["cases"] == 1
    with pytest.raises(ValueError, match="unknown grouping"):
        collection_kpis(worked, *october, "region")


def test_report_collections_prints_json_with_amounts_in_yuan(worked: App, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAIHOU_DATA_DIR", str(worked.settings.data_dir))
    args = ["--db", worked.settings.database_url, "report", "collections", "--from", "2026-10-01", "--to", "2026-10-31"]
    result = CliRunner().invoke(cli, [*args, "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["collector"]: r for r in json.loads(result.output)["rows"]}
    assert rows["c1"]["collected"] == "1400.00" and rows["c1"]["recovery_rate"] == 0.7
    bad = CliRunner().invoke(cli, [*args[:4], "--from", "2026-10-31", "--to", "2026-10-01"])
    assert bad.exit_code == 2 and "before" in bad.output

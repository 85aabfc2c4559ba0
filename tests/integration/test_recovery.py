"""Recovery against the real store (SQLite and PostgreSQL): requests with maker-checker and limits by
role, restructuring and write-off through the ledger, legal matters, agencies, guarantors,
collateral disposal, letters, and the CLI.

Every loan is ¥12,000 (or more) over 12 months at 12 %, disbursed 2026-01-15, first due 2026-02-15.
A one-fen payment on 2026-04-01 brings a loan to that day with penalty interest accrued.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select
from typer.testing import CliRunner

from daihou.batch.cob.runner import DayDone
from daihou.bootstrap import App
from daihou.cli.main import app as cli
from daihou.domain.approval_limits import RequestKind
from daihou.domain.identity import id_check_char
from daihou.domain.loan import LoanStatus, position
from daihou.domain.parties import (
    Borrower,
    Collateral,
    CollateralKind,
    Contact,
    CustodyStatus,
    GuaranteeType,
    Guarantor,
    PartyKind,
    Valuation,
)
from daihou.domain.products import Component
from daihou.domain.restructuring import ArrearsTreatment
from daihou.service import ledger, securities
from daihou.service import recovery as svc
from daihou.service import restructuring as rs
from daihou.service.commands import BookLoan
from daihou.storage import recovery_tables as rt
from daihou.storage import tables as t
from daihou.workflow import letters
from daihou.workflow import recovery as wf

D = date.fromisoformat
ON = D("2026-04-01")


def _id_number(k: int) -> str:
    body = f"110105{1970 + k}0101{k:03d}"
    return body + id_check_char(body)


def _book(app: App, loan_no: str, principal_fen: int = 1_200_000, borrower: str = "B1") -> None:
    with app.uow() as uow:
        if uow.borrowers.get(borrower) is None:
            contacts = (Contact("李四", "spouse", "13900000002"),)
            uow.borrowers.add(
                Borrower(borrower, PartyKind.INDIVIDUAL, "张三", _id_number(1), "13900000001", contacts=contacts)
            )
            uow.commit()
    cmd = BookLoan(loan_no, borrower, principal_fen, Decimal("0.12"), 12, D("2026-01-15"))
    assert ledger.book_loan(app.uow(), cmd).code == "accepted"
    # bring the loan to 2026-04-01: two installments overdue, penalty accrued
    assert ledger.post_payment(app.uow(), loan_no, 1, ON, f"PROBE-{loan_no}").code == "accepted"


def _books_balance(app: App, loan_no: str) -> None:
    """The journal, summed per account, equals the loan's position: every entry posted what moved."""
    with app.uow() as uow:
        loan = uow.loans.get(loan_no)
        assert loan is not None
        journal = uow.journal.balances(loan_no)
    expected = {a.value: v for a, v in position(loan).items() if v}
    assert {a: v for a, v in journal.items() if v} == expected


def _spec(kind: RequestKind, loan_no: str, role: str = "collector", user: str = "maker", **kw: Any) -> rs.RequestSpec:
    return rs.RequestSpec(kind, loan_no, "hardship after job loss", user, role, **kw)


def _request(app: App, spec: rs.RequestSpec) -> int:
    rec = wf.build(app)
    outcome = rs.request(rec.uow(), rec.limits, spec)
    assert outcome.code == rs.PENDING_APPROVAL, outcome
    return int(outcome.detail["id"])


def _loan(app: App, loan_no: str) -> Any:
    with app.uow() as uow:
        return uow.loans.get(loan_no)


# ---------------------------------------------------------------- maker-checker and limits


def test_a_small_penalty_waiver_is_approved_by_a_team_lead_and_posted_to_the_ledger(app: App) -> None:
    _book(app, "L1")
    penalty = _loan(app, "L1").owed_total(Component.PENALTY)
    amount = penalty * 3 // 10  # 30 % of the penalty: within the team lead's share
    rid = _request(app, _spec(RequestKind.WAIVER, "L1", component=Component.PENALTY, amount_fen=amount))
    assert wf.decide(app, rid, "maker", "team_lead", True).code == rs.SAME_PERSON
    outcome = wf.decide(app, rid, "lead", "team_lead", True, "ok", ON)
    assert outcome.code == "accepted", outcome
    assert _loan(app, "L1").owed_total(Component.PENALTY) == penalty - amount
    with app.uow() as uow:
        txn = uow.transactions.by_reference(f"RQ{rid}:waiver")
    assert txn is not None and txn.kind == "waiver" and txn.amount_fen == amount
    assert [r.status for r in wf.list_requests(app, None)] == ["approved"]
    _books_balance(app, "L1")


def test_a_waiver_above_the_team_leads_share_needs_a_risk_manager(app: App) -> None:
    _book(app, "L1")
    penalty = _loan(app, "L1").owed_total(Component.PENALTY)
    rid = _request(app, _spec(RequestKind.WAIVER, "L1", component=Component.PENALTY, amount_fen=penalty // 2))
    assert wf.decide(app, rid, "lead", "team_lead", True).code == rs.ROLE_OVER_LIMIT
    assert [r.id for r in wf.list_requests(app, "pending", "team_lead")] == []
    assert [r.id for r in wf.list_requests(app, "pending", "risk_manager")] == [rid]
    assert wf.decide(app, rid, "risk", "risk_manager", True, on=ON).code == "accepted"


def test_a_large_waiver_needs_two_different_approvers(app: App) -> None:
    _book(app, "BIG", principal_fen=20_000_000)  # ¥200,000
    rid = _request(
        app, _spec(RequestKind.WAIVER, "BIG", role="risk_manager", component=Component.PRINCIPAL, amount_fen=6_000_000)
    )
    first = wf.decide(app, rid, "rm1", "risk_manager", True, on=ON)
    assert first.code == rs.PENDING_APPROVAL and first.detail["approvals"] == 1
    assert wf.decide(app, rid, "rm1", "risk_manager", True, on=ON).code == rs.ALREADY_DECIDED
    before = _loan(app, "BIG").outstanding_principal_fen
    assert wf.decide(app, rid, "rm2", "risk_manager", True, on=ON).code == "accepted"
    assert _loan(app, "BIG").outstanding_principal_fen == before - 6_000_000
    _books_balance(app, "BIG")


def test_a_role_that_may_not_make_a_request_is_refused_and_a_rejection_moves_nothing(app: App) -> None:
    _book(app, "L1")
    rec = wf.build(app)
    refused = rs.request(rec.uow(), rec.limits, _spec(RequestKind.WRITEOFF, "L1", role="collector"))
    assert refused.code == rs.ROLE_MAY_NOT_REQUEST
    rid = _request(app, _spec(RequestKind.EXTENSION, "L1", months=6))
    assert wf.decide(app, rid, "lead", "team_lead", False, "no income proof").code == "accepted"
    assert _loan(app, "L1").status is LoanStatus.OVERDUE
    assert wf.decide(app, rid, "lead2", "team_lead", True).code == rs.NOT_PENDING


# ---------------------------------------------------------------- restructuring through the ledger


def test_an_approved_extension_is_a_new_schedule_version_and_the_loan_is_restructured(app: App) -> None:
    _book(app, "L1")
    assert ledger.post_payment(app.uow(), "L1", 300_000, D("2026-04-02"), "PAY1").code == "accepted"
    before = _loan(app, "L1")
    rid = _request(app, _spec(RequestKind.EXTENSION, "L1", months=6))
    outcome = wf.decide(app, rid, "lead", "team_lead", True, on=D("2026-04-10"))
    assert outcome.code == "accepted", outcome
    after = _loan(app, "L1")
    assert after.schedule_version > before.schedule_version
    assert after.outstanding_principal_fen == before.outstanding_principal_fen
    assert max(i.due_date for i in after.installments) == D("2027-07-15")  # the maturity moved six months
    assert outcome.detail["classification_floor"] == "special_mention"
    with app.engine.connect() as conn:
        loan_row = conn.execute(select(t.loans.c.restructured_until, t.loans.c.restructure_floor)).one()
        rs_row = conn.execute(select(rt.restructurings)).one()
    assert loan_row.restructured_until == D(
        "2027-04-15"
    )  # a year after the first new due date and loan_row.restructure_floor == "special_mention"
    assert rs_row.new_principal_fen == rs_row.principal_before_fen == before.outstanding_principal_fen
    _books_balance(app, "L1")


def test_a_reversal_before_a_restructuring_replays_it_and_keeps_the_new_terms(app: App) -> None:
    _book(app, "L1")
    assert ledger.post_payment(app.uow(), "L1", 300_000, D("2026-04-02"), "PAY1").code == "accepted"
    rid = _request(
        app,
        _spec(
            RequestKind.RESCHEDULE,
            "L1",
            role="team_lead",
            periods=24,
            rate_annual=Decimal("0.06"),
            arrears=ArrearsTreatment.CAPITALISE,
        ),
    )
    assert wf.decide(app, rid, "risk", "risk_manager", True, on=D("2026-04-10")).code == "accepted"
    restructured = _loan(app, "L1")
    assert restructured.terms.rate_annual == Decimal("0.06") and restructured.status is LoanStatus.RESTRUCTURED
    assert ledger.reverse(app.uow(), "PAY1", D("2026-04-20"), "bounced").code == "accepted"
    replayed = _loan(app, "L1")
    assert replayed.terms.rate_annual == Decimal("0.06")
    # the payment reversed: more was owed on the restructuring date, and it was capitalised too
    assert replayed.outstanding_principal_fen > restructured.outstanding_principal_fen
    assert ledger.reverse(app.uow(), f"RQ{rid}:reschedule", D("2026-04-20")).code == "not_reversible"
    _books_balance(app, "L1")


def test_a_repayment_plan_capitalises_everything_owed_at_zero_interest(app: App) -> None:
    _book(app, "L1")
    loan = _loan(app, "L1")
    rid = _request(app, _spec(RequestKind.PLAN, "L1", periods=10))
    outcome = wf.decide(app, rid, "lead", "team_lead", True, on=ON + (D("2026-04-02") - ON))
    assert outcome.code == "accepted", outcome
    after = _loan(app, "L1")
    new = [i for i in after.installments if i.due_date > D("2026-04-02")]
    assert len(new) == 10 and all(i.interest.due == 0 for i in new)
    assert after.outstanding_principal_fen > loan.outstanding_principal_fen  # arrears capitalised
    _books_balance(app, "L1")


# ---------------------------------------------------------------- write-off and recoveries


def test_a_write_off_closes_the_loans_collection_case_the_same_day(app: App) -> None:
    from daihou.workflow import collections as wc

    _book(app, "L1")
    with app.engine.connect() as conn:
        loan_id = conn.execute(select(t.loans.c.id).where(t.loans.c.loan_no == "L1")).scalar_one()
    case_id = wc.open_case(app, loan_id, "manual", D("2026-06-01"), "lead")
    rid = _request(app, _spec(RequestKind.WRITEOFF, "L1", role="legal_compliance"))
    assert wf.decide(app, rid, "rm", "risk_manager", True, on=D("2026-06-30")).code == "accepted"
    cases = t.metadata.tables["collection_cases"]
    with app.engine.connect() as conn:
        row = conn.execute(select(cases).where(cases.c.id == case_id)).mappings().one()
    assert (row["status"], row["stage"], row["close_reason"]) == ("closed", "written_off", "written_off")
    assert row["closed_on"] == D("2026-06-30")


def test_a_written_off_loan_books_later_money_as_recovery_income(app: App) -> None:
    _book(app, "L1")
    rid = _request(app, _spec(RequestKind.WRITEOFF, "L1", role="legal_compliance"))
    assert wf.decide(app, rid, "rm", "risk_manager", True, on=D("2026-06-30")).code == "accepted"
    loan = _loan(app, "L1")
    assert loan.status is LoanStatus.WRITTEN_OFF
    with app.engine.connect() as conn:
        wo = conn.execute(select(rt.write_offs)).one()
    assert wo.principal_fen == 1_200_000 and wo.total_fen > wo.principal_fen
    with app.engine.connect() as conn:
        assert conn.execute(select(t.loans.c.classification)).scalar() == "loss"
    assert ledger.post_payment(app.uow(), "L1", 50_000, D("2026-08-01"), "REC1").code == "accepted"
    rec = wf.build(app)
    report = svc.recoveries_report(rec.uow(), None, None)
    assert report["recovered"] == "500.00" and report["loans_written_off"] == 1
    with app.uow() as uow:
        assert uow.journal.balances("L1")["recovery_income"] == -50_000
    _books_balance(app, "L1")
    refused = rs.request(rec.uow(), rec.limits, _spec(RequestKind.EXTENSION, "L1", months=3))
    assert refused.code == rs.LOAN_NOT_OPEN


# ---------------------------------------------------------------- legal matters


def test_a_legal_matter_moves_forward_only_and_its_costs_are_collection_costs(app: App) -> None:
    _book(app, "L1")
    rec = wf.build(app)
    mid = int(svc.open_matter(rec.uow(), "L1", ON, "lawyer-wang").detail["id"])
    no_court = svc.update_matter(rec.uow(), mid, svc.MatterUpdate(ON, "w", stage="litigation"))
    assert no_court.code == svc.STAGE_NOT_ALLOWED
    filed = svc.MatterUpdate(
        D("2026-04-05"), "w", stage="litigation", court="上海市浦东新区人民法院", case_no="(2026)沪0115民初1号"
    )
    assert svc.update_matter(rec.uow(), mid, filed).code == "accepted"
    assert svc.update_matter(rec.uow(), mid, svc.MatterUpdate(ON, "w", stage="enforcement")).code == (
        svc.STAGE_NOT_ALLOWED
    )
    judged = svc.MatterUpdate(D("2026-05-20"), "w", hearing_on=D("2026-05-10"), judgment_on=D("2026-05-20"))
    assert svc.update_matter(rec.uow(), mid, judged).code == "accepted"
    enforce = svc.MatterUpdate(D("2026-06-01"), "w", stage="enforcement", enforcement_case_no="(2026)沪0115执1号")
    assert svc.update_matter(rec.uow(), mid, enforce).code == "accepted"
    assert svc.update_matter(rec.uow(), mid, svc.MatterUpdate(ON, "w", stage="litigation")).code == (
        svc.STAGE_NOT_ALLOWED
    )
    cost = svc.add_cost(rec.uow(), mid, 80_000, D("2026-05-21"), "w", "LEGAL-1", "court fee")
    assert cost.code == "accepted"
    assert _loan(app, "L1").cost.outstanding == 80_000
    # the waterfall pays collection costs first (民法典 art. 561)
    assert ledger.post_payment(app.uow(), "L1", 80_000, D("2026-05-22"), "PAY-C").code == "accepted"
    assert _loan(app, "L1").cost.outstanding == 0
    with rec.uow() as uow:
        kinds = [e["kind"] for e in uow.recovery.legal_events(mid)]
    assert kinds == ["opened", "stage", "hearing", "judgment", "cost", "stage", "enforcement"]
    _books_balance(app, "L1")


# ---------------------------------------------------------------- agencies


def _open_case(app: App, loan_no: str) -> int:
    cases = t.metadata.tables["collection_cases"]
    now = datetime(2026, 4, 1, 9, 0)
    with app.engine.begin() as conn:
        loan_id, borrower_id = conn.execute(
            select(t.loans.c.id, t.loans.c.borrower_id).where(t.loans.c.loan_no == loan_no)
        ).one()
        values = {
            "loan_id": loan_id,
            "borrower_id": borrower_id,
            "stage": "M2",
            "status": "open",
            "opened_on": ON,
            "open_reason": "dpd",
            "stage_since": ON,
            "segment": "s",
            "strategy_arm": "champion",
            "treatment": "t",
            "worker": "agency",
            "score_band": "x",
            "balance_band": "x",
            "balance_at_open_fen": 0,
            "balance_fen": 0,
            "overdue_fen": 0,
            "collectable_fen": 0,
            "collected_fen": 0,
            "dpd": 45,
            "version": 1,
            "created_at": now,
            "updated_at": now,
        }
        return int(conn.execute(insert(cases).values(values).returning(cases.c.id)).scalar_one())


def _case_agency(app: App, case_id: int) -> int | None:
    cases = t.metadata.tables["collection_cases"]
    with app.engine.connect() as conn:
        return conn.execute(select(cases.c.placement_agency_id).where(cases.c.id == case_id)).scalar()


def test_no_placement_without_a_current_evaluation_and_commission_on_what_was_recovered(app: App) -> None:
    _book(app, "L1", principal_fen=5_000_000)
    case_id = _open_case(app, "L1")
    rec = wf.build(app)
    assert svc.add_agency(rec.uow(), "AG1", "示例催收公司").code == "accepted"
    assert svc.place(rec.uow(), rec.commission, "L1", "AG1", ON, "lead").code == "agency_not_evaluated"
    assert svc.evaluate(rec.uow(), rec.commission, "AG1", 80, D("2025-01-01"), "audit").code == "accepted"
    assert svc.place(rec.uow(), rec.commission, "L1", "AG1", ON, "lead").code == "agency_evaluation_expired"
    assert svc.evaluate(rec.uow(), rec.commission, "AG1", 85, D("2026-03-01"), "audit").code == "accepted"
    placed = svc.place(rec.uow(), rec.commission, "L1", "AG1", D("2026-04-02"), "lead")
    assert placed.code == "accepted" and placed.detail["stage"] == "M2"
    assert _case_agency(app, case_id) is not None
    assert svc.place(rec.uow(), rec.commission, "L1", "AG1", ON, "lead").code == svc.ALREADY_PLACED
    assert ledger.post_payment(app.uow(), "L1", 1_500_000, D("2026-04-20"), "AGPAY").code == "accepted"
    assert svc.recall(rec.uow(), "L1", D("2026-05-01"), "end of term").code == "accepted"
    assert _case_agency(app, case_id) is None
    assert ledger.post_payment(app.uow(), "L1", 100_000, D("2026-05-10"), "AFTER").code == "accepted"
    [line] = svc.commissions(rec.uow(), rec.commission, D("2026-06-01"))
    assert line.placement.recovered_fen == 1_500_000  # the payment after recall is not the agency's
    # M2 bands: 12 % of the first ¥10,000 and 10 % of the other ¥5,000
    assert line.commission_fen == 120_000 + 50_000


# ---------------------------------------------------------------- guarantors and collateral


def test_a_guarantor_demand_is_capped_at_the_guarantee_and_the_payment_names_its_source(app: App) -> None:
    _book(app, "L1")
    g = Guarantor(PartyKind.INDIVIDUAL, "王五", _id_number(5), "13900000005", GuaranteeType.JOINT, 500_000)
    assert securities.add_guarantor(app.uow(), "L1", g).code == "accepted"
    rec = wf.build(app)
    with rec.uow() as uow:
        [(gid, _)] = uow.recovery.guarantors("L1")
    demand = svc.demand_on_guarantor(rec.uow(), "L1", gid, D("2026-04-02"), "lead")
    assert demand.code == "accepted" and demand.detail["amount"] == "5000.00"
    assert Decimal(demand.detail["owed"]) > Decimal("12000")
    assert svc.guarantor_payment(rec.uow(), "L1", gid, 500_000, D("2026-04-03"), "GUAR-1").code == "accepted"
    assert svc.guarantor_payment(rec.uow(), "L1", 999, 1, D("2026-04-03"), "GUAR-2").code == svc.NOT_FOUND
    with app.engine.connect() as conn:
        receipt = conn.execute(select(rt.recovery_receipts)).one()
    assert (receipt.source, receipt.reference, receipt.amount_fen) == ("guarantor", "GUAR-1", 500_000)
    _books_balance(app, "L1")


def test_collateral_sale_proceeds_go_through_the_waterfall_and_custody_becomes_disposed(app: App) -> None:
    _book(app, "L1")
    car = Collateral(CollateralKind.VEHICLE, "大众帕萨特 沪A12345", "张三", "", CustodyStatus.IN_CUSTODY)
    cid = int(securities.add_collateral(app.uow(), "L1", car).detail["id"])
    rec = wf.build(app)
    sale = svc.Disposal(cid, D("2026-04-05"), 2_000_000, D("2026-04-10"), 1_800_000, 50_000, "SALE-1", "lead")
    outcome = svc.dispose_collateral(rec.uow(), sale)
    assert outcome.code == "accepted", outcome
    loan = _loan(app, "L1")
    assert loan.status is LoanStatus.PAID_OFF or loan.credit_fen > 0 or loan.outstanding_principal_fen < 1_200_000
    assert loan.cost.paid == 50_000  # the disposal costs were charged and paid first
    with app.uow() as uow:
        collateral = uow.securities.get_collateral(cid)
    assert collateral is not None and collateral.custody_status is CustodyStatus.DISPOSED
    assert collateral.valuations[-1] == Valuation(D("2026-04-05"), 2_000_000, "", "disposal")
    again = svc.dispose_collateral(rec.uow(), sale)
    assert again.code == svc.CUSTODY_NOT_ALLOWED
    _books_balance(app, "L1")


# ---------------------------------------------------------------- letters


def test_the_debtors_letter_states_the_balance_and_the_contacts_letter_never_does(app: App) -> None:
    _book(app, "L1")
    debtor = letters.letter(app, "L1", ON)
    assert isinstance(debtor, letters.Letter) and debtor.pdf.startswith(b"%PDF")
    flat = json.dumps(debtor.texts, ensure_ascii=False)
    outstanding = "12000.00"
    assert outstanding in flat and "L1" in flat and "异议渠道" in flat and "400-800-0000" in flat
    contact = letters.letter(app, "L1", ON, "contact_person")
    assert isinstance(contact, letters.Letter) and contact.pdf.startswith(b"%PDF")
    flat_contact = json.dumps(contact.texts, ensure_ascii=False)
    assert "李四" in flat_contact
    assert outstanding not in flat_contact and "L1" not in flat_contact and "张三" not in flat_contact
    english = letters.letter(app, "L1", ON, "debtor", "en")
    assert isinstance(english, letters.Letter) and "Your rights" in json.dumps(english.texts)


def test_a_letter_template_with_banned_language_is_refused() -> None:
    templates = letters.load_templates()
    templates["debtor"]["zh-CN"]["request"] = "再不还款后果自负。"
    refused = letters.render_letter({"as_of": "2026-04-01"}, "debtor", "zh-CN", templates)
    assert isinstance(refused, letters.LetterRefused) and refused.code == "banned_language"
    templates = letters.load_templates()
    templates["contact_person"]["zh-CN"]["intro"] = "{borrower_name} 欠款 {amount_due} 元。"
    leak = letters.render_letter({"as_of": "2026-04-01"}, "contact_person", "zh-CN", templates)
    assert isinstance(leak, letters.LetterRefused) and leak.code == "debt_placeholder_for_contact"


# ---------------------------------------------------------------- CLI


def _cli(app: App, *args: str) -> Any:
    url = app.settings.database_url
    return CliRunner().invoke(cli, ["--db", url, "recovery", *args], catch_exceptions=False)


def test_the_cli_requests_approves_and_writes_a_letter(app: App, tmp_path: Path) -> None:
    _book(app, "L1")
    made = _cli(app, "request", "extension", "L1", "--months", "3", "--reason", "r", "--user", "c1",
                "--role", "collector", "--json")  # fmt: skip
    assert made.exit_code == 0, made.output
    rid = json.loads(made.stdout)["id"]
    inbox = _cli(app, "requests", "--status", "pending", "--role", "team_lead", "--json")
    assert [r["id"] for r in json.loads(inbox.stdout)["requests"]] == [rid]
    same = _cli(app, "approve", str(rid), "--user", "c1", "--role", "team_lead", "--json")
    assert same.exit_code == 1 and json.loads(same.stdout)["code"] == rs.SAME_PERSON
    done = _cli(app, "approve", str(rid), "--user", "tl", "--role", "team_lead", "--date", "2026-04-02", "--json")
    decided = json.loads(done.stdout)
    assert done.exit_code == 0 and decided["request_status"] == "approved"
    assert decided["status"] == "overdue"  # an extension keeps the arrears owed: still overdue until paid
    out = tmp_path / "letter.pdf"
    wrote = _cli(app, "letter", "L1", "--out", str(out), "--date", "2026-04-02")
    assert wrote.exit_code == 0 and out.read_bytes().startswith(b"%PDF")


@pytest.mark.parametrize("share", [Decimal("0.2"), Decimal("0.5")])
def test_the_tier_of_a_penalty_waiver_depends_on_its_share(app: App, share: Decimal) -> None:
    _book(app, "L1")
    penalty = _loan(app, "L1").owed_total(Component.PENALTY)
    amount = int(penalty * share)
    rec = wf.build(app)
    spec = _spec(RequestKind.WAIVER, "L1", component=Component.PENALTY, amount_fen=amount)
    outcome = rs.request(rec.uow(), rec.limits, spec)
    expected = "waiver-team-lead" if share <= Decimal("0.3") else "waiver-risk-manager"
    assert outcome.detail["tier"] == expected


def test_the_close_of_business_keeps_a_restructured_loan_at_its_floor(app: App, tmp_path: Path) -> None:
    # snapshots in this test's own folder: other runs in the same working tree write ./var
    app = App(app.settings.model_copy(update={"data_dir": tmp_path}), app.engine, app.clock)
    _book(app, "L1")
    rid = _request(
        app,
        _spec(RequestKind.RESCHEDULE, "L1", role="team_lead", periods=12, arrears=ArrearsTreatment.CAPITALISE),
    )
    assert wf.decide(app, rid, "risk", "risk_manager", True, on=D("2026-04-10")).code == "accepted"
    done = app.run_cob([D("2026-04-10"), D("2026-04-11")], "duckdb")
    assert all(isinstance(d, DayDone) for d in done), done
    with app.engine.connect() as conn:
        row = conn.execute(select(t.loans.c.dpd, t.loans.c.classification, t.loans.c.status)).one()
    assert row.dpd == 0 and row.status == "restructured"
    assert row.classification == "special_mention"  # the floor, although nothing is overdue
    _books_balance(app, "L1")


def test_money_recovered_from_a_guarantor_refreshes_the_open_collection_case(app: App) -> None:
    _book(app, "L1")
    case_id = _open_case(app, "L1")
    g = Guarantor(PartyKind.INDIVIDUAL, "王五", _id_number(5), "13900000005", GuaranteeType.JOINT, None)
    assert securities.add_guarantor(app.uow(), "L1", g).code == "accepted"
    with wf.build(app).uow() as uow:
        [(gid, _)] = uow.recovery.guarantors("L1")
    assert wf.guarantor_payment(app, "L1", gid, 200_000, D("2026-04-03"), "GUAR-1").code == "accepted"
    cases = t.metadata.tables["collection_cases"]
    with app.engine.connect() as conn:
        collected = conn.execute(select(cases.c.collected_fen).where(cases.c.id == case_id)).scalar()
    assert collected == 200_000 + 1  # with the one-fen probe paid on the day the case opened


def test_a_restructuring_dated_on_a_closed_day_is_replayed_into_the_history(app: App) -> None:
    _book(app, "L1")  # closed through 2026-03-31 by the probe payment of 2026-04-01
    rid = _request(app, _spec(RequestKind.PLAN, "L1", periods=6))
    outcome = wf.decide(app, rid, "lead", "team_lead", True, on=D("2026-03-20"))
    assert outcome.code == "accepted", outcome
    loan = _loan(app, "L1")
    with app.uow() as uow:
        events = [e for _, e in uow.loans.events("L1")]
    assert [type(e).__name__ for e in events] == ["Restructure", "Payment"]  # in date order
    new = [i for i in loan.installments if i.due_date > D("2026-03-20")]
    assert new[0].due_date == D("2026-04-20") and len(new) == 6
    _books_balance(app, "L1")

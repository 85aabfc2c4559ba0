"""Importing borrowers, loans and payments into a real book (SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import json
import shutil
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import openpyxl
from typer.testing import CliRunner

from daihou.bootstrap import App
from daihou.cli.tabular import load_mapping, read_table
from daihou.domain.products import RepaymentMethod
from daihou.service.importing import (
    ColumnMapping,
    ImportReport,
    import_borrowers,
    import_loans,
    import_payments,
)

DATA = Path(__file__).parent.parent / "data"
FOUR_ERRORS_LOANS = ("L2024101", "L2024102", "L2024103", "L2024104", "L2024105")
FOUR_ERRORS_BORROWERS = ("B101", "B102", "B103", "B104")


def load(app: App, kind: str, path: Path, skip_invalid: bool = False, mapping: Path | None = None) -> ImportReport:
    """What `daihou import KIND FILE` does, without the terminal."""
    table = read_table(path)
    rows = (load_mapping(mapping) if mapping else ColumnMapping()).apply(table.rows)
    use_case = {"loans": import_loans, "payments": import_payments, "borrowers": import_borrowers}[kind]
    return use_case(app.uow(), rows, skip_invalid, table.row_numbers)


def counts(report: ImportReport) -> tuple[int, int, int, int]:
    return report.read, report.imported, report.unchanged, report.rejected


def errors(report: ImportReport) -> list[tuple[int, str]]:
    return [(e.row, e.column) for e in report.errors]


def write_csv(path: Path, header: list[str], *rows: list[str]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([header, *rows])
    return path


PAYMENT_HEADER = ["loan_no", "paid_on", "amount", "reference"]


# ---------------------------------------------------------------- all or nothing


def test_a_loan_file_with_four_bad_rows_gives_four_row_errors_and_imports_nothing(app: App) -> None:
    report = load(app, "loans", DATA / "loans_four_errors.csv")

    assert errors(report) == [
        (3, "disbursement_date"),  # 2024-02-30
        (4, "principal"),  # -5000
        (5, "loan_no"),  # repeats row 2
        (6, "repayment_method"),  # 按季付息
    ]
    assert "repeats row 2" in report.errors[2].reason
    assert not report.committed
    assert counts(report) == (6, 0, 0, 4)
    with app.uow() as uow:
        assert uow.loans.existing(FOUR_ERRORS_LOANS) == set()
        assert uow.borrowers.existing(FOUR_ERRORS_BORROWERS) == set()


def test_skip_invalid_imports_the_valid_rows_and_returns_the_bad_ones(app: App) -> None:
    report = load(app, "loans", DATA / "loans_four_errors.csv", skip_invalid=True)

    assert report.committed
    assert counts(report) == (6, 2, 0, 4)
    assert [r.row for r in report.rejected_rows] == [3, 4, 5, 6]
    assert report.rejected_rows[1].values["principal"] == "-5000"
    with app.uow() as uow:
        assert uow.loans.existing(FOUR_ERRORS_LOANS) == {"L2024101", "L2024105"}
        # B102's first row was bad, but its later good row created the borrower
        assert uow.borrowers.existing(FOUR_ERRORS_BORROWERS) == {"B101", "B102"}


def test_a_store_rejection_in_one_row_keeps_the_other_rows_out_too(app: App, tmp_path: Path) -> None:
    load(app, "loans", DATA / "loans.csv")
    path = write_csv(
        tmp_path / "payments.csv",
        PAYMENT_HEADER,
        ["L2024001", "2024-02-15", "888.49", "P-OK"],
        ["NO-SUCH-LOAN", "2024-02-16", "100", "P-BAD"],
    )

    report = load(app, "payments", path)

    assert errors(report) == [(3, "loan_no")]
    assert "does not exist" in report.errors[0].reason
    assert not report.committed
    with app.uow() as uow:
        assert uow.transactions.existing(["P-OK", "P-BAD"]) == set()


def test_a_missing_required_column_rejects_the_file_even_with_skip_invalid(app: App, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "payments.csv", ["loan_no", "paid_on", "amount"], ["L1", "2024-02-15", "1"])

    report = load(app, "payments", path, skip_invalid=True)

    assert errors(report) == [(1, "reference")]
    assert "流水号" in report.errors[0].reason
    assert not report.committed


# ---------------------------------------------------------------- idempotency


def test_reimporting_the_same_loans_and_payments_changes_nothing(app: App) -> None:
    assert counts(load(app, "loans", DATA / "loans.csv")) == (3, 3, 0, 0)
    assert counts(load(app, "payments", DATA / "payments.csv")) == (3, 3, 0, 0)
    loan_nos = ("L2024001", "L2024002", "L2024003")
    with app.uow() as uow:
        before = {n: (uow.loans.get(n), uow.journal.balances(n)) for n in loan_nos}

    again_loans = load(app, "loans", DATA / "loans.csv")
    again_payments = load(app, "payments", DATA / "payments.csv")

    assert (again_loans.ok, counts(again_loans)) == (True, (3, 0, 3, 0))
    assert (again_payments.ok, counts(again_payments)) == (True, (3, 0, 3, 0))
    with app.uow() as uow:
        assert {n: (uow.loans.get(n), uow.journal.balances(n)) for n in loan_nos} == before
        assert uow.transactions.existing(["PAY-0001", "PAY-0002", "PAY-0003"]) == {"PAY-0001", "PAY-0002", "PAY-0003"}


def test_payments_are_posted_in_date_order_whatever_the_file_order(app: App) -> None:
    load(app, "loans", DATA / "loans.csv")
    load(app, "payments", DATA / "payments.csv")  # PAY-0002 (March) comes before PAY-0001 (February)

    with app.uow() as uow:
        loan = uow.loans.get("L2024001")
        assert loan is not None
        assert [i.settled for i in loan.installments[:3]] == [True, True, False]
        assert loan.credit_fen == 0


def test_a_loan_no_on_file_with_different_terms_is_an_error(app: App, tmp_path: Path) -> None:
    load(app, "loans", DATA / "loans.csv")
    text = (DATA / "loans.csv").read_text(encoding="utf-8").replace('"10,000.00",12,12', '"10,000.00",12,24')
    changed = tmp_path / "loans.csv"
    changed.write_text(text, encoding="utf-8")

    report = load(app, "loans", changed)

    assert errors(report) == [(2, "loan_no")]
    assert report.errors[0].reason == "loan_no exists with different terms (term_months)"
    with app.uow() as uow:
        loan = uow.loans.get("L2024001")
        assert loan is not None and loan.terms.periods == 12


def test_a_payment_reference_reused_with_another_amount_is_an_error(app: App, tmp_path: Path) -> None:
    load(app, "loans", DATA / "loans.csv")
    load(app, "payments", DATA / "payments.csv")
    path = write_csv(tmp_path / "payments.csv", PAYMENT_HEADER, ["L2024001", "2024-02-15", "900.00", "PAY-0001"])

    report = load(app, "payments", path)

    assert errors(report) == [(2, "reference")]
    assert "888.49" in report.errors[0].reason


# ---------------------------------------------------------------- borrowers behind loans


def test_a_loan_row_for_a_borrower_on_file_under_another_name_is_an_error(app: App, tmp_path: Path) -> None:
    load(app, "loans", DATA / "loans.csv")
    path = write_csv(
        tmp_path / "loans.csv",
        [
            "loan_no",
            "borrower_no",
            "borrower_name",
            "id_number",
            "mobile",
            "principal",
            "annual_rate",
            "term_months",
            "repayment_method",
            "disbursement_date",
        ],
        ["L9", "B001", "张叁", "110105199003071239", "13800138000", "1000", "5", "6", "bullet", "2024-05-01"],
    )

    report = load(app, "loans", path)

    assert errors(report) == [(2, "borrower_name")]
    with app.uow() as uow:
        assert uow.loans.existing(["L9"]) == set()


def test_borrowers_import_once_and_then_stay_unchanged(app: App) -> None:
    first = load(app, "borrowers", DATA / "borrowers.csv")
    again = load(app, "borrowers", DATA / "borrowers.csv")

    assert counts(first) == (2, 2, 0, 0)
    assert counts(again) == (2, 0, 2, 0)
    with app.uow() as uow:
        person, company = uow.borrowers.get("B001"), uow.borrowers.get("E001")
        assert person is not None and company is not None
        assert [(c.name, c.relation) for c in person.contacts] == [("张母", "母亲")]
        assert (company.kind.value, company.legal_representative) == ("enterprise", "李总")


def test_loans_book_against_borrowers_imported_before(app: App) -> None:
    load(app, "borrowers", DATA / "borrowers.csv")

    report = load(app, "loans", DATA / "loans.csv")

    assert report.ok
    with app.uow() as uow:
        borrower = uow.borrowers.get("B001")
        assert borrower is not None and borrower.address == "北京市朝阳区建国路1号"  # not replaced by the loan row


# ---------------------------------------------------------------- lenders' own formats


def test_a_chinese_header_csv_imports_with_the_built_in_mapping(app: App, tmp_path: Path) -> None:
    gbk = tmp_path / "台账.csv"
    gbk.write_bytes((DATA / "loans_zh.csv").read_text(encoding="utf-8").encode("gb18030"))

    report = load(app, "loans", gbk)

    assert (report.ok, counts(report)) == (True, (2, 2, 0, 0))
    with app.uow() as uow:
        loan, info = uow.loans.get("ZH-0001"), uow.loans.info("ZH-0001")
        assert loan is not None and info is not None
        t = loan.terms
        assert (t.principal_fen, t.rate_annual, t.periods, t.method) == (
            12_000_000,
            Decimal("0.0435"),
            36,
            RepaymentMethod.EQUAL_INSTALLMENT,
        )
        assert (info.borrower_no, info.product_code, info.officer, info.purpose) == (
            "C001",
            "CONSUMER",
            "刘经理",
            "消费",
        )
        bridge = uow.loans.get("ZH-0002")
        assert bridge is not None and bridge.terms.method is RepaymentMethod.BULLET
        assert bridge.terms.disbursed_on.isoformat() == "2024-02-01"


def test_an_xlsx_export_with_a_mapping_file_imports_correctly(app: App, tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(
        [
            "借据编号",
            "客户编号",
            "客户名称",
            "证件号码",
            "联系电话",
            "合同金额(元)",
            "执行利率",
            "期限",
            "还款方式",
            "起息日",
            "业务品种",
            "备注",
        ]
    )
    sheet.append(
        [
            "XL-01",
            "K01",
            "郑一",
            "440306199211251238",
            "13700001111",
            300000,
            0.039,
            240,
            "按月等额本金",
            datetime(2024, 3, 18),
            "个人住房贷款",
            "首套",
        ]
    )
    sheet.append(
        [
            "XL-02",
            "K02",
            "冯二",
            "320102197708081235",
            "13500003333",
            50000.5,
            0.0598,
            12,
            "按月等额本息",
            datetime(2024, 4, 2),
            "个人消费贷款",
            "",
        ]
    )
    for row in (2, 3):
        sheet.cell(row, 7).number_format = "0.00%"
    path = tmp_path / "贷款台账.xlsx"
    book.save(path)

    report = load(app, "loans", path, mapping=DATA / "mapping_lender.toml")

    assert (report.ok, counts(report)) == (True, (2, 2, 0, 0))
    with app.uow() as uow:
        mortgage, info = uow.loans.get("XL-01"), uow.loans.info("XL-01")
        assert mortgage is not None and info is not None
        t = mortgage.terms
        assert (t.principal_fen, t.rate_annual, t.periods, t.method, t.disbursed_on.isoformat()) == (
            30_000_000,
            Decimal("0.039"),
            240,
            RepaymentMethod.EQUAL_PRINCIPAL,
            "2024-03-18",
        )
        assert (info.product_code, info.officer) == ("MORTGAGE", "导入")
        consumer = uow.loans.get("XL-02")
        assert consumer is not None
        assert (consumer.terms.principal_fen, consumer.terms.rate_annual) == (5_000_050, Decimal("0.0598"))
        borrower = uow.borrowers.get("K01")
        assert borrower is not None and borrower.name == "郑一"


# ---------------------------------------------------------------- payments


def test_payments_for_an_unknown_loan_are_row_errors(app: App, tmp_path: Path) -> None:
    load(app, "loans", DATA / "loans.csv")
    path = write_csv(
        tmp_path / "payments.csv",
        PAYMENT_HEADER,
        ["L2024001", "2024-02-15", "888.49", "P1"],
        ["L-404", "2024-02-15", "100.00", "P2"],
        ["L-405", "2024-02-16", "100.00", "P3"],
    )

    report = load(app, "payments", path, skip_invalid=True)

    assert errors(report) == [(3, "loan_no"), (4, "loan_no")]
    assert counts(report) == (3, 1, 0, 2)
    with app.uow() as uow:
        assert uow.transactions.existing(["P1", "P2", "P3"]) == {"P1"}


def test_a_payment_to_a_paid_off_loan_is_a_row_error(app: App, tmp_path: Path) -> None:
    load(app, "loans", DATA / "loans.csv")
    path = write_csv(
        tmp_path / "payments.csv",
        PAYMENT_HEADER,
        ["L2024003", "2024-08-01", "30,000.00", "SETTLE"],  # interest-only 20000 over 6 months: settled
        ["L2024003", "2024-08-02", "10.00", "LATE"],
    )

    report = load(app, "payments", path, skip_invalid=True)

    assert errors(report) == [(3, "loan_no")]
    assert "paid_off" in report.errors[0].reason


def test_an_overpayment_is_kept_as_borrower_credit(app: App, tmp_path: Path) -> None:
    load(app, "loans", DATA / "loans.csv")
    path = write_csv(tmp_path / "payments.csv", PAYMENT_HEADER, ["L2024001", "2024-02-15", "1,000.00", "OVER"])

    report = load(app, "payments", path)

    assert (report.ok, report.imported) == (True, 1)
    assert [n.row for n in report.notes] == [2]
    assert "111.51 held as borrower credit" in report.notes[0].message
    with app.uow() as uow:
        loan = uow.loans.get("L2024001")
        assert loan is not None
        assert loan.credit_fen == 100_000 - 88_849
        assert uow.journal.balances("L2024001")["borrower_credit"] == -(100_000 - 88_849)


# ---------------------------------------------------------------- the command line


def test_the_import_command_reports_rejects_and_exit_codes(app: App, tmp_path: Path) -> None:
    from daihou.cli.main import app as cli

    db = app.settings.database_url
    runner = CliRunner()
    source = shutil.copy(DATA / "loans_four_errors.csv", tmp_path / "loans.csv")

    rejected = runner.invoke(cli, ["--db", db, "import", "loans", str(source)])
    assert rejected.exit_code == 1, rejected.output
    assert "file rejected" in rejected.output
    assert not (tmp_path / "loans.rejects.csv").exists()

    partial = runner.invoke(cli, ["--db", db, "import", "loans", str(source), "--skip-invalid", "--json"])
    assert partial.exit_code == 2, partial.output
    summary = json.loads(partial.stdout)
    assert (summary["status"], summary["imported"], summary["rejected"]) == ("partial", 2, 4)
    assert [(e["row"], e["column"]) for e in summary["errors"]] == [
        (3, "disbursement_date"),
        (4, "principal"),
        (5, "loan_no"),
        (6, "repayment_method"),
    ]
    with (tmp_path / "loans.rejects.csv").open(encoding="utf-8-sig", newline="") as f:
        rejects = list(csv.DictReader(f))
    assert [r["_row"] for r in rejects] == ["3", "4", "5", "6"]
    assert rejects[1]["principal"] == "-5000" and "not greater than zero" in rejects[1]["_errors"]

    clean = runner.invoke(cli, ["--db", db, "import", "loans", str(DATA / "loans.csv")])
    assert clean.exit_code == 0, clean.output
    assert "3 imported" in clean.output

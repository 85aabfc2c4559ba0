"""Import parsing: cells, rows, column mappings and the tabular reader — no database."""

from __future__ import annotations

import csv
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest

from daihou.cli.tabular import TableError, load_mapping, read_table, write_rejects
from daihou.domain.parties import PartyKind
from daihou.domain.products import RepaymentMethod
from daihou.service.importing import (
    CHINESE_HEADERS,
    ColumnMapping,
    LoanRow,
    PaymentRow,
    RejectedRow,
    RowError,
    parse_amount,
    parse_borrower_row,
    parse_date,
    parse_loan_row,
    parse_payment_row,
    parse_percent,
    parse_term,
)

DATA = Path(__file__).parent.parent / "data"

LOAN = {
    "loan_no": "L1",
    "borrower_no": "B1",
    "borrower_name": "张三",
    "id_number": "110105199003071239",
    "mobile": "13800138000",
    "principal": "10000",
    "annual_rate": "4.9",
    "term_months": "12",
    "repayment_method": "equal_installment",
    "disbursement_date": "2024-01-15",
}


def columns(errors: object) -> list[str]:
    assert isinstance(errors, list), f"expected errors, got {errors!r}"
    return [e.column for e in errors]


# ---------------------------------------------------------------- cells


@pytest.mark.parametrize(
    "cell",
    [
        "2024-01-05",
        "2024/01/05",
        "2024/1/5",
        "20240105",
        "2024.01.05",
        "2024年1月5日",
        "2024-01-05 00:00:00",
        date(2024, 1, 5),
        datetime(2024, 1, 5),
    ],
)
def test_dates_are_read_in_the_forms_lenders_export(cell: object) -> None:
    assert parse_date(cell) == date(2024, 1, 5)


@pytest.mark.parametrize("text", ["2024-02-30", "05/01/2024", "2024-1-5x", "yesterday", "2024-01-05 09:30"])
def test_a_malformed_date_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="date"):
        parse_date(text)


@pytest.mark.parametrize(
    ("cell", "fen"), [("10,000.50", 1_000_050), ("¥88.8", 8880), ("5000元", 500_000), (1234.5, 123_450), (7.0, 700)]
)
def test_amounts_are_yuan_with_commas_and_at_most_two_decimals(cell: object, fen: int) -> None:
    assert parse_amount(cell) == fen


def test_an_amount_with_three_decimals_is_refused() -> None:
    with pytest.raises(ValueError, match="two decimals"):
        parse_amount("100.001")


@pytest.mark.parametrize(("text", "rate"), [("4.9", "0.049"), ("4.35%", "0.0435"), ("3.85％", "0.0385"), ("0", "0")])
def test_annual_rate_is_a_percentage(text: str, rate: str) -> None:
    assert parse_percent(text) == Decimal(rate)


def test_a_rate_over_100_percent_is_refused() -> None:
    with pytest.raises(ValueError, match="100 %"):
        parse_percent("490")


@pytest.mark.parametrize(("text", "months"), [("12", 12), ("36期", 36), ("6个月", 6), ("600", 600)])
def test_terms_are_whole_months(text: str, months: int) -> None:
    assert parse_term(text) == months


@pytest.mark.parametrize("text", ["0", "601", "12.5", "一年"])
def test_a_term_outside_1_to_600_months_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_term(text)


# ---------------------------------------------------------------- rows


def test_a_good_loan_row_becomes_a_booking_command() -> None:
    parsed = parse_loan_row({**LOAN, "repayment_method": "等额本金", "penalty_rate": "7.35"}, 2)
    assert isinstance(parsed, LoanRow)
    cmd = parsed.cmd
    assert (cmd.loan_no, cmd.principal_fen, cmd.rate_annual, cmd.periods) == ("L1", 1_000_000, Decimal("0.049"), 12)
    assert cmd.method is RepaymentMethod.EQUAL_PRINCIPAL
    assert cmd.penalty_rate_annual == Decimal("0.0735")
    assert cmd.product_code == "STD"
    assert parsed.borrower().kind is PartyKind.INDIVIDUAL


def test_every_bad_field_of_a_loan_row_is_reported_not_just_the_first() -> None:
    row = {
        **LOAN,
        "id_number": "110105199003071230",
        "mobile": "12345",
        "principal": "-1",
        "annual_rate": "abc",
        "term_months": "0",
        "repayment_method": "按季付息",
        "disbursement_date": "2024-13-01",
        "loan_no": "",
    }
    errors = parse_loan_row(row, 7)
    assert sorted(columns(errors)) == sorted(
        [
            "loan_no",
            "id_number",
            "mobile",
            "principal",
            "annual_rate",
            "term_months",
            "repayment_method",
            "disbursement_date",
        ]
    )
    assert {e.row for e in errors} == {7}  # type: ignore[union-attr]


def test_a_zero_principal_is_refused() -> None:
    assert columns(parse_loan_row({**LOAN, "principal": "0.00"}, 2)) == ["principal"]


def test_a_first_due_date_not_after_disbursement_is_refused() -> None:
    assert columns(parse_loan_row({**LOAN, "first_due_date": "2024-01-15"}, 2)) == ["first_due_date"]


def test_an_enterprise_borrower_may_carry_a_credit_code_on_a_loan_row() -> None:
    parsed = parse_loan_row({**LOAN, "id_number": "91110105MA01ABCDEB"}, 2)
    assert isinstance(parsed, LoanRow)
    assert parsed.borrower().kind is PartyKind.ENTERPRISE


def test_a_payment_needs_a_positive_amount_and_a_reference() -> None:
    errors = parse_payment_row({"loan_no": "L1", "paid_on": "2024-02-15", "amount": "-5", "reference": ""}, 3)
    assert columns(errors) == ["amount", "reference"]
    good = parse_payment_row({"loan_no": "L1", "paid_on": "20240215", "amount": "888.49", "reference": "R1"}, 3)
    assert isinstance(good, PaymentRow)
    assert (good.payment.on, good.payment.amount_fen) == (date(2024, 2, 15), 88849)


def test_a_borrower_row_reads_kind_and_one_contact() -> None:
    row = {
        "borrower_no": "E1",
        "name": "某某商贸有限公司",
        "kind": "企业",
        "id_number": "91110105MA01ABCDEB",
        "contact_name": "李四",
        "contact_relation": "财务",
        "contact_mobile": "13911112222",
    }
    borrower = parse_borrower_row(row, 2)
    assert not isinstance(borrower, list)
    assert borrower.kind is PartyKind.ENTERPRISE
    assert [c.name for c in borrower.contacts] == ["李四"]


def test_a_borrower_row_reports_the_check_that_fits_its_kind() -> None:
    enterprise_with_personal_id = {
        "borrower_no": "E1",
        "name": "某公司",
        "kind": "enterprise",
        "id_number": "110105199003071239",
    }
    assert columns(parse_borrower_row(enterprise_with_personal_id, 2)) == ["id_number"]
    bad_contact = {"borrower_no": "B1", "name": "张三", "id_number": "110105199003071239", "contact_mobile": "1"}
    assert sorted(columns(parse_borrower_row(bad_contact, 2))) == ["contact_mobile", "contact_name"]
    unknown_kind = {"borrower_no": "B1", "name": "张三", "id_number": "110105199003071239", "kind": "合伙"}
    assert columns(parse_borrower_row(unknown_kind, 2)) == ["kind"]


# ---------------------------------------------------------------- mappings


def test_chinese_headers_map_to_our_columns_without_a_mapping_file() -> None:
    rows = ColumnMapping().apply([{"借据号": "L1", "贷款期限（月）": "12", "年利率": "4.9", "extra": "x"}])
    assert rows == [{"loan_no": "L1", "term_months": "12", "annual_rate": "4.9", "extra": "x"}]


def test_the_built_in_mapping_knows_the_headers_the_issue_names() -> None:
    for header in ("借据号", "借款人", "身份证号", "放款金额", "年利率", "期数", "还款方式", "放款日期"):
        assert header in CHINESE_HEADERS


def test_a_mapping_file_renames_headers_translates_values_and_fills_defaults() -> None:
    mapping = load_mapping(DATA / "mapping_lender.toml")
    rows = mapping.apply([{"借据编号": "X1", "还款方式": "按月等额本金", "业务品种": "个人住房贷款", "期限": "12"}])
    assert rows == [
        {
            "loan_no": "X1",
            "repayment_method": "equal_principal",
            "product_code": "MORTGAGE",
            "term_months": "12",
            "officer": "导入",
        }
    ]
    assert mapping.source_header("principal", ["合同金额（元）", "期限"]) == "合同金额（元）"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"columns": {"借据号": "loan_number"}}, "unknown column"),
        ({"columns": {"借据号": 1}}, "table of text"),
        ({"colums": {}}, "unknown mapping section"),
        ({"values": {"repayment_method": "equal_installment"}}, "table of text"),
    ],
)
def test_a_bad_mapping_file_is_refused_with_the_reason(data: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ColumnMapping.from_dict(data)


# ---------------------------------------------------------------- files


def test_a_gb18030_csv_is_read_when_it_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "loans.csv"
    path.write_bytes("借据号,借款人\nL1,张三\n".encode("gb18030"))
    table = read_table(path)
    assert table.headers == ("借据号", "借款人")
    assert table.rows == ({"借据号": "L1", "借款人": "张三"},)


def test_a_utf8_bom_is_dropped_and_blank_lines_keep_the_row_numbers(tmp_path: Path) -> None:
    path = tmp_path / "payments.csv"
    path.write_text("loan_no,amount\nL1,1\n\n,\nL2,2\n", encoding="utf-8-sig")
    table = read_table(path)
    assert table.headers == ("loan_no", "amount")
    assert table.row_numbers == (2, 5)


def test_xlsx_cells_become_text_dates_iso_and_percent_cells_as_percentages(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["放款日期", "放款金额", "年利率", "期数"])
    sheet.append([datetime(2024, 1, 15), 100000, 0.0435, 12.0])
    sheet["C2"].number_format = "0.00%"
    path = tmp_path / "loans.xlsx"
    book.save(path)
    table = read_table(path)
    assert table.rows == ({"放款日期": "2024-01-15", "放款金额": "100000", "年利率": "4.35", "期数": "12"},)


def test_a_file_of_another_type_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "loans.json"
    path.write_text("[]")
    with pytest.raises(TableError, match="unsupported"):
        read_table(path)


def test_the_rejects_file_keeps_the_original_columns_and_adds_row_and_reasons(tmp_path: Path) -> None:
    source = tmp_path / "loans.csv"
    source.write_text("借据号,放款金额\nL1,100\nL2,-5\n", encoding="utf-8")
    table = read_table(source)
    rejected = [RejectedRow(3, {"loan_no": "L2"}, (RowError(3, "principal", "-5.00 is not greater than zero"),))]
    out = tmp_path / "loans.rejects.csv"
    write_rejects(out, table.headers, rejected, table)
    with out.open(encoding="utf-8-sig", newline="") as f:
        assert list(csv.reader(f)) == [
            ["借据号", "放款金额", "_row", "_errors"],
            ["L2", "-5", "3", "principal: -5.00 is not greater than zero"],
        ]

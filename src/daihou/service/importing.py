"""Import of borrowers, loans and payments from tabular files (DESIGN.md §6).

Pure parsing and the three use cases; reading CSV/XLSX files is the CLI's job (`daihou.cli.tabular`).

Every import runs in two phases. First every row is parsed and validated on its own and against
the rows before it (a repeated loan_no or reference is an error on the later row), reporting every
bad field of a row. Then the valid rows are applied inside ONE unit of work, where the store can
still refuse a row (unknown loan, closed loan, a borrower on file under another name, …); those
refusals are row errors too. Without `skip_invalid` any error leaves the store untouched; with it,
the valid rows are committed and the bad ones come back in `ImportReport.rejected_rows`.

Re-importing the same file changes nothing: a loan_no already booked with the same terms, a
borrower already on file with the same details and a payment reference already posted count as
`unchanged`.

Row numbers are those of the file: the header is row 1, the first data row is row 2.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import TypeVar

from daihou.domain.identity import id_number_problem, mobile_problem, uscc_problem
from daihou.domain.money import Money, MoneyFormatError, parse_rate_percent, yuan_text
from daihou.domain.parties import Borrower, Contact, PartyKind
from daihou.domain.products import METHOD_ALIASES, RepaymentMethod
from daihou.domain.servicing import Payment
from daihou.service.commands import BookLoan
from daihou.service.ledger import ACCEPTED, DUPLICATE, book_loan_in, post_in
from daihou.service.ports import UnitOfWork

RawRow = Mapping[str, object]  # one data row: column -> cell (text, or a date/number from a spreadsheet)

DEFAULT_PRODUCT_CODE = "STD"
MAX_TERM_MONTHS = 600

# ---------------------------------------------------------------- columns

LOAN_REQUIRED = (
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
)
LOAN_OPTIONAL = ("first_due_date", "penalty_rate", "product_code", "officer", "purpose")
PAYMENT_REQUIRED = ("loan_no", "paid_on", "amount", "reference")
BORROWER_REQUIRED = ("borrower_no", "name", "id_number")
BORROWER_OPTIONAL = (
    "kind",
    "mobile",
    "address",
    "employer",
    "legal_representative",
    "contact_name",
    "contact_relation",
    "contact_mobile",
)
KNOWN_COLUMNS = frozenset((*LOAN_REQUIRED, *LOAN_OPTIONAL, *PAYMENT_REQUIRED, *BORROWER_REQUIRED, *BORROWER_OPTIONAL))

# Headers of lenders' own exports, mapped to ours without a mapping file. A mapping file's
# [columns] table adds to these and wins where both name the same header.
CHINESE_HEADERS: dict[str, str] = {
    "借据号": "loan_no",
    "借据编号": "loan_no",
    "贷款编号": "loan_no",
    "客户号": "borrower_no",
    "客户编号": "borrower_no",
    "借款人编号": "borrower_no",
    "借款人": "borrower_name",
    "借款人姓名": "borrower_name",
    "客户名称": "borrower_name",
    "客户姓名": "borrower_name",
    "身份证号": "id_number",
    "身份证号码": "id_number",
    "证件号码": "id_number",
    "统一社会信用代码": "id_number",
    "手机号": "mobile",
    "手机号码": "mobile",
    "放款金额": "principal",
    "贷款金额": "principal",
    "借款金额": "principal",
    "合同金额": "principal",
    "年利率": "annual_rate",
    "执行利率": "annual_rate",
    "执行年利率": "annual_rate",
    "年化利率": "annual_rate",
    "期数": "term_months",
    "贷款期数": "term_months",
    "贷款期限(月)": "term_months",
    "期限(月)": "term_months",
    "还款方式": "repayment_method",
    "放款日期": "disbursement_date",
    "发放日期": "disbursement_date",
    "放款日": "disbursement_date",
    "首期还款日": "first_due_date",
    "首次还款日": "first_due_date",
    "罚息利率": "penalty_rate",
    "产品代码": "product_code",
    "产品编号": "product_code",
    "客户经理": "officer",
    "管户经理": "officer",
    "贷款用途": "purpose",
    "借款用途": "purpose",
    "还款日期": "paid_on",
    "实还日期": "paid_on",
    "交易日期": "paid_on",
    "还款金额": "amount",
    "实还金额": "amount",
    "交易金额": "amount",
    "流水号": "reference",
    "交易流水号": "reference",
    "还款流水号": "reference",
    "姓名": "name",
    "客户类型": "kind",
    "借款人类型": "kind",
    "地址": "address",
    "联系地址": "address",
    "居住地址": "address",
    "工作单位": "employer",
    "法定代表人": "legal_representative",
    "紧急联系人": "contact_name",
    "联系人姓名": "contact_name",
    "联系人关系": "contact_relation",
    "与借款人关系": "contact_relation",
    "紧急联系人电话": "contact_mobile",
    "紧急联系人手机": "contact_mobile",
    "联系人手机": "contact_mobile",
}

KIND_ALIASES: dict[str, PartyKind] = {
    "individual": PartyKind.INDIVIDUAL,
    "个人": PartyKind.INDIVIDUAL,
    "自然人": PartyKind.INDIVIDUAL,
    "enterprise": PartyKind.ENTERPRISE,
    "企业": PartyKind.ENTERPRISE,
    "公司": PartyKind.ENTERPRISE,
    "对公": PartyKind.ENTERPRISE,
}


def normalize_header(header: str) -> str:
    """Headers compare without surrounding spaces, a BOM, or the difference of full- and half-width brackets."""
    return header.replace("\ufeff", "").strip().replace("（", "(").replace("）", ")")


# ---------------------------------------------------------------- column mapping


@dataclass(frozen=True, slots=True)
class ColumnMapping:
    """How a lender's export maps onto our columns (a TOML file, see docs/import.md).

    `columns`: source header -> our column. `values`: our column -> {source value -> our value}.
    `defaults`: our column -> value used where the column is missing or the cell is empty.
    """

    columns: dict[str, str] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    defaults: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> ColumnMapping:
        """From the parsed TOML; raises ValueError naming what is wrong."""
        unknown = set(data) - {"columns", "values", "defaults"}
        if unknown:
            raise ValueError(f"unknown mapping section(s): {', '.join(sorted(unknown))}")
        columns = _str_table(data.get("columns", {}), "columns")
        defaults = _str_table(data.get("defaults", {}), "defaults")
        raw_values = data.get("values", {})
        if not isinstance(raw_values, Mapping):
            raise ValueError("[values] must be a table of tables, e.g. [values.repayment_method]")
        values = {str(col): _str_table(table, f"values.{col}") for col, table in raw_values.items()}
        for where, targets in (("columns", columns.values()), ("values", values), ("defaults", defaults)):
            bad = sorted(set(targets) - KNOWN_COLUMNS)
            if bad:
                raise ValueError(f"[{where}] names unknown column(s): {', '.join(bad)}")
        return cls({normalize_header(k): v for k, v in columns.items()}, values, defaults)

    def target(self, header: str) -> str:
        """Our column for a source header (the header itself when nothing maps it)."""
        h = normalize_header(header)
        return self.columns.get(h) or CHINESE_HEADERS.get(h) or h

    def source_header(self, column: str, headers: Iterable[str]) -> str:
        """The header in the file that feeds our `column` ("" when none does)."""
        return next((h for h in headers if self.target(h) == column), "")

    def apply(self, rows: Iterable[RawRow]) -> list[dict[str, object]]:
        """Rows renamed to our columns, with values translated and defaults filled in."""
        out = []
        for row in rows:
            mapped: dict[str, object] = {}
            for header, cell in row.items():
                column = self.target(header)
                if column not in mapped or _is_empty(mapped[column]):  # the first non-empty source wins
                    mapped[column] = cell
            for column, table in self.values.items():
                if column in mapped and (text := cell_text(mapped[column])) in table:
                    mapped[column] = table[text]
            for column, default in self.defaults.items():
                if _is_empty(mapped.get(column)):
                    mapped[column] = default
            out.append(mapped)
        return out


def _str_table(table: object, where: str) -> dict[str, str]:
    if not isinstance(table, Mapping) or not all(isinstance(v, str) for v in table.values()):
        raise ValueError(f'[{where}] must be a table of text values, e.g. 借据号 = "loan_no"')
    return {str(k): str(v) for k, v in table.items()}


# ---------------------------------------------------------------- report


@dataclass(frozen=True, slots=True)
class RowError:
    row: int  # as in the file: header row 1, first data row 2
    column: str  # our column name; "" when the row as a whole is refused
    reason: str


@dataclass(frozen=True, slots=True)
class RowNote:
    """Something a user should know about a row that was imported (e.g. money kept as credit)."""

    row: int
    message: str


@dataclass(frozen=True, slots=True)
class RejectedRow:
    row: int
    values: RawRow  # the row as it was given to the import
    errors: tuple[RowError, ...]

    @property
    def reasons(self) -> str:
        return "; ".join(f"{e.column}: {e.reason}" if e.column else e.reason for e in self.errors)


@dataclass(frozen=True, slots=True)
class ImportReport:
    kind: str  # "loans" | "payments" | "borrowers"
    read: int  # data rows in the file
    imported: int  # rows that changed the store
    unchanged: int  # rows already in the store as given (a re-import)
    rejected: int  # bad rows
    committed: bool  # False: nothing was imported because of the errors
    errors: tuple[RowError, ...] = ()
    rejected_rows: tuple[RejectedRow, ...] = ()
    notes: tuple[RowNote, ...] = ()

    @property
    def ok(self) -> bool:
        """Every row was imported or already there."""
        return self.committed and not self.errors


@dataclass
class _Tally:
    kind: str
    rows: Sequence[RawRow]
    row_numbers: Sequence[int]
    imported: int = 0
    unchanged: int = 0
    errors: dict[int, list[RowError]] = field(default_factory=dict)  # row -> errors, in row order
    notes: list[RowNote] = field(default_factory=list)

    def fail(self, errors: Iterable[RowError]) -> None:
        for e in errors:
            self.errors.setdefault(e.row, []).append(e)

    def report(self, skip_invalid: bool, fatal: bool = False) -> ImportReport:
        committed = not fatal and (skip_invalid or not self.errors)
        by_row = dict(zip(self.row_numbers, self.rows, strict=True))
        rejected = tuple(
            RejectedRow(n, by_row[n], tuple(errs)) for n, errs in sorted(self.errors.items()) if n in by_row
        )
        return ImportReport(
            kind=self.kind,
            read=len(self.rows),
            imported=self.imported if committed else 0,
            unchanged=self.unchanged if committed else 0,
            rejected=len(rejected),
            committed=committed,
            errors=tuple(e for _, errs in sorted(self.errors.items()) for e in errs),
            rejected_rows=rejected,
            notes=tuple(sorted(self.notes, key=lambda n: n.row)) if committed else (),
        )


# ---------------------------------------------------------------- cells


def _is_empty(cell: object) -> bool:
    return cell is None or (isinstance(cell, str) and not cell.strip())


def cell_text(cell: object) -> str:
    """A cell as text: spreadsheet numbers without a spurious ".0", dates as ISO."""
    if cell is None:
        return ""
    if isinstance(cell, datetime):
        return cell.date().isoformat() if cell.time() == datetime.min.time() else cell.isoformat(sep=" ")
    if isinstance(cell, date):
        return cell.isoformat()
    if isinstance(cell, float):
        return str(int(cell)) if cell.is_integer() else format(Decimal(repr(cell)), "f")
    if isinstance(cell, Decimal):
        return format(cell, "f")
    return str(cell).strip()


_DATE_PATTERNS = (
    re.compile(r"(\d{4})([-/.])(\d{1,2})\2(\d{1,2})"),
    re.compile(r"(\d{4})()(\d{2})(\d{2})"),
    re.compile(r"(\d{4})(年)(\d{1,2})月(\d{1,2})日"),
)
_MIDNIGHT = re.compile(r"[ T]0?0:00(:00(\.0+)?)?$")


def parse_date(cell: object) -> date:
    """YYYY-MM-DD, YYYY/MM/DD, YYYY.MM.DD, YYYYMMDD, YYYY年MM月DD日, or a spreadsheet date cell."""
    if isinstance(cell, datetime):
        return cell.date()
    if isinstance(cell, date):
        return cell
    text = _MIDNIGHT.sub("", cell_text(cell))
    for pattern in _DATE_PATTERNS:
        if m := pattern.fullmatch(text):
            try:
                return date(int(m.group(1)), int(m.group(3)), int(m.group(4)))
            except ValueError:
                raise ValueError(f"{text!r} is not a real date") from None
    raise ValueError(f"{text!r} is not a date (use YYYY-MM-DD)")


def parse_amount(cell: object) -> int:
    """Yuan with at most two decimals, thousands separators allowed ("1,234.50") -> fen."""
    text = cell_text(cell).lstrip("¥￥").removesuffix("元").strip()
    try:
        return Money.yuan(text).fen
    except MoneyFormatError:
        raise ValueError(f"{text!r} is not an amount in yuan with at most two decimals") from None


def parse_percent(cell: object) -> Decimal:
    """ "4.9" or "4.9%" means 4.9 % -> Decimal("0.049"); between 0 % and 100 %."""
    text = cell_text(cell).replace("％", "%")
    try:
        rate = parse_rate_percent(text)
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a percentage ({exc})") from None
    if rate > 1:
        raise ValueError(f"{text!r} is over 100 % (write 4.9 for 4.9 %)")
    return rate


_TERM = re.compile(r"(\d+)\s*(?:期|个月|月)?")


def parse_term(cell: object) -> int:
    text = cell_text(cell)
    m = _TERM.fullmatch(text)
    if not m:
        raise ValueError(f"{text!r} is not a whole number of months")
    months = int(m.group(1))
    if not 1 <= months <= MAX_TERM_MONTHS:
        raise ValueError(f"{months} is outside 1..{MAX_TERM_MONTHS} months")
    return months


def parse_method(cell: object) -> RepaymentMethod:
    text = cell_text(cell)
    method = METHOD_ALIASES.get(text) or METHOD_ALIASES.get(text.lower())
    if method is None:
        known = ", ".join(m.value for m in RepaymentMethod)
        raise ValueError(
            f"unknown repayment method {text!r} (use {known} or 等额本息/等额本金/先息后本/一次性还本付息)"
        )
    return method


def parse_kind(cell: object) -> PartyKind:
    text = cell_text(cell)
    kind = KIND_ALIASES.get(text.lower()) if text else PartyKind.INDIVIDUAL
    if kind is None:
        raise ValueError(f"unknown borrower kind {text!r} (use individual/个人 or enterprise/企业)")
    return kind


T = TypeVar("T")


class _Fields:
    """Reads one row's cells, collecting an error for every bad field instead of stopping at the first."""

    def __init__(self, row: RawRow, row_no: int) -> None:
        self.row, self.row_no = row, row_no
        self.errors: list[RowError] = []

    def error(self, column: str, reason: str) -> None:
        self.errors.append(RowError(self.row_no, column, reason))

    def text(self, column: str, required: bool = False) -> str:
        text = cell_text(self.row.get(column))
        if required and not text:
            self.error(column, "is required")
        return text

    def parsed(self, column: str, parse: Callable[[object], T], fallback: T, required: bool = True) -> T | None:
        """The parsed cell; None when empty and optional; `fallback` after recording an error."""
        cell = self.row.get(column)
        if _is_empty(cell):
            if required:
                self.error(column, "is required")
                return fallback
            return None
        try:
            return parse(cell)
        except ValueError as exc:
            self.error(column, str(exc))
            return fallback

    def value(self, column: str, parse: Callable[[object], T], fallback: T) -> T:
        result = self.parsed(column, parse, fallback)
        return fallback if result is None else result

    def mobile(self, column: str, required: bool) -> str:
        text = self.text(column, required)
        if text and (problem := mobile_problem(text)):
            self.error(column, problem)
        return text


# ---------------------------------------------------------------- rows


@dataclass(frozen=True, slots=True)
class LoanRow:
    cmd: BookLoan
    borrower_name: str
    id_number: str
    mobile: str

    def borrower(self) -> Borrower:
        kind = PartyKind.INDIVIDUAL if id_number_problem(self.id_number) is None else PartyKind.ENTERPRISE
        return Borrower(self.cmd.borrower_no, kind, self.borrower_name, self.id_number, self.mobile)


@dataclass(frozen=True, slots=True)
class PaymentRow:
    loan_no: str
    payment: Payment


def parse_loan_row(row: RawRow, row_no: int) -> LoanRow | list[RowError]:
    """A loan row as a booking command, or every error in it."""
    f = _Fields(row, row_no)
    loan_no = f.text("loan_no", required=True)
    borrower_no = f.text("borrower_no", required=True)
    name = f.text("borrower_name", required=True)
    id_number = f.text("id_number", required=True).upper()
    if id_number and (problem := id_number_problem(id_number)) and uscc_problem(id_number):
        f.error("id_number", problem)
    mobile = f.mobile("mobile", required=True)
    principal = f.value("principal", parse_amount, 0)
    if principal < 0 or (principal == 0 and not _is_empty(row.get("principal"))):
        f.error("principal", f"{yuan_text(principal)} is not greater than zero")
    rate = f.value("annual_rate", parse_percent, Decimal(0))
    term = f.value("term_months", parse_term, 0)
    method = f.value("repayment_method", parse_method, RepaymentMethod.EQUAL_INSTALLMENT)
    disbursed = f.value("disbursement_date", parse_date, date.min)
    first_due = f.parsed("first_due_date", parse_date, None, required=False)
    penalty = f.parsed("penalty_rate", parse_percent, None, required=False)
    if first_due is not None and disbursed != date.min and first_due <= disbursed:
        f.error("first_due_date", f"{first_due} is not after the disbursement date {disbursed}")
    if f.errors:
        return f.errors
    cmd = BookLoan(
        loan_no=loan_no,
        borrower_no=borrower_no,
        principal_fen=principal,
        rate_annual=rate,
        periods=term,
        disbursed_on=disbursed,
        product_code=f.text("product_code") or DEFAULT_PRODUCT_CODE,
        method=method,
        first_due_on=first_due,
        penalty_rate_annual=penalty,
        officer=f.text("officer"),
        purpose=f.text("purpose"),
    )
    return LoanRow(cmd, name, id_number, mobile)


def parse_payment_row(row: RawRow, row_no: int) -> PaymentRow | list[RowError]:
    f = _Fields(row, row_no)
    loan_no = f.text("loan_no", required=True)
    paid_on = f.value("paid_on", parse_date, date.min)
    amount = f.value("amount", parse_amount, 0)
    if amount < 0 or (amount == 0 and not _is_empty(row.get("amount"))):
        f.error("amount", f"{yuan_text(amount)} is not greater than zero")
    reference = f.text("reference", required=True)
    if f.errors:
        return f.errors
    return PaymentRow(loan_no, Payment(paid_on, amount, reference))


_BORROWER_FIELD_COLUMN = {"contact_1_mobile": "contact_mobile"}


def parse_borrower_row(row: RawRow, row_no: int) -> Borrower | list[RowError]:
    """A borrower with at most one emergency contact; `borrower_name` is accepted for `name`."""
    f = _Fields(row, row_no)
    name_column = "name" if not _is_empty(row.get("name")) or "borrower_name" not in row else "borrower_name"
    borrower_no = f.text("borrower_no", required=True)
    name = f.text(name_column, required=True)
    id_number = f.text("id_number", required=True).upper()
    kind = f.value("kind", parse_kind, PartyKind.INDIVIDUAL) if not _is_empty(row.get("kind")) else None
    contact_name, relation = f.text("contact_name"), f.text("contact_relation")
    contact_mobile = f.text("contact_mobile")
    contacts: tuple[Contact, ...] = ()
    if contact_name or relation or contact_mobile:
        if not contact_name:
            f.error("contact_name", "is required when a contact is given")
        if not contact_mobile:
            f.error("contact_mobile", "is required when a contact is given")
        contacts = (Contact(contact_name, relation, contact_mobile),)
    borrower = Borrower(
        borrower_no=borrower_no,
        kind=kind or PartyKind.INDIVIDUAL,
        name=name,
        id_number=id_number,
        mobile=f.text("mobile"),
        address=f.text("address"),
        employer=f.text("employer"),
        legal_representative=f.text("legal_representative"),
        contacts=contacts,
    )
    reported = {e.column for e in f.errors}
    if "kind" in reported:
        reported.add("id_number")  # which check applies is unknown
    for problem_field, reason in borrower.problems():
        column = _BORROWER_FIELD_COLUMN.get(problem_field, problem_field)
        column = name_column if column == "name" else column
        if column not in reported:
            f.error(column, reason)
    return f.errors or borrower


# ---------------------------------------------------------------- the phases

R = TypeVar("R")


def _missing_columns(rows: Sequence[RawRow], required: Sequence[str]) -> list[RowError]:
    """A required column absent from the header is one error on row 1; nothing can be imported."""
    present: set[str] = set()
    for row in rows:
        present.update(row)
    if not rows:
        return []
    hints = {v: k for k, v in reversed(list(CHINESE_HEADERS.items()))}
    out = []
    for column in required:
        if column not in present and not (column == "name" and "borrower_name" in present):
            hint = f" (or {hints[column]})" if column in hints else ""
            out.append(RowError(1, column, f"required column {column}{hint} is missing from the header"))
    return out


def _parse_all(
    tally: _Tally, parse: Callable[[RawRow, int], R | list[RowError]], key: Callable[[R], str], key_column: str
) -> list[tuple[int, R]]:
    """Phase one: every row parsed; a key seen on an earlier row is an error on the later one."""
    good: list[tuple[int, R]] = []
    first_seen: dict[str, int] = {}
    for row_no, row in zip(tally.row_numbers, tally.rows, strict=True):
        parsed = parse(row, row_no)
        if isinstance(parsed, list):
            tally.fail(parsed)
            continue
        k = key(parsed)
        if k in first_seen:
            tally.fail([RowError(row_no, key_column, f"{k} repeats row {first_seen[k]}")])
            continue
        first_seen[k] = row_no
        good.append((row_no, parsed))
    return good


def _start(kind: str, rows: Sequence[RawRow], row_numbers: Sequence[int] | None) -> _Tally:
    numbers = list(row_numbers) if row_numbers is not None else list(range(2, len(rows) + 2))
    assert len(numbers) == len(rows), "one row number per row"
    return _Tally(kind, rows, numbers)


def _finish(uow: UnitOfWork, tally: _Tally, skip_invalid: bool) -> ImportReport:
    report = tally.report(skip_invalid)
    if report.committed:
        uow.commit()
    else:
        uow.rollback()
    return report


# ---------------------------------------------------------------- borrowers


def import_borrowers(
    uow: UnitOfWork, rows: Sequence[RawRow], skip_invalid: bool = False, row_numbers: Sequence[int] | None = None
) -> ImportReport:
    """Add borrowers; one already on file with the same details is unchanged, with other details an error."""
    tally = _start("borrowers", rows, row_numbers)
    if missing := _missing_columns(rows, BORROWER_REQUIRED):
        tally.fail(missing)
        return tally.report(skip_invalid, fatal=True)
    good = _parse_all(tally, parse_borrower_row, lambda b: b.borrower_no, "borrower_no")
    with uow:
        on_file = uow.borrowers.existing(b.borrower_no for _, b in good)
        for row_no, borrower in good:
            if borrower.borrower_no not in on_file:
                uow.borrowers.add(borrower)
                tally.imported += 1
                continue
            current = uow.borrowers.get(borrower.borrower_no)
            assert current is not None
            if current == borrower:
                tally.unchanged += 1
            else:
                differ = [n for n in _BORROWER_FIELDS if getattr(current, n) != getattr(borrower, n)]
                tally.fail([RowError(row_no, "borrower_no", f"borrower exists with different {', '.join(differ)}")])
        return _finish(uow, tally, skip_invalid)


_BORROWER_FIELDS = (
    "kind",
    "name",
    "id_number",
    "mobile",
    "address",
    "employer",
    "legal_representative",
    "contacts",
)


# ---------------------------------------------------------------- loans

_LOAN_CODE_COLUMN = {"duplicate_loan": "loan_no", "unknown_product": "product_code", "unknown_borrower": "borrower_no"}


def import_loans(
    uow: UnitOfWork, rows: Sequence[RawRow], skip_invalid: bool = False, row_numbers: Sequence[int] | None = None
) -> ImportReport:
    """Book loans, creating a borrower for a borrower_no not yet on file.

    A loan_no already booked with the same terms is unchanged; with other terms it is an error.
    """
    tally = _start("loans", rows, row_numbers)
    if missing := _missing_columns(rows, LOAN_REQUIRED):
        tally.fail(missing)
        return tally.report(skip_invalid, fatal=True)
    good = _parse_all(tally, parse_loan_row, lambda r: r.cmd.loan_no, "loan_no")
    good = _consistent_borrowers(tally, good)
    with uow:
        booked = uow.loans.existing(r.cmd.loan_no for _, r in good)
        borrowers = _BorrowerCache(uow, uow.borrowers.existing(r.cmd.borrower_no for _, r in good))
        products = {p.code for p in uow.products.all()}
        for row_no, lr in good:
            cmd = lr.cmd
            errors = borrowers.conflicts(row_no, lr)
            if cmd.product_code not in products:
                errors.append(RowError(row_no, "product_code", f"product {cmd.product_code} does not exist"))
            if not errors and cmd.loan_no in booked:
                errors = _compare_booked(uow, row_no, cmd)
                if not errors:
                    tally.unchanged += 1
                    continue
            if errors:
                tally.fail(errors)
                continue
            borrowers.ensure(lr)
            outcome = book_loan_in(uow, cmd)
            if outcome.code == ACCEPTED:
                tally.imported += 1
                for finding in outcome.detail.get("cap_findings", []):
                    tally.notes.append(RowNote(row_no, str(finding["message"])))
            else:
                tally.fail([RowError(row_no, _LOAN_CODE_COLUMN.get(outcome.code, ""), outcome.message)])
        return _finish(uow, tally, skip_invalid)


def _consistent_borrowers(tally: _Tally, good: list[tuple[int, LoanRow]]) -> list[tuple[int, LoanRow]]:
    """Rows of one borrower_no must agree on the name and ID number; a later row that does not is an error."""
    first: dict[str, tuple[int, LoanRow]] = {}
    kept = []
    for row_no, lr in good:
        seen = first.setdefault(lr.cmd.borrower_no, (row_no, lr))
        errors = [
            RowError(row_no, column, f"differs from row {seen[0]} for borrower {lr.cmd.borrower_no}")
            for column, mine, theirs in (
                ("borrower_name", lr.borrower_name, seen[1].borrower_name),
                ("id_number", lr.id_number, seen[1].id_number),
            )
            if mine != theirs
        ]
        if errors:
            tally.fail(errors)
        else:
            kept.append((row_no, lr))
    return kept


class _BorrowerCache:
    """Borrowers on file are read once each; new ones are created by their first loan row."""

    def __init__(self, uow: UnitOfWork, on_file: set[str]) -> None:
        self.uow, self.on_file = uow, on_file
        self.known: dict[str, Borrower] = {}

    def conflicts(self, row_no: int, lr: LoanRow) -> list[RowError]:
        no = lr.cmd.borrower_no
        if no not in self.on_file:
            return []
        if no not in self.known:
            found = self.uow.borrowers.get(no)
            assert found is not None
            self.known[no] = found
        current = self.known[no]
        out = []
        if current.name != lr.borrower_name:
            out.append(RowError(row_no, "borrower_name", f"borrower {no} is on file under another name"))
        if current.id_number.upper() != lr.id_number:
            out.append(RowError(row_no, "id_number", f"borrower {no} is on file with another ID number"))
        return out

    def ensure(self, lr: LoanRow) -> None:
        no = lr.cmd.borrower_no
        if no not in self.on_file:
            borrower = lr.borrower()
            self.uow.borrowers.add(borrower)
            self.on_file.add(no)
            self.known[no] = borrower


def _compare_booked(uow: UnitOfWork, row_no: int, cmd: BookLoan) -> list[RowError]:
    """Empty when the loan on file has the row's terms (a re-import); else one error naming the differences.

    The penalty rate is not compared: what is stored is the collectable rate after the legal caps.
    """
    loan, info = uow.loans.get(cmd.loan_no), uow.loans.info(cmd.loan_no)
    assert loan is not None and info is not None
    t = loan.terms
    pairs: tuple[tuple[str, object, object], ...] = (
        ("borrower_no", cmd.borrower_no, info.borrower_no),
        ("product_code", cmd.product_code, info.product_code),
        ("principal", cmd.principal_fen, t.principal_fen),
        ("annual_rate", cmd.rate_annual, t.rate_annual),
        ("term_months", cmd.periods, t.periods),
        ("repayment_method", cmd.method, t.method),
        ("disbursement_date", cmd.disbursed_on, t.disbursed_on),
        ("first_due_date", cmd.first_due_on, t.first_due_on),
    )
    differ = [name for name, mine, theirs in pairs if mine != theirs]
    if not differ:
        return []
    return [RowError(row_no, "loan_no", f"loan_no exists with different terms ({', '.join(differ)})")]


# ---------------------------------------------------------------- payments

_PAYMENT_CODE_COLUMN = {
    "loan_not_found": "loan_no",
    "loan_closed": "loan_no",
    "loan_written_off": "loan_no",
    "reference_conflict": "reference",
    "amount_not_positive": "amount",
    "before_disbursement": "paid_on",
    "later_event_depends": "paid_on",
}


def import_payments(
    uow: UnitOfWork, rows: Sequence[RawRow], skip_invalid: bool = False, row_numbers: Sequence[int] | None = None
) -> ImportReport:
    """Post repayments in paid_on order (file order within a day). A reference already posted is unchanged."""
    tally = _start("payments", rows, row_numbers)
    if missing := _missing_columns(rows, PAYMENT_REQUIRED):
        tally.fail(missing)
        return tally.report(skip_invalid, fatal=True)
    good = _parse_all(tally, parse_payment_row, lambda p: p.payment.reference, "reference")
    good.sort(key=lambda item: item[1].payment.on)  # stable: file order within a day
    with uow:
        loans = uow.loans.existing(p.loan_no for _, p in good)
        posted = uow.transactions.existing(p.payment.reference for _, p in good)
        for row_no, p in good:
            if p.loan_no not in loans:
                tally.fail([RowError(row_no, "loan_no", f"loan {p.loan_no} does not exist")])
                continue
            if p.payment.reference in posted:
                if error := _compare_posted(uow, row_no, p):
                    tally.fail([error])
                else:
                    tally.unchanged += 1
                continue
            outcome = post_in(uow, p.loan_no, p.payment)
            if outcome.code == ACCEPTED:
                tally.imported += 1
                if outcome.detail.get("credit", "0.00") != "0.00":
                    tally.notes.append(RowNote(row_no, outcome.message))
            elif outcome.code == DUPLICATE:
                tally.unchanged += 1
            else:
                tally.fail([RowError(row_no, _PAYMENT_CODE_COLUMN.get(outcome.code, ""), outcome.message)])
        return _finish(uow, tally, skip_invalid)


def _compare_posted(uow: UnitOfWork, row_no: int, p: PaymentRow) -> RowError | None:
    """None when the posted transaction is this very payment (a re-import)."""
    seen = uow.transactions.by_reference(p.payment.reference)
    assert seen is not None
    same = (seen.kind, seen.loan_no, seen.value_date, seen.amount_fen) == (
        "payment",
        p.loan_no,
        p.payment.on,
        p.payment.amount_fen,
    )
    if same:
        return None
    return RowError(
        row_no,
        "reference",
        f"reference {p.payment.reference} was already used for a {seen.kind} of {yuan_text(seen.amount_fen)} "
        f"on {seen.value_date} to loan {seen.loan_no}",
    )

"""Reading import files (CSV, XLSX) into rows of text, writing rejects files, loading mapping files.

Rows keep the file's own headers; `daihou.service.importing.ColumnMapping` renames them. Each row
carries its number in the file (header row 1) so errors point at the line a user sees in Excel.
"""

from __future__ import annotations

import csv
import io
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path

from daihou.service.importing import ColumnMapping, RejectedRow, cell_text


class TableError(ValueError):
    """A file that cannot be read as a table at all (wrong format, no header, bad mapping)."""


@dataclass(frozen=True, slots=True)
class TableData:
    headers: tuple[str, ...]
    rows: tuple[dict[str, str], ...]
    row_numbers: tuple[int, ...]  # the file's row number of each row (header = 1)


def read_table(path: Path) -> TableData:
    """A CSV or XLSX file's header and non-empty data rows, every cell as text (dates as ISO)."""
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        records = _xlsx_records(path)
    elif suffix in (".csv", ".txt", ""):
        records = _csv_records(path)
    else:
        raise TableError(f"{path.name}: unsupported file type {suffix} (use .csv or .xlsx)")
    return _table(path, records)


def _table(path: Path, records: list[list[str]]) -> TableData:
    if not records or not any(records[0]):
        raise TableError(f"{path.name}: the first row must be the header")
    headers = [h.replace("\ufeff", "").strip() for h in records[0]]
    while headers and not headers[-1]:
        headers.pop()
    named = [h for h in headers if h]
    if len(set(named)) != len(named):
        repeated = sorted({h for h in named if named.count(h) > 1})
        raise TableError(f"{path.name}: repeated header(s) {', '.join(repeated)}")
    rows, numbers = [], []
    for number, record in enumerate(records[1:], start=2):
        if not any(cell.strip() for cell in record):
            continue  # blank lines are skipped but still counted
        cells = [*record, *[""] * (len(headers) - len(record))]
        rows.append({h: cells[i].strip() for i, h in enumerate(headers) if h})
        numbers.append(number)
    return TableData(tuple(headers), tuple(rows), tuple(numbers))


def _csv_records(path: Path) -> list[list[str]]:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = raw.decode("gb18030")  # exports from Chinese Excel are often GBK
        except UnicodeDecodeError as exc:
            raise TableError(f"{path.name}: neither UTF-8 nor GB18030 text") from exc
    return [list(r) for r in csv.reader(io.StringIO(text, newline=""))]


def _xlsx_records(path: Path) -> list[list[str]]:
    import openpyxl  # imported here: only XLSX imports pay for it

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a bad file
        raise TableError(f"{path.name}: not a readable XLSX workbook ({exc})") from exc
    try:
        sheet = book.worksheets[0]
        return [[_xlsx_cell(c.value, getattr(c, "number_format", "")) for c in row] for row in sheet.iter_rows()]
    finally:
        book.close()


def _xlsx_cell(value: object, number_format: str | None) -> str:
    """Spreadsheet cell -> text: a date as ISO, 4.9 % stored as 0.049 in a percent cell as "4.9"."""
    if isinstance(value, datetime) and value.time() == time(0):
        return value.date().isoformat()
    if isinstance(value, date | datetime):
        return cell_text(value)
    if isinstance(value, int | float) and not isinstance(value, bool) and "%" in (number_format or ""):
        return format((Decimal(repr(value)) * 100).normalize(), "f")
    return cell_text(value)


def write_rejects(path: Path, headers: Sequence[str], rejected: Sequence[RejectedRow], originals: TableData) -> None:
    """The bad rows as the file had them, plus `_row` (row number) and `_errors` (the reasons).

    Written as UTF-8 with a BOM so that Excel opens the Chinese text correctly.
    """
    by_number = dict(zip(originals.row_numbers, originals.rows, strict=True))
    columns = [h for h in headers if h]
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow([*columns, "_row", "_errors"])
        for r in rejected:
            original = by_number.get(r.row, {})
            writer.writerow([*(original.get(h, "") for h in columns), r.row, r.reasons])


def load_mapping(path: Path) -> ColumnMapping:
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
        return ColumnMapping.from_dict(data)
    except OSError as exc:
        raise TableError(f"mapping file {path}: {exc.strerror or exc}") from exc
    except (tomllib.TOMLDecodeError, ValueError) as exc:
        raise TableError(f"mapping file {path.name}: {exc}") from exc

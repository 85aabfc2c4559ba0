"""`daihou import borrowers|loans|payments FILE`: tabular files in, a row-by-row report out.

Exit codes: 0 every row imported or already there; 1 the file was rejected and nothing imported;
2 `--skip-invalid` imported the valid rows and left the bad ones out (written to the rejects file).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from daihou import bootstrap
from daihou.cli.tabular import TableData, TableError, load_mapping, read_table, write_rejects
from daihou.service import importing
from daihou.service.importing import ColumnMapping, ImportReport, RawRow
from daihou.service.ports import UnitOfWork

import_app = typer.Typer(
    no_args_is_help=True,
    help="Import borrowers, loans and payments from CSV or XLSX (数据导入). See docs/import.md.",
)
console = Console()
err = Console(stderr=True)

ImportUseCase = Callable[[UnitOfWork, Sequence[RawRow], bool, Sequence[int] | None], ImportReport]
USE_CASES: dict[str, ImportUseCase] = {
    "borrowers": importing.import_borrowers,
    "loans": importing.import_loans,
    "payments": importing.import_payments,
}

EXIT_OK, EXIT_REJECTED, EXIT_PARTIAL = 0, 1, 2

FileArg = Annotated[Path, typer.Argument(help="A .csv (UTF-8 or GB18030) or .xlsx file with a header row.")]
MappingOpt = Annotated[
    Path | None, typer.Option("--mapping", help="TOML file mapping your export's headers and values to ours.")
]
SkipOpt = Annotated[
    bool, typer.Option("--skip-invalid", help="Import the valid rows and write the bad ones to a rejects file.")
]
RejectsOpt = Annotated[
    Path | None, typer.Option("--rejects", help="Where --skip-invalid writes bad rows (default FILE.rejects.csv).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


@import_app.command()
def borrowers(
    ctx: typer.Context,
    file: FileArg,
    mapping: MappingOpt = None,
    skip_invalid: SkipOpt = False,
    rejects: RejectsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Borrowers (借款人): borrower_no, name, kind, id_number, mobile, address, … and one emergency contact."""
    _run(ctx, "borrowers", file, mapping, skip_invalid, rejects, as_json)


@import_app.command()
def loans(
    ctx: typer.Context,
    file: FileArg,
    mapping: MappingOpt = None,
    skip_invalid: SkipOpt = False,
    rejects: RejectsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Loans (借据): loan_no, borrower_no, borrower_name, id_number, mobile, principal, annual_rate, …"""
    _run(ctx, "loans", file, mapping, skip_invalid, rejects, as_json)


@import_app.command()
def payments(
    ctx: typer.Context,
    file: FileArg,
    mapping: MappingOpt = None,
    skip_invalid: SkipOpt = False,
    rejects: RejectsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Repayments (还款流水): loan_no, paid_on, amount, reference. Posted in paid_on order."""
    _run(ctx, "payments", file, mapping, skip_invalid, rejects, as_json)


def _fail(message: str) -> None:
    err.print(f"[red]error:[/red] {message}")
    raise typer.Exit(EXIT_REJECTED)


def _run(
    ctx: typer.Context,
    kind: str,
    file: Path,
    mapping_file: Path | None,
    skip_invalid: bool,
    rejects: Path | None,
    as_json: bool,
) -> None:
    application: bootstrap.App = ctx.obj
    if not application.initialised:
        _fail(f"the database {application.settings.database_url} is not initialised: run `daihou init` first")
    if not file.is_file():
        _fail(f"{file}: no such file")
    try:
        table = read_table(file)
        mapping = load_mapping(mapping_file) if mapping_file else ColumnMapping()
    except TableError as exc:
        _fail(str(exc))
        raise
    report = USE_CASES[kind](application.uow(), mapping.apply(table.rows), skip_invalid, table.row_numbers)
    rejects_path = None
    if skip_invalid and report.committed and report.rejected_rows:
        rejects_path = rejects or file.with_name(f"{file.stem}.rejects.csv")
        write_rejects(rejects_path, table.headers, report.rejected_rows, table)
    if as_json:
        _print_json(_as_dict(report, file, table, mapping, rejects_path))
    else:
        _render(report, table, mapping, rejects_path)
    raise typer.Exit(exit_code(report))


def exit_code(report: ImportReport) -> int:
    if not report.committed:
        return EXIT_REJECTED
    return EXIT_PARTIAL if report.rejected else EXIT_OK


def _status(report: ImportReport) -> str:
    return {EXIT_OK: "imported", EXIT_REJECTED: "rejected", EXIT_PARTIAL: "partial"}[exit_code(report)]


def _header(column: str, table: TableData, mapping: ColumnMapping) -> str:
    """The header a user sees in the file for one of our columns ("" when the file has none)."""
    return mapping.source_header(column, table.headers) if column else ""


def _as_dict(
    report: ImportReport, file: Path, table: TableData, mapping: ColumnMapping, rejects: Path | None
) -> dict[str, Any]:
    return {
        "kind": report.kind,
        "file": str(file),
        "status": _status(report),
        "committed": report.committed,
        "read": report.read,
        "imported": report.imported,
        "unchanged": report.unchanged,
        "rejected": report.rejected,
        "errors": [
            {"row": e.row, "column": e.column, "header": _header(e.column, table, mapping), "reason": e.reason}
            for e in report.errors
        ],
        "notes": [{"row": n.row, "message": n.message} for n in report.notes],
        "rejects_file": str(rejects) if rejects else None,
    }


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def _render(report: ImportReport, table: TableData, mapping: ColumnMapping, rejects: Path | None) -> None:
    if report.errors:
        where = f" in {report.rejected} row(s)" if report.rejected else ""
        errors = Table(title=f"{report.kind}: {len(report.errors)} error(s){where}")
        errors.add_column("row", justify="right")
        errors.add_column("column")
        errors.add_column("reason")
        for e in report.errors:
            header = _header(e.column, table, mapping)
            shown = f"{header} ({e.column})" if header and header != e.column else e.column or "—"
            errors.add_row(str(e.row), shown, e.reason)
        console.print(errors)
    for note in report.notes:
        console.print(f"row {note.row}: {note.message}")
    counts = f"{report.read} read, {report.imported} imported, {report.unchanged} unchanged, {report.rejected} rejected"
    if not report.committed:
        header_problem = any(e.row == 1 for e in report.errors)
        hint = "" if header_problem or report.rejected >= report.read else "; --skip-invalid imports the valid rows"
        console.print(f"[red]{report.kind}: file rejected, nothing imported[/red] ({counts}{hint})")
    elif report.rejected:
        where = f"; bad rows written to {rejects}" if rejects else ""
        console.print(f"[yellow]{report.kind}: {counts}{where}[/yellow]")
    else:
        console.print(f"[green]{report.kind}: {counts}[/green]")

"""`daihou warning …`: Early warning (风险预警): rules, alerts and their workflow, external signals.

Storage is reached only through `daihou.workflow.warnings.build`. A refused step prints its code and
reason and exits 1 (with `--json`: `{"ok": false, "code", "reason"}`).
"""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from daihou import bootstrap
from daihou.cli.tabular import TableError, read_table, write_rejects
from daihou.domain.money import yuan_text
from daihou.domain.warnings import ACTION_LABELS, SEVERITY_RANK, STATUS_LABELS, ActionKind, Refused, Severity, Status
from daihou.domain.warnings import Outcome as AlertOutcome
from daihou.workflow import warnings
from daihou.workflow.warnings import StepDone

warning_app = typer.Typer(
    no_args_is_help=True, help="Early warning (风险预警): rules, alerts and their workflow, external signals."
)
console = Console()
err = Console(stderr=True)

RulesOption = Annotated[
    Path | None, typer.Option("--rules", help="A warning rules TOML (default: the one shipped with daihou).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
UserOption = Annotated[str, typer.Option("--user", help="Who takes the step (named user).")]
CommentOption = Annotated[str, typer.Option("--comment", help="Why: kept with the step.")]
AsOfOption = Annotated[str | None, typer.Option("--as-of", help="Business date D (default: today).")]


def _fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def _service(ctx: typer.Context, rules: Path | None = None) -> warnings.WarningService:
    application: bootstrap.App = ctx.obj
    if not application.initialised:
        _fail(f"{application.settings.database_url} is not initialised: run `daihou init`")
    try:
        return warnings.build(application, rules)
    except (OSError, ValueError) as exc:
        _fail(f"rules: {exc}", 2)


def _day(text: str | None, ctx: typer.Context) -> date:
    if text is None:
        application: bootstrap.App = ctx.obj
        return application.today()
    try:
        return date.fromisoformat(text)
    except ValueError:
        _fail(f"{text!r} is not a date (YYYY-MM-DD)", 2)


@warning_app.command("rules")
def rules_(
    ctx: typer.Context, rules: RulesOption = None, as_of: AsOfOption = None, as_json: JsonOption = False
) -> None:
    """The rules in force on D: code, kind, severity, owner role, parameters, effective date."""
    service = _service(ctx, rules)
    in_force = service.rules.in_force(_day(as_of, ctx))
    data: list[dict[str, Any]] = [
        {
            "code": r.code,
            "kind": r.kind.value,
            "severity": r.severity.value,
            "owner_role": r.owner_role,
            "effective": r.effective.isoformat(),
            "params": {k: list(v) if isinstance(v, tuple) else v for k, v in r.params},
            "title_zh": r.title_zh,
            "title_en": r.title_en,
        }
        for r in in_force
    ]
    if as_json:
        _print_json(data)
        return
    table = Table(title="预警规则 warning rules")
    for col in ("code", "kind", "severity", "owner_role", "params", "effective", "title"):
        table.add_column(col)
    for d in data:
        params = ", ".join(f"{k}={v}" for k, v in d["params"].items())
        table.add_row(
            d["code"],
            d["kind"],
            d["severity"],
            d["owner_role"],
            params,
            d["effective"],
            f"{d['title_zh']} / {d['title_en']}",
        )
    console.print(table)


def _alert_json(a: Any) -> dict[str, Any]:
    return {
        "id": a.id,
        "loan_no": a.loan_no,
        "officer": a.officer,
        "rule_code": a.rule_code,
        "rule_kind": a.rule_kind,
        "severity": a.severity,
        "owner_role": a.owner_role,
        "status": a.status,
        "opened_on": a.opened_on.isoformat(),
        "evidence": a.evidence,
        "outcome": a.outcome,
        "closed_on": a.closed_on.isoformat() if a.closed_on else None,
    }


@warning_app.command("list")
def list_(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="open, acknowledged, actioned or closed.")] = None,
    severity: Annotated[
        str | None, typer.Option(help="low, medium, high or critical; `high+` means high and above.")
    ] = None,
    owner_role: Annotated[str | None, typer.Option("--owner-role", help="Only alerts this role owns.")] = None,
    loan_no: Annotated[str | None, typer.Option("--loan", help="Only this loan's alerts.")] = None,
    limit: int = 200,
    as_json: JsonOption = False,
) -> None:
    """Alerts, newest first."""
    if status is not None and status not in {s.value for s in Status}:
        _fail(f"--status {status!r}: one of {', '.join(s.value for s in Status)}", 2)
    severities: list[str] | None = None
    if severity is not None:
        base = severity.removesuffix("+")
        if base not in {s.value for s in Severity}:
            _fail(f"--severity {severity!r}: one of {', '.join(s.value for s in Severity)} (or e.g. high+)", 2)
        floor = SEVERITY_RANK[Severity(base)]
        severities = [s.value for s in Severity if (SEVERITY_RANK[s] >= floor if severity.endswith("+") else s == base)]
    rows = [_alert_json(a) for a in _service(ctx).alerts(status, severities, owner_role, loan_no, limit)]
    if as_json:
        _print_json(rows)
        return
    table = Table(title="风险预警 alerts")
    for col in ("id", "loan_no", "rule", "severity", "owner_role", "status", "opened_on", "evidence"):
        table.add_column(col)
    for r in rows:
        zh = STATUS_LABELS[Status(r["status"])][0]
        evidence = ", ".join(f"{k}={v}" for k, v in r["evidence"].items())
        table.add_row(
            str(r["id"]),
            r["loan_no"],
            r["rule_code"],
            r["severity"],
            r["owner_role"],
            f"{zh} {r['status']}",
            r["opened_on"],
            evidence,
        )
    console.print(table)


def _refused(result: Refused, as_json: bool) -> NoReturn:
    if as_json:
        _print_json({"ok": False, "code": result.code.value, "reason": result.reason})
        raise typer.Exit(1)
    _fail(f"{result.code.value}: {result.reason}")


@warning_app.command("show")
def show(ctx: typer.Context, alert_id: int, as_json: JsonOption = False) -> None:
    """One alert: the rule, the evidence, every step (who, when, comment) and the actions taken."""
    detail = _service(ctx).show(alert_id)
    if isinstance(detail, Refused):
        _refused(detail, as_json)
    data = _alert_json(detail.alert)
    if detail.rule is not None:
        data["rule_title"] = {"zh-CN": detail.rule.title_zh, "en": detail.rule.title_en}
    data["steps"] = [
        {
            "from": s.from_status,
            "to": s.to_status,
            "user": s.user,
            "at": s.at.isoformat(timespec="seconds"),
            "comment": s.comment,
            "action": s.action,
            "outcome": s.outcome,
        }
        for s in detail.steps
    ]
    data["actions"] = [
        {
            "kind": a.kind,
            "status": a.status,
            "decided_on": a.decided_on.isoformat(),
            "decided_by": a.decided_by,
            "amount_due": None if a.amount_due_fen is None else yuan_text(a.amount_due_fen),
            "detail": a.detail,
        }
        for a in detail.actions
    ]
    if as_json:
        _print_json(data)
        return
    title = data.get("rule_title", {}).get("zh-CN", "")
    console.print(f"#{data['id']} {data['loan_no']} {data['rule_code']} {title} ({data['severity']}) {data['status']}")
    console.print(f"opened {data['opened_on']}; owner {data['owner_role']}; evidence {data['evidence']}")
    for s in data["steps"]:
        extra = s["action"] or s["outcome"] or ""
        console.print(f"  {s['at']} {s['user']}: {s['from'] or '-'} → {s['to']} {extra} — {s['comment']}")
    for a in data["actions"]:
        zh = ACTION_LABELS[ActionKind(a["kind"])][0] if a["kind"] in {k.value for k in ActionKind} else ""
        due = f" amount due {a['amount_due']}" if a["amount_due"] else ""
        console.print(f"  action {a['kind']} {zh}: {a['status']} by {a['decided_by']} on {a['decided_on']}{due}")


def _stepped(result: StepDone | Refused, as_json: bool) -> None:
    if isinstance(result, Refused):
        _refused(result, as_json)
    data = {
        "ok": True,
        "alert_id": result.alert_id,
        "from": result.step.from_status.value,
        "to": result.step.to_status.value,
        "action": result.step.action.value if result.step.action else None,
        "action_status": result.action_status,
        "amount_due": None if result.amount_due_fen is None else yuan_text(result.amount_due_fen),
        "outcome": result.step.outcome.value if result.step.outcome else None,
    }
    if as_json:
        _print_json(data)
        return
    extra = f" ({data['action']}: {data['action_status']})" if data["action"] else ""
    due = f", amount due {data['amount_due']}" if data["amount_due"] else ""
    console.print(f"alert {result.alert_id}: {data['from']} → {data['to']}{extra}{due}")


@warning_app.command("ack")
def ack(
    ctx: typer.Context, alert_id: int, user: UserOption, comment: CommentOption, as_json: JsonOption = False
) -> None:
    """Acknowledge an open alert (已确认)."""
    _stepped(_service(ctx).acknowledge(alert_id, user, comment), as_json)


@warning_app.command("action")
def action(
    ctx: typer.Context,
    alert_id: int,
    user: UserOption,
    comment: CommentOption,
    kind: Annotated[
        str | None, typer.Option("--action", help=", ".join(f"{k.value} ({v[0]})" for k, v in ACTION_LABELS.items()))
    ] = None,
    as_of: AsOfOption = None,
    as_json: JsonOption = False,
) -> None:
    """Record the action taken on an acknowledged alert (and carry it out where daihou can)."""
    _stepped(_service(ctx).act(alert_id, user, comment, kind, _day(as_of, ctx)), as_json)


@warning_app.command("close")
def close(
    ctx: typer.Context,
    alert_id: int,
    user: UserOption,
    comment: CommentOption,
    outcome: Annotated[str | None, typer.Option(help=", ".join(o.value for o in AlertOutcome))] = None,
    as_of: AsOfOption = None,
    as_json: JsonOption = False,
) -> None:
    """Close an acknowledged or actioned alert with its outcome."""
    _stepped(_service(ctx).close(alert_id, user, comment, outcome, _day(as_of, ctx)), as_json)


@warning_app.command("evaluate")
def evaluate(
    ctx: typer.Context, as_of: AsOfOption = None, rules: RulesOption = None, as_json: JsonOption = False
) -> None:
    """Run every rule in force on D over all open loans (the close of business does this each night)."""
    day = _day(as_of, ctx)
    counts = _service(ctx, rules).evaluate(day)
    if as_json:
        _print_json({"business_date": day.isoformat(), **counts})
        return
    per_rule = ", ".join(f"{k.removeprefix('warning_')} {v}" for k, v in counts.items() if k.startswith("warning_"))
    console.print(f"{day}: {counts['warnings_opened']} new alerts" + (f" ({per_rule})" if per_rule else ""))


@warning_app.command("import-signals")
def import_signals(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="CSV or XLSX: id_number, kind, source, observed_on[, detail].")],
    skip_invalid: Annotated[
        bool, typer.Option("--skip-invalid", help="Import the valid rows and write the bad ones to a rejects file.")
    ] = False,
    rejects: Annotated[Path | None, typer.Option(help="Where --skip-invalid writes bad rows.")] = None,
    as_of: AsOfOption = None,
    as_json: JsonOption = False,
) -> None:
    """Import external negative signals (lawsuits, enforcement, business anomalies) matched by ID/USCC.

    Exit 0: every row imported or already there; 1: rejected, nothing imported; 2: --skip-invalid
    left bad rows out.
    """
    service = _service(ctx)
    try:
        data = read_table(file)
    except (TableError, OSError) as exc:
        _fail(str(exc))
    done = service.import_signals(
        data.rows, warnings.file_digest(file), _day(as_of, ctx), skip_invalid, data.row_numbers
    )
    report = done.report
    if skip_invalid and report.rejected_rows:
        target = rejects or file.with_suffix(file.suffix + ".rejects.csv")
        write_rejects(target, data.headers, report.rejected_rows, data)
    payload = {
        "read": report.read,
        "imported": report.imported,
        "unchanged": report.unchanged,
        "rejected": report.rejected,
        "committed": report.committed,
        "matched_borrowers": done.matched_borrowers,
        "unmatched": done.unmatched,
        "alerts_opened": done.alerts.get("warnings_opened", 0),
        "errors": [{"row": e.row, "column": e.column, "reason": e.reason} for e in report.errors],
    }
    if as_json:
        _print_json(payload)
    else:
        for e in report.errors:
            err.print(f"row {e.row}, {e.column or 'row'}: {e.reason}")
        state = "imported" if report.committed else "rejected, nothing imported"
        console.print(
            f"{file.name}: {state} — {report.imported} new, {report.unchanged} unchanged, {report.rejected} bad; "
            f"{done.matched_borrowers} borrowers matched, {done.unmatched} unmatched; "
            f"{payload['alerts_opened']} alerts opened"
        )
    if not report.committed:
        raise typer.Exit(1)
    if report.errors:
        raise typer.Exit(2)

"""Early warning (风险预警): evaluate the rules, work the alerts, import external signals.

- `evaluate_warnings(app, day)` runs every rule in force on `day` over all open loans, set-based (one
  INSERT … SELECT per rule in `daihou.storage.warning_store`), after each close of business. A rerun
  for the same day opens nothing new; a loan has at most one live alert per rule.
- `on_event(app, loan_ids, day, kind)` runs the same rules for just the loans an event touched (a
  visit record, a payment, a reversal), so that an alert does not wait for the night.
- `WarningService` is what the drivers call: list and show alerts, acknowledge, act and close them
  (each step by a named user with a comment; a refused step is a `Refused` with a code), and import
  external negative signals (lawsuits, enforcement lists, business anomalies) from a file.
- `build(app)` wires the store for the drivers (which may not import storage).

Actions: `high_risk_visits` asks the visits workflow to tighten the loan's visit cadence (and closing
the alert relaxes it again); `open_collection_case` asks the collections workflow to open a case;
`require_more_security`, `freeze_line`, `cut_line` and `recall_early` are recorded decisions in
`loan_actions` — a recall carries the payoff amount the ledger quotes on the decision date.
"""

from __future__ import annotations

import hashlib
import importlib
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from daihou.domain.identity import id_number_problem, uscc_problem
from daihou.domain.servicing import payoff_quote
from daihou.domain.warnings import (
    SIGNAL_KINDS,
    ActionKind,
    AlertStep,
    Command,
    RefusalCode,
    Refused,
    Rule,
    RuleSet,
    Status,
    ruleset_from_dict,
    transition,
)
from daihou.service.importing import ImportReport, RawRow, RejectedRow, RowError, cell_text, parse_date
from daihou.service.queries import NotFound, loan_as_of

if TYPE_CHECKING:
    from daihou.bootstrap import App
    from daihou.storage.warning_store import ActionRow, AlertRow, SqlWarningStore, StepRow

COB_USER = "system:cob"
EVENT_USER = "system:event"


def load_rules(path: Path | None = None) -> RuleSet:
    """The rules in `path` (TOML), or the default set shipped with daihou."""
    if path is None:
        text = resources.files("daihou.workflow").joinpath("warning_rules.toml").read_text(encoding="utf-8")
    else:
        text = path.read_text(encoding="utf-8")
    return ruleset_from_dict(tomllib.loads(text))


# ---------------------------------------------------------------- evaluation


def evaluate_warnings(
    app: App,
    day: date,
    *,
    loan_ids: Sequence[int] | None = None,
    rules: RuleSet | None = None,
    user: str = COB_USER,
) -> dict[str, int]:
    """Open the alerts the rules in force on `day` find (all open loans, or just `loan_ids`)."""
    from daihou.storage.warning_store import evaluate

    in_force = (rules or load_rules()).in_force(day)
    with app.engine.begin() as conn:
        return evaluate(conn, day, in_force, app.clock.now(), loan_ids, user)


def on_event(app: App, loan_ids: list[int], day: date, kind: str) -> None:
    """The event hook (`workflow.daily.event_hooks`): the same rules for the loans an event touched."""
    if loan_ids:
        evaluate_warnings(app, day, loan_ids=loan_ids, user=f"{EVENT_USER}:{kind}")


# ---------------------------------------------------------------- external signals


SIGNAL_HEADERS = {
    "id_number": "id_number",
    "subject_id_number": "id_number",
    "uscc": "id_number",
    "证件号码": "id_number",
    "身份证号": "id_number",
    "身份证号码": "id_number",
    "统一社会信用代码": "id_number",
    "kind": "kind",
    "类型": "kind",
    "信息类型": "kind",
    "source": "source",
    "来源": "source",
    "observed_on": "observed_on",
    "日期": "observed_on",
    "发生日期": "observed_on",
    "detail": "detail",
    "详情": "detail",
    "说明": "detail",
}
SIGNAL_REQUIRED = ("id_number", "kind", "source", "observed_on")
SIGNAL_KIND_ALIASES = {
    "涉诉": "lawsuit",
    "诉讼": "lawsuit",
    "被执行": "enforcement",
    "被执行人": "enforcement",
    "经营异常": "business_anomaly",
    "失信被执行人": "dishonest_debtor",
    "失信": "dishonest_debtor",
    "税收违法": "tax_violation",
    "其他": "other",
}


@dataclass(frozen=True, slots=True)
class SignalRow:
    id_number: str
    kind: str
    source: str
    observed_on: date
    detail: str


def _renamed(row: RawRow) -> dict[str, object]:
    out: dict[str, object] = {}
    for header, cell in row.items():
        key = header.strip()
        out[SIGNAL_HEADERS.get(key.lower(), SIGNAL_HEADERS.get(key, key))] = cell
    return out


def parse_signal_row(row: RawRow, row_no: int, today: date) -> SignalRow | list[RowError]:
    """One file row, checked field by field; every bad field is named."""
    cells = _renamed(row)
    errors: list[RowError] = []
    number = cell_text(cells.get("id_number")).upper()
    if not number:
        errors.append(RowError(row_no, "id_number", "required"))
    elif id_number_problem(number) and uscc_problem(number):
        errors.append(RowError(row_no, "id_number", "neither a resident ID number nor a USCC (check character)"))
    raw_kind = cell_text(cells.get("kind"))
    kind = SIGNAL_KIND_ALIASES.get(raw_kind, raw_kind.lower())
    if not raw_kind:
        errors.append(RowError(row_no, "kind", "required"))
    elif kind not in SIGNAL_KINDS:
        errors.append(RowError(row_no, "kind", f"{raw_kind!r} is not one of {', '.join(SIGNAL_KINDS)}"))
    source = cell_text(cells.get("source"))
    if not source:
        errors.append(RowError(row_no, "source", "required"))
    elif len(source) > 200:
        errors.append(RowError(row_no, "source", "at most 200 characters"))
    observed: date | None = None
    if not cell_text(cells.get("observed_on")):
        errors.append(RowError(row_no, "observed_on", "required"))
    else:
        try:
            observed = parse_date(cells.get("observed_on"))
        except ValueError as exc:
            errors.append(RowError(row_no, "observed_on", str(exc)))
        if observed is not None and observed > today:
            errors.append(RowError(row_no, "observed_on", f"{observed} is after the business date {today}"))
    if errors:
        return errors
    assert observed is not None
    return SignalRow(number, kind, source, observed, cell_text(cells.get("detail")))


@dataclass(frozen=True, slots=True)
class SignalImport:
    report: ImportReport
    matched_borrowers: int = 0  # subjects that are borrowers of ours
    unmatched: int = 0  # signals kept but about nobody on file
    alerts: dict[str, int] = field(default_factory=dict)  # what the rules opened for the matched loans


def import_signals(
    store: SqlWarningStore,
    app: App,
    rows: Sequence[RawRow],
    file_sha256: str,
    day: date,
    skip_invalid: bool = False,
    row_numbers: Sequence[int] | None = None,
) -> SignalImport:
    """Import external signals: all or nothing unless `skip_invalid`; then evaluate the rules for the
    loans of the borrowers the file names. A re-import of the same facts changes nothing."""
    numbers = list(row_numbers) if row_numbers is not None else list(range(2, len(rows) + 2))
    errors: list[RowError] = []
    good: list[tuple[int, SignalRow]] = []
    if rows:
        present = {SIGNAL_HEADERS.get(h.strip().lower(), SIGNAL_HEADERS.get(h.strip(), h)) for r in rows for h in r}
        missing = [c for c in SIGNAL_REQUIRED if c not in present]
        if missing:
            errors.extend(RowError(1, c, f"required column {c} is missing from the header") for c in missing)
    if not errors:
        seen: dict[tuple[str, str, str, date], int] = {}
        for row_no, row in zip(numbers, rows, strict=True):
            parsed = parse_signal_row(row, row_no, day)
            if isinstance(parsed, list):
                errors.extend(parsed)
                continue
            key = (parsed.id_number, parsed.kind, parsed.source, parsed.observed_on)
            if key in seen:
                errors.append(RowError(row_no, "id_number", f"the same signal as row {seen[key]}"))
                continue
            seen[key] = row_no
            good.append((row_no, parsed))
    fatal = any(e.row == 1 for e in errors)
    committed = not fatal and (skip_invalid or not errors)
    by_row = dict(zip(numbers, rows, strict=True))
    bad_rows = sorted({e.row for e in errors if e.row in by_row})
    rejected = tuple(RejectedRow(n, by_row[n], tuple(e for e in errors if e.row == n)) for n in bad_rows)
    imported = matched = unmatched = 0
    alerts: dict[str, int] = {}
    if committed and good:
        borrower_of = store.borrowers_by_id_number(sorted({s.id_number for _, s in good}))
        now = app.clock.now()
        values = [
            {
                "subject_id_number": s.id_number,
                "borrower_id": borrower_of.get(s.id_number),
                "kind": s.kind,
                "source": s.source,
                "observed_on": s.observed_on,
                "detail": s.detail or None,
                "imported_on": day,
                "imported_at": now,
                "file_sha256": file_sha256,
                "row_no": n,
            }
            for n, s in good
        ]
        imported = store.insert_signals(values)
        matched = len({borrower_of[s.id_number] for _, s in good if s.id_number in borrower_of})
        unmatched = sum(1 for _, s in good if s.id_number not in borrower_of)
        loan_ids = store.loan_ids_of_borrowers(sorted(set(borrower_of.values())))
        if loan_ids:
            alerts = evaluate_warnings(app, day, loan_ids=loan_ids, user=f"{EVENT_USER}:signals")
    report = ImportReport(
        kind="signals",
        read=len(rows),
        imported=imported,
        unchanged=len(good) - imported if committed else 0,
        rejected=len(rejected),
        committed=committed,
        errors=tuple(errors),
        rejected_rows=rejected,
    )
    return SignalImport(report, matched, unmatched, alerts)


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------- the alert workflow


@dataclass(frozen=True, slots=True)
class StepDone:
    alert_id: int
    step: AlertStep
    action_status: str | None = None  # decided | done, for an action step
    amount_due_fen: int | None = None  # recall_early: the payoff amount
    ok = True


@dataclass(frozen=True, slots=True)
class AlertDetail:
    alert: AlertRow
    steps: list[StepRow]
    actions: list[ActionRow]
    rule: Rule | None


ActionResult = tuple[str, int | None, dict[str, Any]]  # (status, amount_due_fen, detail)


def _capability(module: str, name: str) -> Callable[..., Any] | None:
    """A function another workflow provides (visits, collections), or None while it is not installed."""
    try:
        mod = importlib.import_module(f"daihou.workflow.{module}")
    except ImportError:
        return None
    fn = getattr(mod, name, None)
    return fn if callable(fn) else None


def _refusal_of(result: Any) -> Refused | None:
    """Another workflow's refusal (an object with ok False, or with a code and no ok), as ours."""
    if result is None:
        return None
    ok = getattr(result, "ok", None)
    code = getattr(result, "code", None)
    if ok is False or (ok is None and code is not None):
        reason = getattr(result, "reason", None) or getattr(result, "message", None) or str(result)
        return Refused(RefusalCode.ACTION_REFUSED, f"{code}: {reason}")
    return None


def _describe(result: Any) -> Any:
    if result is None or isinstance(result, int | str | float | bool):
        return result
    if isinstance(result, Mapping):
        return {str(k): _describe(v) for k, v in result.items()}
    if isinstance(result, list | tuple):
        return [_describe(v) for v in result]
    slots = getattr(result, "__dataclass_fields__", None)
    if slots:
        return {k: _describe(getattr(result, k)) for k in slots}
    return str(result)


@dataclass
class WarningService:
    """The early-warning use cases bound to one store, app (clock, ledger) and rule set."""

    store: SqlWarningStore
    app: App
    rules: RuleSet

    def rule(self, alert: AlertRow) -> Rule | None:
        versions = [r for r in self.rules.rules if r.code == alert.rule_code and r.effective == alert.rule_effective]
        return versions[0] if versions else None

    def evaluate(self, day: date) -> dict[str, int]:
        return evaluate_warnings(self.app, day, rules=self.rules)

    def alerts(
        self,
        status: str | None = None,
        severities: Sequence[str] | None = None,
        owner_role: str | None = None,
        loan_no: str | None = None,
        limit: int = 200,
    ) -> list[AlertRow]:
        return self.store.alerts(status, severities, owner_role, loan_no, limit)

    def show(self, alert_id: int) -> AlertDetail | Refused:
        alert = self.store.alert(alert_id)
        if alert is None:
            return Refused(RefusalCode.UNKNOWN_ALERT, f"there is no alert {alert_id}")
        return AlertDetail(alert, self.store.steps(alert_id), self.store.actions(alert_id=alert_id), self.rule(alert))

    def acknowledge(self, alert_id: int, user: str, comment: str) -> StepDone | Refused:
        return self._step(alert_id, Command.ACK, user, comment)

    def act(
        self, alert_id: int, user: str, comment: str, action: str | None, day: date | None = None
    ) -> StepDone | Refused:
        return self._step(alert_id, Command.ACTION, user, comment, action=action, day=day)

    def close(
        self, alert_id: int, user: str, comment: str, outcome: str | None, day: date | None = None
    ) -> StepDone | Refused:
        return self._step(alert_id, Command.CLOSE, user, comment, outcome=outcome, day=day)

    def _step(
        self,
        alert_id: int,
        command: Command,
        user: str,
        comment: str,
        action: str | None = None,
        outcome: str | None = None,
        day: date | None = None,
    ) -> StepDone | Refused:
        alert = self.store.alert(alert_id)
        if alert is None:
            return Refused(RefusalCode.UNKNOWN_ALERT, f"there is no alert {alert_id}")
        step = transition(Status(alert.status), command, user, comment, self.app.clock.now(), action, outcome)
        if isinstance(step, Refused):
            return step
        day = day or self.app.today()
        done: ActionResult | None = None
        if step.action is not None:
            carried = self._carry_out(alert, step, day)
            if isinstance(carried, Refused):
                return carried
            done = carried
        if step.to_status is Status.CLOSED:
            relaxed = self._relax_cadence(alert, step, day)
            if isinstance(relaxed, Refused):
                return relaxed
        if not self.store.record_step(alert, step, day, done):
            return Refused(RefusalCode.CHANGED_MEANWHILE, f"alert {alert_id} was moved by someone else: look again")
        return StepDone(alert_id, step, done[0] if done else None, done[1] if done else None)

    def _reason(self, alert: AlertRow) -> str:
        return f"early warning #{alert.id} {alert.rule_code} (预警)"

    def _carry_out(self, alert: AlertRow, step: AlertStep, day: date) -> ActionResult | Refused:
        kind = step.action
        assert kind is not None
        if kind is ActionKind.HIGH_RISK_VISITS:
            tighten = _capability("visits", "tighten_cadence")
            if tighten is None:
                return Refused(RefusalCode.CAPABILITY_MISSING, "the visits workflow (tighten_cadence) is not installed")
            result = tighten(self.app, [alert.loan_id], self._reason(alert), step.user, day)
            if refused := _refusal_of(result):
                return refused
            return ("done", None, {"comment": step.comment, "result": _describe(result)})
        if kind is ActionKind.OPEN_COLLECTION_CASE:
            open_case = _capability("collections", "open_case")
            if open_case is None:
                return Refused(RefusalCode.CAPABILITY_MISSING, "the collections workflow (open_case) is not installed")
            try:
                result = open_case(self.app, alert.loan_id, self._reason(alert), day, step.user)
            except LookupError as exc:
                return Refused(RefusalCode.ACTION_REFUSED, str(exc))
            if refused := _refusal_of(result):
                return refused
            return ("done", None, {"comment": step.comment, "result": _describe(result)})
        if kind is ActionKind.RECALL_EARLY:
            return self._recall(alert, step, day)
        # require_more_security, freeze_line, cut_line: decisions the officer carries out and records
        return ("decided", None, {"comment": step.comment})

    def _recall(self, alert: AlertRow, step: AlertStep, day: date) -> ActionResult | Refused:
        """The loan falls due at once: record the decision with what the ledger says settles it."""
        with self.app.uow() as uow:
            found = loan_as_of(uow, alert.loan_no, None)
        if isinstance(found, NotFound):
            return Refused(RefusalCode.UNKNOWN_ALERT, found.message)
        loan, _, _ = found
        if loan.is_closed:
            return Refused(
                RefusalCode.ACTION_REFUSED, f"loan {alert.loan_no} is {loan.status.value}: nothing to recall"
            )
        assert loan.accrued_through is not None
        on = max(day, loan.accrued_through + timedelta(days=1))  # the first day the ledger has not closed
        quote = payoff_quote(loan, on)
        detail = {
            "comment": step.comment,
            "payoff_on": on.isoformat(),
            "due_fen": {c.value: v for c, v in quote.due_fen.items()},
            "future_principal_fen": quote.future_principal_fen,
            "current_interest_fen": quote.current_interest_fen,
            "credit_fen": quote.credit_fen,
        }
        return ("decided", quote.total_fen, detail)

    def _relax_cadence(self, alert: AlertRow, step: AlertStep, day: date) -> Refused | None:
        if not any(a.kind == ActionKind.HIGH_RISK_VISITS.value for a in self.store.actions(alert_id=alert.id)):
            return None
        relax = _capability("visits", "relax_cadence")
        if relax is None:
            return Refused(RefusalCode.CAPABILITY_MISSING, "the visits workflow (relax_cadence) is not installed")
        return _refusal_of(relax(self.app, [alert.loan_id], self._reason(alert), step.user, day))  # same reason

    def import_signals(
        self,
        rows: Sequence[RawRow],
        file_sha256: str,
        day: date | None = None,
        skip_invalid: bool = False,
        row_numbers: Sequence[int] | None = None,
    ) -> SignalImport:
        return import_signals(
            self.store, self.app, rows, file_sha256, day or self.app.today(), skip_invalid, row_numbers
        )


def build(app: App, rules_path: Path | None = None) -> WarningService:
    """The early-warning service over the app's store and the rules in `rules_path` (default: shipped)."""
    from daihou.storage.warning_store import SqlWarningStore

    return WarningService(SqlWarningStore(app.engine), app, load_rules(rules_path))

"""The workflows that run after each closed business day, in order.

Each step reads the day's closed positions and returns counts for the run's report; every step is
idempotent for its day, so a rerun of the close of business may call it again. Steps run in the
order listed: later ones may read what earlier ones wrote (warnings read visits; cases read warnings).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from daihou.bootstrap import App

DailyStep = Callable[["App", date], dict[str, int]]
EventHook = Callable[["App", list[int], date, str], None]


def plan_reminders(app: App, day: date) -> dict[str, int]:
    """Tomorrow's repayment reminders, planned before their morning send times."""
    from daihou.workflow.reminders import generate_reminders

    return {"reminders_planned": generate_reminders(app, day + timedelta(days=1)).created}


def plan_visits(app: App, day: date) -> dict[str, int]:
    """Follow-up visits: next plans, missed ones overdue, monthly for high risk (set-based)."""
    from daihou.workflow.visits import plan_visits as plan

    return plan(app, day)


def refresh_dashboard(app: App, day: date) -> dict[str, int]:
    """The staff dashboard's figures for the day (last: it counts what the other steps wrote)."""
    from daihou.service.dashboard import refresh

    store, snapshots = app.dashboard_store()
    return {"dashboard_ms": refresh(store, snapshots, day, app.clock.now()).elapsed_ms}


def work_collections(app: App, day: date) -> dict[str, int]:
    """Collection cases: open, move, close (set-based), promises judged, tomorrow's work lists."""
    from daihou.workflow.collections import daily_upkeep

    return daily_upkeep(app, day)


def steps() -> list[DailyStep]:
    from daihou.workflow.scoring import score_book
    from daihou.workflow.warnings import evaluate_warnings

    return [
        plan_reminders,
        plan_visits,
        score_book,
        evaluate_warnings,
        work_collections,
        refresh_dashboard,
    ]  # dashboard stays last


def run_after_close(app: App, day: date) -> dict[str, int]:
    counts: dict[str, int] = {}
    for step in steps():
        counts.update(step(app, day))
    return counts


def event_hooks() -> list[EventHook]:
    """Called after a loan event outside the batch (a payment, a reversal, a visit record)."""
    from daihou.workflow import collections, warnings

    return [warnings.on_event, collections.on_payment]


def on_loan_event(app: App, loan_ids: list[int], day: date, kind: str) -> None:
    """Let the workflows react at once to `kind` ("payment", "reversal", "visit", …) on `loan_ids`."""
    for hook in event_hooks():
        hook(app, loan_ids, day, kind)


def after_money_moved(app: App, loan_no: str, accepted: bool, kind: str) -> None:
    """What a driver calls after a money-moving command (pay, prepay, waive, charge, reverse):
    when the ledger accepted it, the workflows react at once (cases, promises, warnings) as of the
    business day in progress — the day after the last close, or today before any close."""
    if not accepted or not loan_no:
        return
    from sqlalchemy import select

    from daihou.storage.tables import loans

    with app.engine.connect() as conn:
        loan_id = conn.execute(select(loans.c.id).where(loans.c.loan_no == loan_no)).scalar()
    if loan_id is not None:
        closed = app.cob_store().last_finished()
        on_loan_event(app, [int(loan_id)], app.today() if closed is None else closed + timedelta(days=1), kind)

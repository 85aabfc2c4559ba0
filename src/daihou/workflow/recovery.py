"""Wiring of the recovery capability for the drivers (CLI, API, web), which may not import storage.

`Recovery(app)` holds the rules (approval limits, agency commission: TOML data shipped in this
package) and a factory of units of work that carry the recovery store. The plain functions
`list_requests(app, status, role)` and `decide(app, request_id, user, role, approve, comment)` are
the approval inbox the web pages call. The money-moving wrappers here (`decide`, `guarantor_payment`,
`dispose_collateral`, `legal_cost`) tell the other workflows what happened through
`workflow.daily.on_loan_event` with the kinds "waiver", "restructure", "write_off", "payment", "charge".
"""

from __future__ import annotations

import tomllib
from datetime import date
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from daihou.domain.agencies import CommissionRules, commission_rules_from_dict
from daihou.domain.approval_limits import ApprovalLimits, limits_from_dict
from daihou.service import recovery as svc
from daihou.service import restructuring
from daihou.service.ledger import ACCEPTED, Outcome
from daihou.service.ports import RecoveryRequest, RecoveryUnitOfWork

if TYPE_CHECKING:
    from daihou.bootstrap import App


def _text(name: str, path: Path | None) -> str:
    if path is not None:
        return path.read_text(encoding="utf-8")
    return resources.files("daihou.workflow").joinpath(name).read_text(encoding="utf-8")


@cache
def _default_limits() -> ApprovalLimits:
    return limits_from_dict(tomllib.loads(_text("approval_limits.toml", None)))


@cache
def _default_commission() -> CommissionRules:
    return commission_rules_from_dict(tomllib.loads(_text("agency_commission.toml", None)))


def load_limits(path: Path | None = None) -> ApprovalLimits:
    return _default_limits() if path is None else limits_from_dict(tomllib.loads(_text("", path)))


def load_commission(path: Path | None = None) -> CommissionRules:
    return _default_commission() if path is None else commission_rules_from_dict(tomllib.loads(_text("", path)))


class Recovery:
    def __init__(self, app: App, limits: ApprovalLimits | None = None, commission: CommissionRules | None = None):
        self.app = app
        self.limits = limits or load_limits()
        self.commission = commission or load_commission()

    def uow(self) -> RecoveryUnitOfWork:
        from daihou.storage.recovery_store import SqlRecoveryUnitOfWork

        return SqlRecoveryUnitOfWork(self.app.engine, self.app.clock)

    def today(self) -> date:
        return self.app.today()


def build(app: App) -> Recovery:
    return Recovery(app)


def list_requests(app: App, status: str | None = "pending", role: str | None = None) -> list[RecoveryRequest]:
    """The approval inbox: requests in `status`; with a role, only those that role may decide."""
    rec = build(app)
    return restructuring.list_pending(rec.uow(), rec.limits, status, role)


def decide(
    app: App, request_id: int, user: str, role: str, approve: bool, comment: str = "", on: date | None = None
) -> Outcome:
    """A checker's decision (maker ≠ checker, limits by role); the last approval applies the change."""
    rec = build(app)
    day = on or app.today()
    outcome = restructuring.decide(
        rec.uow(), rec.limits, request_id, user, role, approve, comment, day, app.clock.now()
    )
    if outcome.code == ACCEPTED and outcome.reference:
        kind = outcome.reference.rsplit(":", 1)[-1]
        notify(app, outcome, day, EVENT_KINDS.get(kind, kind))
    return outcome


EVENT_KINDS = {"extension": "restructure", "reschedule": "restructure", "plan": "restructure", "writeoff": "write_off"}


def notify(app: App, outcome: Outcome, day: date, kind: str) -> None:
    """Let the other workflows react to an accepted money-moving outcome (`workflow.daily`)."""
    if outcome.code != ACCEPTED or not outcome.loan_no:
        return
    from sqlalchemy import select

    from daihou.storage import tables as t
    from daihou.workflow.daily import on_loan_event

    with app.engine.connect() as conn:
        loan_id = conn.execute(select(t.loans.c.id).where(t.loans.c.loan_no == outcome.loan_no)).scalar()
    if loan_id is not None:
        on_loan_event(app, [int(loan_id)], day, kind)


def guarantor_payment(app: App, loan_no: str, guarantor_id: int, amount_fen: int, on: date, reference: str) -> Outcome:
    outcome = svc.guarantor_payment(build(app).uow(), loan_no, guarantor_id, amount_fen, on, reference)
    notify(app, outcome, on, "payment")
    return outcome


def dispose_collateral(app: App, disposal: svc.Disposal) -> Outcome:
    outcome = svc.dispose_collateral(build(app).uow(), disposal)
    notify(app, outcome, disposal.sold_on, "payment")
    return outcome


def legal_cost(app: App, matter_id: int, amount_fen: int, on: date, by: str, reference: str, note: str = "") -> Outcome:
    outcome = svc.add_cost(build(app).uow(), matter_id, amount_fen, on, by, reference, note)
    notify(app, outcome, on, "charge")
    return outcome

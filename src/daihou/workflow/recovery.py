"""Wiring of the recovery capability for the drivers (CLI, API, web), which may not import storage.

`Recovery(app)` holds the rules (approval limits, agency commission: TOML data shipped in this
package) and a factory of units of work that carry the recovery store. The plain functions
`list_requests(app, status, role)` and `decide(app, request_id, user, role, approve, comment)` are
the approval inbox the web pages call.
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
from daihou.service import restructuring
from daihou.service.ledger import Outcome
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
    return restructuring.decide(
        rec.uow(), rec.limits, request_id, user, role, approve, comment, on or app.today(), app.clock.now()
    )

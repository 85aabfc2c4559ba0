"""The append-only audit log: who did what to which record, when, with the record before and after.

Every write through the API and the web pages records one entry (the pages call `record` too);
revealing personal data records one (`masking.reveal`). The store only ever inserts; on PostgreSQL
a trigger refuses UPDATE and DELETE on `audit_log` (TRUNCATE, for emptying test databases, is allowed).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from daihou.security.ports import AuditEntry
from daihou.security.principal import Principal
from daihou.security.wiring import store

if TYPE_CHECKING:
    from daihou.bootstrap import App


def record(
    app: App,
    principal: Principal,
    action: str,
    entity: str,
    entity_id: str | int,
    before: Any = None,
    after: Any = None,
    ip: str | None = None,
) -> None:
    """Append one audit entry, stamped with the application clock."""
    store(app).append_audit(
        [
            AuditEntry(
                app.clock.now(), principal.username, principal.role, action, entity, str(entity_id), before, after, ip
            )
        ]
    )


def entries(
    app: App,
    entity: str | None = None,
    entity_id: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """Audit entries, newest first, and how many match (the caller checks `audit.read`)."""
    return store(app).audit_entries(entity, entity_id, actor, action, limit, offset)

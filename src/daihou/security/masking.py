"""Personal data (PIPL): masked by default; revealing one field is a permissioned, audited act.

The masks are the domain's (`daihou.domain.identity`). `reveal` checks `pii.reveal` and the data
scope, then writes an audit entry naming who saw which field of whom, before returning the value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from daihou.domain.identity import mask_address, mask_id_number, mask_mobile, mask_name
from daihou.security import audit
from daihou.security.principal import Principal
from daihou.security.wiring import reads

if TYPE_CHECKING:
    from daihou.bootstrap import App

MASKS = {"name": mask_name, "id_number": mask_id_number, "mobile": mask_mobile, "address": mask_address}
REVEALABLE = ("name", "id_number", "mobile", "address")


def mask(field: str, value: str | None) -> str | None:
    if value is None:
        return None
    return MASKS[field](value) if field in MASKS else value


def masked(record: dict[str, Any]) -> dict[str, Any]:
    """A copy with every personal field masked."""
    return {k: (mask(k, v) if k in MASKS and isinstance(v, str) else v) for k, v in record.items()}


@dataclass(frozen=True, slots=True)
class Revealed:
    borrower_no: str
    field: str
    value: str | None

    ok = True


@dataclass(frozen=True, slots=True)
class RevealRefused:
    code: str  # forbidden | not_found | unknown_field
    message: str

    ok = False


def reveal(app: App, principal: Principal, subject: str, field: str, ip: str | None = None) -> Revealed | RevealRefused:
    """The unmasked `field` of borrower `subject` (a borrower_no), audited as `pii.reveal`."""
    if field not in REVEALABLE:
        return RevealRefused("unknown_field", f"field {field!r}: one of {', '.join(REVEALABLE)}")
    if not principal.can("pii.reveal"):
        return RevealRefused("forbidden", f"role {principal.role} may not reveal personal data")
    if reads(app).borrower_scope(principal, subject) != "in":
        return RevealRefused("not_found", f"borrower {subject} does not exist")
    record = reads(app).borrower(subject)
    assert record is not None
    audit.record(app, principal, "pii.reveal", "borrower", subject, None, {"field": field}, ip)
    return Revealed(subject, field, record.get(field))

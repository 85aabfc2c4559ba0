"""The authenticated user or system a request acts for, with its role and data scope."""

from __future__ import annotations

from dataclasses import dataclass, field

from daihou.security.roles import Scope, load


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: int
    username: str
    role: str
    display_name: str
    # scope fields: which data this principal sees (see roles.toml)
    scope: Scope
    agency_id: int | None = None
    borrower_id: int | None = None
    permissions: frozenset[str] = field(default_factory=frozenset)
    via: str = "session"  # "session" (a person, CSRF-checked) or "token" (a system)
    session_id: int | None = None
    csrf_token: str | None = None

    def can(self, permission: str) -> bool:
        return permission in self.permissions

    @property
    def officer(self) -> str | None:
        """The `loans.officer` value this principal is limited to, if any."""
        return self.username if self.scope is Scope.OFFICER else None

    @property
    def collector(self) -> str | None:
        """The `collection_cases.collector` value this principal is limited to, if any."""
        return self.username if self.scope is Scope.COLLECTOR else None

    @property
    def sees_all(self) -> bool:
        return self.scope is Scope.ALL


def principal_for(
    user_id: int,
    username: str,
    role: str,
    display_name: str,
    agency_id: int | None = None,
    borrower_id: int | None = None,
    via: str = "session",
    session_id: int | None = None,
    csrf_token: str | None = None,
) -> Principal:
    r = load().role(role)
    return Principal(
        user_id,
        username,
        role,
        display_name,
        r.scope,
        agency_id,
        borrower_id,
        r.permissions,
        via,
        session_id,
        csrf_token,
    )


SYSTEM = Principal(
    0, "system", "admin", "system", Scope.ALL, permissions=load().role("admin").permissions, via="system"
)

"""Roles, permissions and data scopes, read from `roles.toml` (data, not code)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources
from pathlib import Path


class Scope(StrEnum):
    ALL = "all"
    OFFICER = "officer"
    COLLECTOR = "collector"
    AGENCY = "agency"
    BORROWER = "borrower"


@dataclass(frozen=True, slots=True)
class Role:
    name: str
    label: str
    scope: Scope
    permissions: frozenset[str]


@dataclass(frozen=True, slots=True)
class RoleBook:
    permissions: dict[str, str]  # name -> description
    roles: dict[str, Role]

    def role(self, name: str) -> Role:
        if name not in self.roles:
            raise KeyError(f"unknown role {name!r}; roles are {', '.join(self.roles)}")
        return self.roles[name]


def parse(data: dict[str, object]) -> RoleBook:
    perms = dict(data["permissions"])  # type: ignore[call-overload]
    roles: dict[str, Role] = {}
    for name, spec in dict(data["roles"]).items():  # type: ignore[call-overload]
        granted = frozenset(spec["permissions"])
        unknown = granted - perms.keys()
        if unknown:
            raise ValueError(f"roles.{name}.permissions: unknown permission(s) {', '.join(sorted(unknown))}")
        roles[name] = Role(name, spec.get("label", name), Scope(spec["scope"]), granted)
    return RoleBook(perms, roles)


@cache
def load(path: Path | None = None) -> RoleBook:
    """The role book in `path`, or the one shipped with daihou."""
    if path is None:
        text = resources.files("daihou.security").joinpath("roles.toml").read_text(encoding="utf-8")
    else:
        text = path.read_text(encoding="utf-8")
    return parse(tomllib.loads(text))


ROLE_NAMES = (
    "account_officer",
    "risk_manager",
    "investigator",
    "customer_service",
    "collector",
    "team_lead",
    "agency",
    "legal_compliance",
    "auditor",
    "admin",
    "borrower",
)

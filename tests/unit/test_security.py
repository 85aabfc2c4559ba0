"""Security pieces without a database: the role book, password hashing, masks."""

from __future__ import annotations

import pytest

from daihou.security import passwords
from daihou.security.masking import mask, masked
from daihou.security.principal import principal_for
from daihou.security.roles import ROLE_NAMES, Scope, load, parse


def test_the_role_book_has_every_role_of_the_design_with_a_scope() -> None:
    book = load()
    assert set(book.roles) == set(ROLE_NAMES)
    assert book.role("account_officer").scope is Scope.OFFICER
    assert book.role("collector").scope is Scope.COLLECTOR
    assert book.role("agency").scope is Scope.AGENCY
    assert book.role("borrower").scope is Scope.BORROWER
    assert book.role("auditor").scope is Scope.ALL


def test_only_the_administrator_manages_users() -> None:
    assert [r.name for r in load().roles.values() if "user.manage" in r.permissions] == ["admin"]


def test_a_role_with_an_unknown_permission_is_refused_naming_the_role() -> None:
    data = {"permissions": {"loan.read": "x"}, "roles": {"clerk": {"scope": "all", "permissions": ["loan.fly"]}}}
    with pytest.raises(ValueError, match=r"roles\.clerk\.permissions: unknown permission\(s\) loan\.fly"):
        parse(data)


def test_a_principal_carries_its_scope_fields() -> None:
    officer = principal_for(1, "E12345", "account_officer", "Wang")
    assert officer.officer == "E12345" and officer.collector is None and not officer.sees_all
    collector = principal_for(2, "col-a", "collector", "Li")
    assert collector.collector == "col-a" and collector.officer is None
    assert principal_for(3, "aud", "auditor", "Zhao").sees_all


def test_passwords_are_hashed_with_argon2id_and_verified() -> None:
    h = passwords.hash_password("correct horse 1")
    assert h.startswith("$argon2id$")
    assert "correct horse" not in h
    assert passwords.verify_password(h, "correct horse 1")
    assert not passwords.verify_password(h, "correct horse 2")


def test_an_unknown_user_never_verifies_even_with_the_dummy_password() -> None:
    assert not passwords.verify_password(None, "daihou-no-such-user-3b1f")


@pytest.mark.parametrize(
    ("password", "problem"),
    [("short1", "at least 10"), ("onlyletterslong", "mixes"), ("1234567890123", "mixes"), ("good-pass-2026", None)],
)
def test_weak_passwords_are_named(password: str, problem: str | None) -> None:
    found = passwords.password_problem(password, 10)
    assert (found is None) if problem is None else (problem in (found or ""))


def test_personal_fields_are_masked_and_others_are_kept() -> None:
    record = {"name": "张三丰", "id_number": "110105199001011234", "mobile": "13812345678", "kind": "individual"}
    out = masked(record)
    assert out == {"name": "张*丰", "id_number": "110105********1234", "mobile": "138****5678", "kind": "individual"}
    assert mask("mobile", None) is None

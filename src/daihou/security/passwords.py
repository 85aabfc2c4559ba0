"""Password hashing with argon2id (argon2-cffi's defaults: RFC 9106 low-memory profile)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()
# A hash of a random password, verified when the username does not exist so that the answer takes
# as long as for a real user (no user enumeration by timing).
_DUMMY = _hasher.hash("daihou-no-such-user-3b1f")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash or _DUMMY, password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)


def password_problem(password: str, min_length: int) -> str | None:
    if len(password) < min_length:
        return f"a password has at least {min_length} characters"
    if password.isdigit() or password.isalpha():
        return "a password mixes letters with digits or symbols"
    return None

"""Chinese identity numbers: validation and masking of personal data (PIPL).

- Resident ID (居民身份证号, GB 11643-1999): 17 digits and an ISO 7064 MOD 11-2 check character.
- Unified social credit code (统一社会信用代码, GB 32100-2015): 18 characters, MOD 31 check.
"""

from __future__ import annotations

import re
from datetime import date

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_MOBILE = re.compile(r"^1[3-9]\d{9}$")


def id_check_char(first17: str) -> str:
    return _ID_CHECK[sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def id_number_problem(text: str) -> str | None:
    """None when `text` is a valid 18-digit resident ID number, else what is wrong with it."""
    s = text.strip().upper()
    if not re.fullmatch(r"\d{17}[\dX]", s):
        return "an ID number has 17 digits and a check digit (0-9 or X)"
    try:
        date(int(s[6:10]), int(s[10:12]), int(s[12:14]))
    except ValueError:
        return f"the birth date {s[6:14]} in the ID number is not a date"
    if id_check_char(s[:17]) != s[17]:
        return "the ID number's check digit is wrong"
    return None


def uscc_check_char(first17: str) -> str:
    total = sum(_USCC_CHARS.index(c) * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return _USCC_CHARS[(31 - total % 31) % 31]


def uscc_problem(text: str) -> str | None:
    """None when `text` is a valid unified social credit code, else what is wrong with it."""
    s = text.strip().upper()
    if len(s) != 18 or any(c not in _USCC_CHARS for c in s):
        return "a unified social credit code has 18 characters of 0-9 and A-Y (no I, O, S, V, Z)"
    if uscc_check_char(s[:17]) != s[17]:
        return "the credit code's check character is wrong"
    return None


def mobile_problem(text: str) -> str | None:
    return None if _MOBILE.match(text.strip()) else "a mobile number has 11 digits starting 13-19"


def mask_id_number(text: str) -> str:
    """110105********1234: region and the last four stay, the birth date is hidden."""
    s = text.strip()
    return s[:6] + "*" * (len(s) - 10) + s[-4:] if len(s) > 10 else "*" * len(s)


def mask_mobile(text: str) -> str:
    """138****1234."""
    s = text.strip()
    return s[:3] + "****" + s[-4:] if len(s) >= 8 else "*" * len(s)


def mask_name(text: str) -> str:
    """张*明: the family name and the last character stay."""
    s = text.strip()
    if len(s) <= 1:
        return s
    if len(s) == 2:
        return s[0] + "*"
    return s[0] + "*" * (len(s) - 2) + s[-1]


def mask_address(text: str) -> str:
    """Keep the first six characters (province and city), hide the rest."""
    s = text.strip()
    return s[:6] + "****" if len(s) > 6 else s

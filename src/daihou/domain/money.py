"""Money is an integer number of fen (分); rates are Decimal. One rounding rule: half-up."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

_YUAN = re.compile(r"^(-)?(\d+)(?:\.(\d{1,2}))?$")
RATE_PLACES = 6  # rates are exact in millionths (0.049 == 49000 ppm); columns hold them as ints
_RATE_QUANTUM = Decimal(1).scaleb(-RATE_PLACES)


class MoneyFormatError(ValueError):
    """A text that is not an amount in yuan with at most two decimals."""


@dataclass(frozen=True, slots=True, order=True)
class Money:
    """An amount in fen (分). The only way money moves through daihou."""

    fen: int

    def __post_init__(self) -> None:
        assert isinstance(self.fen, int) and not isinstance(self.fen, bool), f"fen must be int, got {self.fen!r}"

    @classmethod
    def yuan(cls, text: str | int | Decimal) -> Money:
        """Parse an amount in yuan: "5307.27" -> Money(530727). Refuses a third decimal."""
        if isinstance(text, int) and not isinstance(text, bool):
            return cls(text * 100)
        if isinstance(text, Decimal):
            if text != text.quantize(Decimal("0.01")):
                raise MoneyFormatError(f"{text} has more than two decimals")
            return cls(int(text * 100))
        s = str(text).strip().replace(",", "")
        m = _YUAN.match(s)
        if not m:
            raise MoneyFormatError(f"{text!r} is not an amount in yuan (e.g. 5307.27)")
        sign, whole, frac = m.groups()
        fen = int(whole) * 100 + int((frac or "0").ljust(2, "0"))
        return cls(-fen if sign else fen)

    @classmethod
    def zero(cls) -> Money:
        return cls(0)

    def __add__(self, other: Money) -> Money:
        return Money(self.fen + other.fen)

    def __sub__(self, other: Money) -> Money:
        return Money(self.fen - other.fen)

    def __neg__(self) -> Money:
        return Money(-self.fen)

    def __bool__(self) -> bool:
        return self.fen != 0

    def to_yuan(self) -> str:
        """ "5307.27": the JSON form of money (a string in yuan with two decimals)."""
        return yuan_text(self.fen)

    def __str__(self) -> str:
        return f"¥{self.to_yuan()}"


def yuan_text(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    whole, frac = divmod(abs(fen), 100)
    return f"{sign}{whole}.{frac:02d}"


def round_fen(value: Decimal) -> int:
    """Half-up to the fen (四舍五入). `value` is in fen. Call it where an amount is fixed, nowhere else."""
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def div_round(numerator: int, denominator: int) -> int:
    """Integer division rounded half-up (away from zero on ties), exactly as round_fen would.

    The columnar batch uses the same integer formula, so scalar and batch agree to the fen.
    """
    assert denominator > 0
    if numerator >= 0:
        return (2 * numerator + denominator) // (2 * denominator)
    return -((-2 * numerator + denominator) // (2 * denominator))


def parse_rate_percent(text: str | Decimal | int) -> Decimal:
    """A percentage as in the import files and CLI ("4.9" means 4.9 %) -> Decimal("0.049")."""
    try:
        pct = Decimal(str(text).strip().rstrip("%"))
    except InvalidOperation as exc:
        raise ValueError(f"{text!r} is not a percentage") from exc
    if not pct.is_finite():
        raise ValueError(f"{text!r} is not a percentage")
    return check_rate(pct / 100)


def check_rate(rate: Decimal) -> Decimal:
    """Rates are non-negative and exact in millionths so that integer columns hold them exactly."""
    if rate < 0:
        raise ValueError(f"rate {rate} is negative")
    if rate != rate.quantize(_RATE_QUANTUM):
        raise ValueError(f"rate {rate} has more than {RATE_PLACES} decimal places")
    return rate.quantize(_RATE_QUANTUM).normalize() if rate else Decimal(0)


def rate_ppm(rate: Decimal) -> int:
    """The integer column form of a rate: millionths (0.049 -> 49000)."""
    return int(check_rate(rate).scaleb(RATE_PLACES))


def quantize_rate(rate: Decimal) -> Decimal:
    """Round a derived rate (e.g. contract rate × 1.5) half-up to the millionth."""
    return rate.quantize(_RATE_QUANTUM, rounding=ROUND_HALF_UP).normalize()


def rate_from_ppm(ppm: int) -> Decimal:
    """The Decimal rate of its integer column form (49000 -> 0.049)."""
    return (Decimal(ppm) / 1_000_000).normalize() if ppm else Decimal(0)

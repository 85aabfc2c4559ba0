"""Synthetic borrowers: small Faker zh_CN pools, sampled with NumPy; identity numbers built as arrays.

Faker is slow (tens of µs a call), so it only fills pools of a few thousand names, addresses and
company words; every borrower is drawn from them. Identity numbers are computed, not faked:

- resident ID (GB 11643): a real county-level region code, a birth date, a 3-digit sequence whose
  parity is the sex, and the ISO 7064 MOD 11-2 check character;
- unified social credit code (GB 32100): '9' (industry and commerce), '1' company or '2'
  individual business, a region code, an organisation code ('MA' + 6 characters + its GB 11714
  check character) and the MOD 31 check character.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import numpy.typing as npt
from faker import Faker

I64 = npt.NDArray[np.int64]
G = TypeVar("G", bound=np.generic)
Obj = npt.NDArray[np.object_]

ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
ID_CHECK = np.array(list("10X98765432"))
USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = np.array([1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28], dtype=np.int64)
ORG_WEIGHTS = np.array([3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)  # GB 11714 organisation code
MOBILE_PREFIXES = np.array(
    [
        *range(130, 140),
        147,
        150,
        151,
        152,
        153,
        155,
        156,
        157,
        158,
        159,
        166,
        173,
        175,
        176,
        177,
        178,
        *range(180, 190),
        191,
        195,
        198,
        199,
    ],
    dtype=np.int64,
)
RELATIONS = np.array(["配偶", "父亲", "母亲", "兄弟", "姐妹", "朋友", "同事"], dtype=object)
RELATION_SHARES = (0.36, 0.14, 0.2, 0.08, 0.08, 0.08, 0.06)
INDUSTRIES = (
    "商贸",
    "建材",
    "餐饮管理",
    "物流",
    "机械制造",
    "服装",
    "电子",
    "农业开发",
    "食品",
    "装饰工程",
    "五金",
    "汽车服务",
    "文化传媒",
    "包装材料",
    "家具",
    "印刷",
    "医疗器械",
    "环保科技",
    "纺织",
    "水产",
)
COMPANY_SUFFIXES = np.array(["有限公司", "有限责任公司"], dtype=object)
SOLE_TRADER_SUFFIXES = np.array(["经营部", "商行", "门市部"], dtype=object)
MALE_SHARE = 0.55
SOLE_TRADER_SHARE = 0.2  # enterprises that are individual businesses (个体工商户, USCC "92…")
_BANNED_TEXT = ("\t", "\n", "\r", "\\")  # COPY text format delimiters: the pools never hold them


@dataclass(frozen=True, slots=True)
class Pools:
    """What Faker contributes, drawn once per seed."""

    male_names: Obj
    female_names: Obj
    addresses: Obj
    employers: Obj
    cities: Obj
    company_words: Obj
    regions: I64  # 6-digit county-level administrative division codes


def make_pools(seed: int, size: int = 2000) -> Pools:
    fake = Faker("zh_CN")
    Faker.seed(seed)
    # mainland lenders, mainland borrowers: Faker also knows Hong Kong, Macao and Taiwan
    outside = ("香港", "澳门", "台湾")
    outside_cities = {"香港", "澳门", "台北", "台中", "台南", "高雄", "新竹", "基隆"}
    addresses = [a for a in (fake.address() for _ in range(size)) if not a.startswith(outside)]
    regions = {fake.ssn()[:6] for _ in range(size)}
    # county-level codes of the mainland provinces (11…65); xx0000 and xxxx00 are provinces and cities
    county = sorted(int(r) for r in regions if r[0] in "123456" and not r.endswith("00"))
    pools = Pools(
        male_names=_pool(fake.name_male() for _ in range(size)),
        female_names=_pool(fake.name_female() for _ in range(size)),
        addresses=_pool(a.replace("\n", " ") for a in addresses),
        employers=_pool(fake.company() for _ in range(size // 2)),
        cities=_pool(sorted({c for c in (fake.city_name() for _ in range(size // 4)) if c not in outside_cities})),
        company_words=_pool(sorted({fake.company_prefix() for _ in range(size // 4)})),
        regions=np.array(county, dtype=np.int64),
    )
    for pool in (pools.male_names, pools.female_names, pools.addresses, pools.employers):
        assert not any(b in s for s in pool.tolist() for b in _BANNED_TEXT)
    return pools


def _pool(items: Iterable[str]) -> Obj:
    return np.array(list(items), dtype=np.object_)


@dataclass(frozen=True, slots=True)
class Parties:
    """Borrower and contact columns; contact_borrower indexes the borrower columns."""

    enterprise: npt.NDArray[np.bool_]
    name: Obj
    id_number: Obj
    mobile: Obj
    address: Obj
    employer: Obj  # None for enterprises
    legal_representative: Obj  # None for individuals
    contact_borrower: I64
    contact_name: Obj
    contact_relation: Obj
    contact_mobile: Obj

    def __len__(self) -> int:
        return int(self.enterprise.shape[0])


def make_parties(
    rng: np.random.Generator, pools: Pools, enterprise: npt.NDArray[np.bool_], first_loan_day: I64
) -> Parties:
    """One borrower per element; ages 20–58 at `first_loan_day` (days since 1970) for individuals."""
    n = enterprise.shape[0]
    person = ~enterprise
    n_person, n_firm = int(person.sum()), int(enterprise.sum())
    male = rng.random(n_person) < MALE_SHARE
    birth = first_loan_day[person] - rng.integers(20 * 366, 58 * 365, size=n_person)
    mobiles = unique_mobiles(rng, n + n_person)
    name = np.empty(n, dtype=object)
    name[person] = np.where(male, _sample(rng, pools.male_names, n_person), _sample(rng, pools.female_names, n_person))
    name[enterprise] = company_names(rng, pools, n_firm, sole_trader := rng.random(n_firm) < SOLE_TRADER_SHARE)
    id_number = np.empty(n, dtype=object)
    id_number[person] = resident_ids(rng, _sample(rng, pools.regions, n_person), birth, male)
    id_number[enterprise] = credit_codes(rng, _sample(rng, pools.regions, n_firm), sole_trader)
    employer = np.full(n, None, dtype=object)
    employer[person] = _sample(rng, pools.employers, n_person)
    legal = np.full(n, None, dtype=object)
    legal[enterprise] = _sample(rng, np.concatenate([pools.male_names, pools.female_names]), n_firm)
    people = np.flatnonzero(person)
    all_names = np.concatenate([pools.male_names, pools.female_names])
    return Parties(
        enterprise=enterprise,
        name=name,
        id_number=id_number,
        mobile=mobiles[:n],
        address=_sample(rng, pools.addresses, n),
        employer=employer,
        legal_representative=legal,
        contact_borrower=people.astype(np.int64),
        contact_name=_sample(rng, all_names, n_person),
        contact_relation=RELATIONS[rng.choice(len(RELATIONS), size=n_person, p=RELATION_SHARES)],
        contact_mobile=mobiles[n:],
    )


def _sample(rng: np.random.Generator, pool: npt.NDArray[G], n: int) -> npt.NDArray[G]:
    return pool[rng.integers(0, pool.shape[0], size=n)]


def company_names(rng: np.random.Generator, pools: Pools, n: int, sole_trader: npt.NDArray[np.bool_]) -> Obj:
    """City + trade name + industry + legal form, e.g. 苏州恒聪商贸有限公司 or 东莞华远五金经营部."""
    industries = np.array(INDUSTRIES, dtype=object)
    suffix = np.where(sole_trader, _sample(rng, SOLE_TRADER_SUFFIXES, n), _sample(rng, COMPANY_SUFFIXES, n)).astype(
        object
    )
    parts = (
        _sample(rng, pools.cities, n),
        _sample(rng, pools.company_words, n),
        _sample(rng, industries, n),
        suffix,
    )
    return np.array(["".join(p) for p in zip(*(a.tolist() for a in parts), strict=True)], dtype=object)


def resident_ids(rng: np.random.Generator, region: I64, birth_day: I64, male: npt.NDArray[np.bool_]) -> Obj:
    """18-character resident ID numbers, all different, with the GB 11643 check character."""
    days = birth_day.astype("datetime64[D]")
    year = days.astype("datetime64[Y]").astype(np.int64) + 1970
    month_start = days.astype("datetime64[M]")
    month = month_start.astype(np.int64) % 12 + 1
    day = (days - month_start.astype("datetime64[D]")).astype(np.int64) + 1
    head = region * 10**11 + (year * 10_000 + month * 100 + day) * 1000  # 17 digits without the sequence
    sequence = _sequence(rng, male)
    for _ in range(20):  # redraw the sequence of numbers already taken (rare)
        dup = _duplicates(head + sequence)
        if not dup.any():
            break
        sequence[dup] = _sequence(rng, male[dup])
    first17 = head + sequence
    assert not _duplicates(first17).any()
    digits = _digits(first17, 17)
    check = ID_CHECK[(digits @ ID_WEIGHTS) % 11]
    chars = np.concatenate([digits.astype("U1"), check[:, None]], axis=1)
    return _join(chars)


def _sequence(rng: np.random.Generator, male: npt.NDArray[np.bool_]) -> I64:
    """Sequence 001–999; odd for men, even for women (the 17th digit is the sex)."""
    base = rng.integers(0, 500, size=male.shape[0]) * 2  # 0..998 even
    seq: I64 = np.where(male, base + 1, np.maximum(base, 2))
    return seq


def credit_codes(rng: np.random.Generator, region: I64, sole_trader: npt.NDArray[np.bool_]) -> Obj:
    """18-character unified social credit codes, all different, with both check characters."""
    n = region.shape[0]
    alphabet = np.array(list(USCC_CHARS))
    gb11714 = np.array([int(c) if c.isdigit() else ord(c) - 55 for c in USCC_CHARS], dtype=np.int64)
    idx = np.empty((n, 18), dtype=np.int64)  # positions in USCC_CHARS
    idx[:, 0] = 9
    idx[:, 1] = np.where(sole_trader, 2, 1)
    idx[:, 2:8] = _digits(region, 6)
    idx[:, 8] = USCC_CHARS.index("M")
    idx[:, 9] = USCC_CHARS.index("A")
    random = rng.integers(0, len(USCC_CHARS), size=(n, 6))
    place = len(USCC_CHARS) ** np.arange(5, -1, -1, dtype=np.int64)
    for _ in range(20):  # redraw the organisation codes already taken in the same region (rare)
        dup = _duplicates((region * 2 + idx[:, 1]) * len(USCC_CHARS) ** 6 + random @ place)
        if not dup.any():
            break
        random[dup] = rng.integers(0, len(USCC_CHARS), size=(int(dup.sum()), 6))
    idx[:, 10:16] = random
    org = 11 - (gb11714[idx[:, 8:16]] @ ORG_WEIGHTS) % 11  # GB 11714: 10 is X, 11 is 0
    idx[:, 16] = np.where(org == 10, USCC_CHARS.index("X"), org % 11)
    idx[:, 17] = (31 - (idx[:, :17] @ USCC_WEIGHTS) % 31) % 31
    return _join(alphabet[idx])


def unique_mobiles(rng: np.random.Generator, n: int) -> Obj:
    """n different mobile numbers 1[3-9]x-xxxx-xxxx with prefixes in use."""
    numbers = _mobile_numbers(rng, n)
    for _ in range(20):
        dup = _duplicates(numbers)
        if not dup.any():
            break
        numbers[dup] = _mobile_numbers(rng, int(dup.sum()))
    return np.array([str(x) for x in numbers.tolist()], dtype=object)


def _mobile_numbers(rng: np.random.Generator, n: int) -> I64:
    prefix = MOBILE_PREFIXES[rng.integers(0, MOBILE_PREFIXES.shape[0], size=n)]
    numbers: I64 = prefix * 10**8 + rng.integers(0, 10**8, size=n)
    return numbers


def _duplicates(values: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    """True for every element equal to an earlier one."""
    _, first = np.unique(values, return_index=True)
    dup = np.ones(values.shape[0], dtype=bool)
    dup[first] = False
    return dup


def _digits(values: I64, width: int) -> I64:
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    digits: I64 = (values[:, None] // powers[None, :]) % 10
    return digits


def _join(chars: npt.NDArray[np.str_]) -> Obj:
    """Rows of one-character strings -> one string per row."""
    width = chars.shape[1]
    joined = np.ascontiguousarray(chars.astype("U1")).view(f"U{width}").ravel()
    return np.array(joined.tolist(), dtype=object)

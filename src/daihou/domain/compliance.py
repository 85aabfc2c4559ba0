"""Collection conduct rules (DESIGN.md §5) as data with their sources, and the checks that apply them.

A contact is checked before it is made: `check` returns `Allowed`, or `Refused` with a code, a reason
and the next time the contact would be allowed. A refused reminder is moved to that time, never
dropped; `next_allowed_at=None` means "held until something outside changes" (a dispute is resolved).

Decision on quiet hours: the standards name calls, SMS and robot calls. daihou applies the window to
email and the portal inbox too by default, because both push a notification to the borrower's phone;
a lender who disagrees removes those channels from `QuietHours.channels` (data, not code).

Templates are checked before activation: no banned language (threats, insults, impersonating the
police or the courts, exposure to family and phone contacts), and a template addressed to a contact
person (紧急联系人) may not carry any placeholder that would disclose the debt.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

SOURCE_GBT_45251 = "GB/T 45251—2025"
SOURCE_CBA_2026 = "中国银行业协会 2026 guide"
SOURCE_DESIGN = "DESIGN.md §5 collection conduct"


class Code(StrEnum):
    OUTSIDE_CONTACT_HOURS = "outside_contact_hours"
    VOICE_CAP_REACHED = "voice_cap_reached"
    DIAL_CAP_REACHED = "dial_cap_reached"
    DEBT_DISPUTED = "debt_disputed"
    THIRD_PARTY_DISCLOSURE = "third_party_disclosure"
    BANNED_LANGUAGE = "banned_language"
    DEBT_PLACEHOLDER_FOR_CONTACT = "debt_placeholder_for_contact"
    DEBTOR_REACHABLE = "debtor_reachable"  # a contact person while the debtor can still be reached
    AMOUNT_ABOVE_CAP = "amount_above_cap"  # more than a legal cap lets be collected


class Scope(StrEnum):
    DEBTOR = "debtor"  # counted per borrower
    PHONE = "phone"  # counted per phone number dialled


@dataclass(frozen=True, slots=True)
class QuietHours:
    """No contact on `channels` from `start` to `end` local time (the window may wrap midnight)."""

    start: time
    end: time
    channels: frozenset[str]
    source: str

    def contains(self, local: time) -> bool:
        if self.start <= self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def end_after(self, local: datetime) -> datetime:
        """The first moment at or after `local` (inside the window) when the window is over."""
        candidate = datetime.combine(local.date(), self.end, tzinfo=local.tzinfo)
        return candidate if candidate > local else candidate + timedelta(days=1)


@dataclass(frozen=True, slots=True)
class DailyCap:
    """At most `limit` contacts per local day on `channels`, counted per debtor or per phone number.

    `counts` names the attempt statuses that count: "delivered" for a connected conversation,
    "sent" and "delivered" for a dial.
    """

    code: Code
    limit: int
    scope: Scope
    channels: frozenset[str]
    counts: frozenset[str]
    source: str


@dataclass(frozen=True, slots=True)
class ConductRules:
    effective: date
    timezone: str
    quiet_hours: QuietHours
    caps: tuple[DailyCap, ...]
    dispute_pauses: bool = True
    dispute_source: str = SOURCE_DESIGN
    disclosure_source: str = SOURCE_DESIGN

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def local(self, at: datetime) -> datetime:
        assert at.tzinfo is not None, "contact times are aware datetimes"
        return at.astimezone(self.tz)

    def day_window(self, at: datetime) -> tuple[datetime, datetime]:
        """The local calendar day of `at` as [start, end): what a daily cap counts over."""
        start = datetime.combine(self.local(at).date(), time(0), tzinfo=self.tz)
        return start, datetime.combine(start.date() + timedelta(days=1), time(0), tzinfo=self.tz)


VOICE_CHANNELS = frozenset({"robot_call", "call"})

DEFAULT_CONDUCT = ConductRules(
    effective=date(2026, 1, 1),
    timezone="Asia/Shanghai",
    quiet_hours=QuietHours(
        time(22, 0),
        time(8, 0),
        frozenset({"call", "robot_call", "sms", "email", "inbox"}),
        f"{SOURCE_GBT_45251}; {SOURCE_CBA_2026} (call, SMS, robot); email and inbox by daihou's choice",
    ),
    caps=(
        DailyCap(Code.VOICE_CAP_REACHED, 3, Scope.DEBTOR, VOICE_CHANNELS, frozenset({"delivered"}), SOURCE_GBT_45251),
        DailyCap(
            Code.DIAL_CAP_REACHED, 6, Scope.PHONE, VOICE_CHANNELS, frozenset({"sent", "delivered"}), SOURCE_CBA_2026
        ),
    ),
)


@dataclass(frozen=True, slots=True)
class Allowed:
    ok = True


@dataclass(frozen=True, slots=True)
class Refused:
    code: Code
    reason: str
    next_allowed_at: datetime | None = None  # None: held until a person or an event releases it

    ok = False


@dataclass(frozen=True, slots=True)
class ContactRequest:
    """One intended contact and what is known about the debtor's day so far."""

    channel: str
    at: datetime  # aware
    to_contact_person: bool = False  # a third party (紧急联系人), not the debtor
    discloses_debt: bool = False  # the message names an amount, a due date or the loan
    disputed: bool = False
    today: Mapping[Code, int] | None = None  # contacts so far in the local day, per cap code


def check(req: ContactRequest, rules: ConductRules = DEFAULT_CONDUCT) -> Allowed | Refused:
    """May this contact be made now? Refusals say when it may be made instead."""
    if req.to_contact_person and req.discloses_debt:
        return Refused(
            Code.THIRD_PARTY_DISCLOSURE,
            f"a contact person may never be told about the debt ({rules.disclosure_source})",
        )
    if req.disputed and rules.dispute_pauses:
        return Refused(
            Code.DEBT_DISPUTED, f"the debt is disputed: dunning pauses until resolved ({rules.dispute_source})"
        )
    local = rules.local(req.at)
    quiet = rules.quiet_hours
    in_quiet = req.channel in quiet.channels and quiet.contains(local.time())
    full = [c for c in rules.caps if req.channel in c.channels and (req.today or {}).get(c.code, 0) >= c.limit]
    if not in_quiet and not full:
        return Allowed()
    nxt = rules.day_window(req.at)[1] if full else local
    if req.channel in quiet.channels and quiet.contains(nxt.time()):
        nxt = quiet.end_after(nxt)
    if in_quiet:
        window = f"{quiet.start:%H:%M}–{quiet.end:%H:%M}"
        return Refused(
            Code.OUTSIDE_CONTACT_HOURS, f"no {req.channel} contact {window} {rules.timezone} ({quiet.source})", nxt
        )
    cap = full[0]
    return Refused(cap.code, f"at most {cap.limit} per {cap.scope.value} per day on {req.channel} ({cap.source})", nxt)


# ---------------------------------------------------------------- language


class Category(StrEnum):
    THREAT = "threat"
    INSULT = "insult"
    IMPERSONATION = "impersonation"  # police, courts, authorities
    EXPOSURE = "exposure"  # shaming, telling family, employer or phone contacts


@dataclass(frozen=True, slots=True)
class BannedPhrase:
    text: str
    category: Category


@dataclass(frozen=True, slots=True)
class Lexicon:
    """Words and phrases no template may contain. Matching is case-insensitive; an English phrase
    matches as whole words (with -s/-ed/-ing), a Chinese one anywhere in the text."""

    phrases: tuple[BannedPhrase, ...]
    source: str


def _phrases(category: Category, words: str) -> tuple[BannedPhrase, ...]:
    return tuple(BannedPhrase(w.strip(), category) for w in words.split(",") if w.strip())


BANNED_LANGUAGE = Lexicon(
    _phrases(Category.THREAT, "坐牢,判刑,拘留,逮捕,上门,后果自负,走着瞧,让你好看,死,杀,打断")
    + _phrases(Category.INSULT, "老赖,骗子,无赖,人渣,废物,不要脸")
    + _phrases(Category.IMPERSONATION, "公安,警察,派出所,法院传票,传票,检察院,立案侦查,通缉")
    + _phrases(Category.EXPOSURE, "曝光,通讯录,联系你的家人,通知单位,失信名单")
    + _phrases(Category.THREAT, "jail,prison,arrest,kill,die,consequences,visit your home,we know where")
    + _phrases(Category.INSULT, "deadbeat,loser,liar,thief,scum,shame,shameful")
    + _phrases(Category.IMPERSONATION, "police,court summons,summons,warrant,criminal,prosecutor,sheriff")
    + _phrases(Category.EXPOSURE, "expose,your contacts,your employer,your family,blacklist"),
    f"{SOURCE_DESIGN}: threats, insults and impersonating police or courts are banned ({SOURCE_GBT_45251})",
)

# Placeholders that reveal the debt: never in a template addressed to a contact person.
DEBT_PLACEHOLDERS = frozenset(
    {"amount", "amount_due", "due_date", "installment_no", "loan_no", "days", "days_overdue", "outstanding", "overdue"}
)


def _pattern(phrase: str) -> re.Pattern[str]:
    if phrase.isascii():
        return re.compile(rf"\b{re.escape(phrase)}(?:s|es|ed|d|ing)?\b", re.IGNORECASE)
    return re.compile(re.escape(phrase))


def banned_phrases_in(text: str, lexicon: Lexicon = BANNED_LANGUAGE) -> tuple[BannedPhrase, ...]:
    """Every banned phrase that occurs in `text`, in lexicon order."""
    return tuple(p for p in lexicon.phrases if _pattern(p.text).search(text))


def template_problems(
    texts: Iterable[str],
    placeholders: Iterable[str],
    to_contact_person: bool,
    lexicon: Lexicon = BANNED_LANGUAGE,
) -> tuple[Refused, ...]:
    """Why a template may not be activated; empty when it may."""
    found: list[BannedPhrase] = []
    for text in texts:
        found.extend(p for p in banned_phrases_in(text, lexicon) if p not in found)
    problems = []
    if found:
        listed = ", ".join(f"{p.text} ({p.category.value})" for p in found)
        problems.append(Refused(Code.BANNED_LANGUAGE, f"banned language: {listed} — {lexicon.source}"))
    leaks = sorted(set(placeholders) & DEBT_PLACEHOLDERS) if to_contact_person else []
    if leaks:
        problems.append(
            Refused(
                Code.DEBT_PLACEHOLDER_FOR_CONTACT,
                f"a template for a contact person may not disclose the debt: remove {', '.join(leaks)}",
            )
        )
    return tuple(problems)

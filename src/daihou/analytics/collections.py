"""Collection KPIs per collector, team, agency or strategy arm over a period.

Read from three frames the store hands over (`daihou.storage.kpi_store`): the cases worked in the
period, the contacts logged in it and the promises made in it. For each group:

| KPI | definition |
|---|---|
| `cases` | cases open at some time in the period |
| `balance_at_open_fen`, `collected_fen` | their balances when opened, and what they collected since |
| `recovery_rate` | collected ÷ balance at opening |
| `closed_cured` | cases closed in the period as cured, paid off or settled |
| `contacts`, `conversations` | contacts logged; of them, conversations (the guardrails' list of outcomes) |
| `contact_rate` | cases with at least one conversation ÷ cases |
| `right_party_rate` | conversations with the debtor ÷ conversations |
| `promises`, `promise_kept_rate` | promises made; kept ÷ those whose date has passed (kept, partly kept, broken) |
| `promised_fen`, `promise_paid_fen` | amounts promised and paid against them |

A group with no contacts or promises shows 0 and rates of 0 rather than leaving the group out.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

GROUPINGS = ("collector", "team", "agency", "strategy_arm")
CONVERSATIONS = frozenset({"connected", "refused", "promise_to_pay", "dispute", "hardship"})
CURED = frozenset({"cured", "paid_off", "settled"})
RESOLVED = ("kept", "partly_kept", "broken")
UNASSIGNED = "(unassigned)"
TOTAL = "(total)"


def _rate(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    num = numerator.astype(float)
    den = denominator.astype(float)
    return pd.Series(np.where(den > 0, num / den.where(den > 0, 1.0), 0.0), index=numerator.index).round(4)


def collection_kpis(
    cases: pd.DataFrame,
    contacts: pd.DataFrame,
    promises: pd.DataFrame,
    by: str = "collector",
    conversations: Iterable[str] = CONVERSATIONS,
) -> pd.DataFrame:
    """One row per group plus a total row. `cases` has case_id, the grouping columns,
    balance_at_open_fen, collected_fen, closed_in_period (bool), close_reason; `contacts` has case_id,
    party, outcome; `promises` has case_id, amount_fen, paid_fen, status."""
    if by not in GROUPINGS:
        raise ValueError(f"unknown grouping {by!r}; use one of {', '.join(GROUPINGS)}")
    talk = frozenset(conversations)
    group = cases[["case_id"]].copy()
    group["group"] = cases[by].fillna(UNASSIGNED).astype(str)
    c = contacts.merge(group, on="case_id", how="inner")
    c["conversation"] = c["outcome"].isin(talk)
    c["right_party"] = c["conversation"] & (c["party"] == "debtor")
    p = promises.merge(group, on="case_id", how="inner")
    p["resolved"] = p["status"].isin(RESOLVED)
    p["kept"] = p["status"] == "kept"
    talked = c[c["conversation"]].drop_duplicates("case_id")
    k = cases.assign(
        group=group["group"],
        cured=cases["closed_in_period"].astype(bool) & cases["close_reason"].isin(CURED),
        talked=cases["case_id"].isin(talked["case_id"]),
    )
    frames = [
        k.groupby("group").agg(
            cases=("case_id", "size"),
            balance_at_open_fen=("balance_at_open_fen", "sum"),
            collected_fen=("collected_fen", "sum"),
            closed_cured=("cured", "sum"),
            cases_talked=("talked", "sum"),
        ),
        c.groupby("group").agg(
            contacts=("case_id", "size"), conversations=("conversation", "sum"), right_party=("right_party", "sum")
        ),
        p.groupby("group").agg(
            promises=("case_id", "size"),
            promises_resolved=("resolved", "sum"),
            promises_kept=("kept", "sum"),
            promised_fen=("amount_fen", "sum"),
            promise_paid_fen=("paid_fen", "sum"),
        ),
    ]
    out = pd.concat(frames, axis=1).fillna(0)
    out = out.astype({col: "int64" for col in out.columns})
    out.loc[TOTAL] = out.sum()
    out["recovery_rate"] = _rate(out["collected_fen"], out["balance_at_open_fen"])
    out["contact_rate"] = _rate(out["cases_talked"], out["cases"])
    out["right_party_rate"] = _rate(out["right_party"], out["conversations"])
    out["promise_kept_rate"] = _rate(out["promises_kept"], out["promises_resolved"])
    out.index.name = by
    return out.reset_index()

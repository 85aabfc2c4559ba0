"""The collection score's (C卡) features and label: will a delinquent loan repay within 30 days?

Scored for loans past due at the close; the modelled (bad) event is NOT repaying: a loan is bad when
what it paid in the 30 days after the observation date is less than what it owed past due on that
date. So `pd` is the probability of no repayment and the collections work list reads the chance of
payment as 1 − pd.

| feature | meaning |
|---|---|
| `delay_now`, `months_delayed_6m`, `payment_ratio_3m` | as in the behaviour score (`daihou.risk.behaviour`) |
| `dpd` | days past due today |
| `overdue_share` | what is past due (principal, interest, penalty) ÷ that plus the principal not yet due |
| `paid_30d_share` | paid in the last 30 days ÷ what is past due today (capped at 2) |
| `utilisation` | outstanding principal ÷ original principal |
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from daihou.risk import behaviour

FEATURES = (
    "delay_now",
    "dpd",
    "months_delayed_6m",
    "payment_ratio_3m",
    "overdue_share",
    "paid_30d_share",
    "utilisation",
)
TARGET = "bad"
LABEL_DAYS = 30


def finish(raw: pd.DataFrame) -> pd.DataFrame:
    """Features of the delinquent loans in `raw` (behaviour raw columns plus `dpd`, `overdue`,
    `paid_30d`); loans not past due are left out."""
    past_due = raw[raw["dpd"].fillna(0) > 0]
    base = behaviour.finish(past_due)
    out = pd.DataFrame(index=past_due.index)
    out["delay_now"] = base["delay_now"]
    out["dpd"] = past_due["dpd"].astype(np.int64)
    out["months_delayed_6m"] = base["months_delayed_6m"]
    out["payment_ratio_3m"] = base["payment_ratio_3m"]
    overdue = past_due["overdue"].fillna(0).astype(float)
    not_due = (past_due["outstanding"].fillna(0) - past_due["overdue_principal"].fillna(0)).clip(lower=0)
    total = overdue + not_due
    out["overdue_share"] = np.where(total > 0, overdue / total.where(total > 0, 1.0), 0.0)
    paid = past_due["paid_30d"].fillna(0).astype(float)
    out["paid_30d_share"] = np.clip(np.where(overdue > 0, paid / overdue.where(overdue > 0, 1.0), 0.0), 0.0, 2.0)
    out["utilisation"] = base["utilisation"]
    return out


def label(raw: pd.DataFrame, paid_after: pd.Series) -> pd.Series:
    """1 (bad) when the payments of the `LABEL_DAYS` after the observation fall short of what was past due."""
    past_due = raw[raw["dpd"].fillna(0) > 0]
    paid = paid_after.reindex(past_due.index).fillna(0)
    return (paid < past_due["overdue"].fillna(0)).astype(np.int64).rename(TARGET)

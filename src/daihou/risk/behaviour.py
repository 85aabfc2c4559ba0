"""The behaviour score's (B卡) features: one definition for training and for scoring the book.

A loan's behaviour at a business date is read from its repayment history, in months as the credit
bureaus count it:

| feature | meaning |
|---|---|
| `delay_now` | months in arrears (⌈DPD / 30⌉) today |
| `max_delay_3m`, `max_delay_6m` | the worst months-in-arrears (⌈DPD / 30⌉) seen over the last 3 / 6 months |
| `months_delayed_6m` | how many of the last 6 monthly observations were in arrears |
| `payment_ratio_3m` | paid in the last 3 months ÷ what fell due in them (1 when nothing fell due; capped at 2) |
| `utilisation` | outstanding principal ÷ original principal (limit, for a revolving line) |
| `balance_trend_3m` | outstanding now ÷ outstanding 3 months ago (1 when there is no earlier observation) |

On the book the observations are the month-end snapshots of the close of business plus today's
(see `daihou.storage.score_store`). For development the same features are mapped from the public
UCI credit-card data (six months of repayment status, bills and payments per account) with
`from_uci`; its target is default in the next month, the nearest public stand-in for "ever 90+ DPD
within 12 months", which a lender replaces with its own labelled history (`daihou model features`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

FEATURES = (
    "delay_now",
    "max_delay_3m",
    "max_delay_6m",
    "months_delayed_6m",
    "payment_ratio_3m",
    "utilisation",
    "balance_trend_3m",
)
TARGET = "bad"
BAD_DPD = 90  # on the book: bad = ever 90+ DPD in the 12 months after the observation
RATIO_CAP = 2.0
UTILISATION_CAP = 1.5
TREND_CAP = 5.0
DAYS_PER_MONTH = 30


def months_delayed(dpd: np.ndarray) -> np.ndarray:
    """⌈DPD / 30⌉: 1 to 30 days past due is one month in arrears."""
    return np.ceil(np.asarray(dpd, dtype=float) / DAYS_PER_MONTH).astype(np.int64)


def _ratio(numerator: pd.Series, denominator: pd.Series, empty: float, cap: float) -> pd.Series:
    num = numerator.astype(float)
    den = denominator.astype(float)
    value = np.where(den > 0, num / den.where(den > 0, 1.0), empty)
    return pd.Series(np.clip(value, 0.0, cap), index=numerator.index)


def finish(raw: pd.DataFrame) -> pd.DataFrame:
    """Features from raw sums: `delay_now`, `max_delay_3m`, `max_delay_6m`, `months_delayed_6m` (integers) and
    `paid_3m`, `due_3m`, `outstanding`, `principal`, `outstanding_3m_ago` (amounts, any unit)."""
    out = pd.DataFrame(index=raw.index)
    out["delay_now"] = raw["delay_now"].fillna(0).astype(np.int64)
    out["max_delay_3m"] = np.maximum(raw["max_delay_3m"].fillna(0), out["delay_now"]).astype(np.int64)
    out["max_delay_6m"] = np.maximum(raw["max_delay_6m"].fillna(0), out["max_delay_3m"]).astype(np.int64)
    out["months_delayed_6m"] = raw["months_delayed_6m"].fillna(0).astype(np.int64)
    out["payment_ratio_3m"] = _ratio(raw["paid_3m"].fillna(0), raw["due_3m"].fillna(0), 1.0, RATIO_CAP)
    out["utilisation"] = _ratio(raw["outstanding"].fillna(0), raw["principal"].fillna(0), 0.0, UTILISATION_CAP)
    earlier = raw["outstanding_3m_ago"]
    trend = _ratio(raw["outstanding"].fillna(0), earlier.fillna(0), 1.0, TREND_CAP)
    out["balance_trend_3m"] = trend.where(earlier.notna(), 1.0)
    return out


def from_uci(frame: pd.DataFrame) -> pd.DataFrame:
    """The UCI credit-card accounts as behaviour features, with `bad` = default next month.

    PAY_0 is the latest month's status (months in arrears; −2, −1 and 0 mean not in arrears), PAY_2 …
    PAY_6 the five before; BILL_AMTk and PAY_AMTk are the bill and the payment k months back."""
    delay = {k: frame[f"PAY_{k}"].clip(lower=0) for k in (0, 2, 3, 4, 5, 6)}
    raw = pd.DataFrame(index=frame.index)
    raw["delay_now"] = delay[0]
    raw["max_delay_3m"] = pd.concat([delay[0], delay[2], delay[3]], axis=1).max(axis=1)
    raw["max_delay_6m"] = pd.concat(list(delay.values()), axis=1).max(axis=1)
    raw["months_delayed_6m"] = sum((d > 0).astype(int) for d in delay.values())
    raw["paid_3m"] = frame[["PAY_AMT1", "PAY_AMT2", "PAY_AMT3"]].sum(axis=1)
    raw["due_3m"] = frame[["BILL_AMT2", "BILL_AMT3", "BILL_AMT4"]].clip(lower=0).sum(axis=1)
    raw["outstanding"] = frame["BILL_AMT1"].clip(lower=0)
    raw["principal"] = frame["LIMIT_BAL"]
    raw["outstanding_3m_ago"] = frame["BILL_AMT4"].clip(lower=0)
    out = finish(raw)
    out[TARGET] = frame["default.payment.next.month"].astype(np.int64)
    return out

"""A small synthetic applicant table with a known risk structure, for tests and examples.

The bad rate falls with `income`, rises with `utilisation` and with `late_payments`, differs by
`housing` (text), and `noise` carries nothing. Some incomes are missing (and those applicants are
riskier), so every path of the binning is exercised: numeric, categorical, missing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def credit_sample(rows: int = 3000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    income = rng.lognormal(mean=8.5, sigma=0.5, size=rows)
    utilisation = rng.uniform(0, 1.2, size=rows)
    late = rng.poisson(0.4, size=rows)
    housing = rng.choice(["own", "mortgage", "rent", "family"], size=rows, p=[0.3, 0.3, 0.3, 0.1])
    noise = rng.normal(size=rows)
    housing_effect = pd.Series(housing).map({"own": -0.4, "mortgage": -0.2, "rent": 0.3, "family": 0.5}).to_numpy()
    log_odds = -2.0 - 0.9 * (np.log(income) - 8.5) + 1.6 * utilisation + 0.7 * late + housing_effect
    income_missing = rng.random(rows) < 0.08
    log_odds = log_odds + 0.6 * income_missing
    bad = (rng.random(rows) < 1.0 / (1.0 + np.exp(-log_odds))).astype(int)
    return pd.DataFrame(
        {
            "applicant_no": np.arange(1, rows + 1),
            "income": np.where(income_missing, np.nan, np.round(income, 2)),
            "utilisation": np.round(utilisation, 4),
            "late_payments": late,
            "housing": housing,
            "noise": noise,
            "bad": bad,
        }
    )

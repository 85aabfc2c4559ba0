"""Shared test configuration. Keep each concern in its own section."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# ---------------------------------------------------------------- Hypothesis profiles
# "dev" (default): random examples, as Hypothesis normally runs.
# "ci": the same examples on every run (derandomized), chosen when CI=true or with
#        --hypothesis-profile=ci, so a red build can be reproduced exactly.

settings.register_profile("dev", deadline=None)
settings.register_profile(
    "ci", deadline=None, derandomize=True, print_blob=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("ci" if os.environ.get("CI", "").lower() == "true" else "dev")

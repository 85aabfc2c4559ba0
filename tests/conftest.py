"""Shared test configuration. Keep each concern in its own section."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
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


# ---------------------------------------------------------------- Spark (PySpark local mode)
# Tests marked `spark` run the close of business on a real local Spark session. They run in CI
# (`.ci/run` installs a JRE): when Spark cannot start they fail with the reason, never skip.
# One session serves a whole module; its warehouse (where `engines._register` saves the input
# tables) is a temporary directory, so runs never collide with each other or with ./spark-warehouse.


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "spark: runs the close of business on PySpark local mode (needs a Java runtime)")


@pytest.fixture(scope="module")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """An Ibis PySpark backend from `engines.connect("spark")`, shared by the tests of one module."""
    from daihou.batch.cob.engines import connect

    warehouse = tmp_path_factory.mktemp("spark-warehouse")
    problem = None
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PYSPARK_SUBMIT_ARGS", f"--conf spark.sql.warehouse.dir={warehouse} pyspark-shell")
        env.setenv("DAIHOU_SPARK_PARTITIONS", os.environ.get("DAIHOU_SPARK_PARTITIONS", "2"))
        try:
            con = connect("spark")
        except Exception as exc:  # no JRE, no free port on 127.0.0.1, a broken pyspark install …
            problem = f"{type(exc).__name__}: {exc}"
    if problem is not None:
        pytest.fail(
            f"PySpark local mode could not start ({problem}). The spark tests need a Java 17+ runtime on PATH "
            "(or JAVA_HOME) and pyspark installed; .ci/run installs the JRE.",
            pytrace=False,
        )
    yield con
    con._session.stop()

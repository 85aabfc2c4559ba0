"""Database fixtures: every test here runs on SQLite and on a real PostgreSQL server.

PostgreSQL comes from DAIHOU_TEST_PG_URL (an admin URL, e.g. postgresql://postgres@127.0.0.1:5432/postgres);
the suite creates its own database `daihou_test_<pid>` there and drops it at the end. Without the
variable the PostgreSQL half is skipped locally, but under CI (CI=true) a missing or unreachable
server fails the run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, create_engine, text

from daihou.bootstrap import App
from daihou.config import Settings
from daihou.storage.engine import make_engine, migrate
from daihou.storage.tables import metadata

TEST_DB = f"daihou_test_{os.getpid()}"  # one per session: parallel runs never share a database


class FixedClock:
    def __init__(self, now: datetime | None = None) -> None:
        self.value = now or datetime(2026, 11, 22, 10, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.value


def _pg_url() -> str | None:
    admin = os.environ.get("DAIHOU_TEST_PG_URL")
    if not admin:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but DAIHOU_TEST_PG_URL is not set: the PostgreSQL suite must run in CI")
        return None
    try:
        eng = create_engine(admin.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
        with eng.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {TEST_DB} WITH (FORCE)"))
            conn.execute(text(f"CREATE DATABASE {TEST_DB}"))
        eng.dispose()
    except Exception as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL at {admin} is not usable under CI: {exc}")
        pytest.skip(f"PostgreSQL at {admin} is not reachable: {exc}")
    return admin.rsplit("/", 1)[0] + "/" + TEST_DB


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'daihou.db'}"
    else:
        url = _pg_url()
        if url is None:
            pytest.skip("DAIHOU_TEST_PG_URL is not set (PostgreSQL half skipped outside CI)")
    eng = make_engine(url)
    migrate(eng)
    yield eng
    eng.dispose()
    if request.param == "postgresql":
        _drop_pg_database()


def _drop_pg_database() -> None:
    admin = os.environ["DAIHOU_TEST_PG_URL"]
    eng = create_engine(admin.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    with eng.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {TEST_DB} WITH (FORCE)"))
    eng.dispose()


def _empty(engine: Engine) -> None:
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            names = ", ".join(t.name for t in metadata.sorted_tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(metadata.sorted_tables):
                conn.execute(table.delete())


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def app(engine: Engine, clock: FixedClock) -> App:
    """An initialised, empty book on the backend under test, with the default products."""
    _empty(engine)
    application = App(Settings(database_url=str(engine.url.render_as_string(hide_password=False))), engine, clock)
    application.initialise()
    return application

"""Alembic builds the schema from an empty database, and it matches the tables the code uses."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect

from daihou.bootstrap import App
from daihou.storage.engine import is_initialised, migrate, reset
from daihou.storage.tables import metadata


def test_migrations_from_empty_build_exactly_the_declared_schema(app: App) -> None:
    engine: Engine = app.engine
    reset(engine)
    assert not is_initialised(engine)
    migrate(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    assert diff == []
    assert set(inspect(engine).get_table_names()) >= {t.name for t in metadata.sorted_tables}


def test_migrating_twice_changes_nothing(app: App) -> None:
    migrate(app.engine)
    migrate(app.engine)
    assert is_initialised(app.engine)

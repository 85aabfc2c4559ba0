"""Alembic environment: runs against the engine daihou passes in `config.attributes`."""

from __future__ import annotations

from alembic import context

from daihou.storage.tables import metadata

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()

"""The operational store: SQLAlchemy tables, repositories, the unit of work, Alembic migrations.

Implements the ports of `daihou.service.ports`. Only `daihou.bootstrap` wires it in.
"""

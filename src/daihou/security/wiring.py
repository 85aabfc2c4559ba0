"""The one place security reaches the SQL store: one store per engine (drivers never import storage)."""

from __future__ import annotations

from typing import TYPE_CHECKING
from weakref import WeakKeyDictionary

from daihou.security.ports import ScopedReads, SecurityStore

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from daihou.bootstrap import App

_stores: WeakKeyDictionary[Engine, tuple[SecurityStore, ScopedReads]] = WeakKeyDictionary()


def _built(app: App) -> tuple[SecurityStore, ScopedReads]:
    found = _stores.get(app.engine)
    if found is None:
        from daihou.storage.security_store import SqlScopedReads, SqlSecurityStore

        found = (SqlSecurityStore(app.engine), SqlScopedReads(app.engine))
        _stores[app.engine] = found
    return found


def store(app: App) -> SecurityStore:
    return _built(app)[0]


def reads(app: App) -> ScopedReads:
    return _built(app)[1]

"""The composition root: the one place that wires storage and the clock into the service."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from daihou.config import Settings
from daihou.service.ports import Clock, UnitOfWork
from daihou.storage.engine import is_initialised, make_engine, migrate
from daihou.storage.repository import SqlUnitOfWork


class SystemClock:
    def __init__(self, tz: str) -> None:
        self.tz = ZoneInfo(tz)

    def now(self) -> datetime:
        return datetime.now(self.tz)


@dataclass
class App:
    settings: Settings
    engine: Engine
    clock: Clock

    def uow(self) -> UnitOfWork:
        return SqlUnitOfWork(self.engine, self.clock)

    @property
    def uow_factory(self) -> Callable[[], UnitOfWork]:
        return self.uow

    def initialise(self) -> None:
        """Create or upgrade the schema and seed the default products."""
        migrate(self.engine)
        from daihou.service.setup import seed_products

        seed_products(self.uow())

    @property
    def initialised(self) -> bool:
        return is_initialised(self.engine)


def build(settings: Settings | None = None, clock: Clock | None = None) -> App:
    settings = settings or Settings()
    return App(settings, make_engine(settings.database_url), clock or SystemClock(settings.timezone))

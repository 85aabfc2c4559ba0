"""The composition root: the one place that wires storage and the clock into the service."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from daihou.batch.cob.engines import connect
from daihou.batch.cob.runner import DayDone, Progress, Refused, run_day
from daihou.batch.cob.snapshots import Snapshots
from daihou.config import Settings
from daihou.service.ports import Clock, UnitOfWork
from daihou.storage.engine import is_initialised, make_engine, migrate, reset
from daihou.storage.repository import SqlUnitOfWork
from daihou.workflow.daily import run_after_close


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

    def reset(self) -> None:
        """Drop the whole book and build an empty one."""
        reset(self.engine)
        self.initialise()

    def cob_store(self) -> Any:
        from daihou.storage.cob_store import SqlCobStore

        return SqlCobStore(self.engine, self.clock)

    def dashboard_store(self) -> Any:
        """The staff dashboard's read model and the snapshots it reads (`daihou.service.dashboard`)."""
        from daihou.storage.dashboard_store import ParquetSnapshots, SqlDashboardStore

        return SqlDashboardStore(self.engine), ParquetSnapshots(self.settings.data_dir)

    def portal_store(self) -> Any:
        """The borrower portal's store (`daihou.web.portal`)."""
        from daihou.storage.portal_store import SqlPortalStore

        return SqlPortalStore(self.engine)

    def snapshots(self) -> Snapshots:
        return Snapshots(self.settings.data_dir)

    def run_cob(
        self, days: list[date], engine: str, rerun: bool = False, progress: Progress | None = None
    ) -> list[DayDone | Refused]:
        """Run the close of business for each day in order; stops at the first refusal."""
        store = self.cob_store()
        con = connect(engine)
        rules = store.rule_versions()
        done: list[DayDone | Refused] = []
        for day in days:
            result = run_day(store, self.snapshots(), con, engine, day, rules, rerun=rerun, progress=progress)
            done.append(result)
            if isinstance(result, Refused):
                break
            result.counts.update(run_after_close(self, day))
        return done

    def today(self) -> date:
        return self.clock.now().date()

    def build_demo(
        self, loans: int, seed: int, as_of: date, progress: Callable[[str, int, int], None] | None = None
    ) -> Any:
        """A synthetic book of `loans` loans, brought up to `as_of` (see daihou.demo)."""
        from daihou.demo import build_demo_book

        return build_demo_book(
            self.engine, loans=loans, seed=seed, as_of=as_of, now=self.clock.now(), progress=progress
        )


def build(settings: Settings | None = None, clock: Clock | None = None) -> App:
    settings = settings or Settings()
    return App(settings, make_engine(settings.database_url), clock or SystemClock(settings.timezone))

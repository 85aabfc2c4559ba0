"""Serve daihou for the browser tests: `python -m tests.e2e.browser.server --db URL --data-dir DIR
--port N --start ISO` on 127.0.0.1, with a clock that starts at `--start` and runs with real time
(business hours on a known business date, whatever the wall clock says)."""

from __future__ import annotations

import argparse
import time
from datetime import datetime
from pathlib import Path

import uvicorn

from daihou.api.app import create_app
from daihou.bootstrap import App, build
from daihou.config import Settings


class RunningClock:
    """Starts at `start` and advances with the machine's monotonic clock."""

    def __init__(self, start: datetime) -> None:
        self.start, self.origin = start, time.monotonic()

    def now(self) -> datetime:
        from datetime import timedelta

        return self.start + timedelta(seconds=time.monotonic() - self.origin)


def make_app(db: str, data_dir: Path, start: datetime) -> App:
    return build(Settings(database_url=db, data_dir=data_dir), RunningClock(start))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--data-dir", required=True, type=Path)
    parser.add_argument("--port", required=True, type=int)
    parser.add_argument("--start", required=True, type=datetime.fromisoformat)
    args = parser.parse_args()
    api = create_app(make_app(args.db, args.data_dir, args.start))
    uvicorn.run(api, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()

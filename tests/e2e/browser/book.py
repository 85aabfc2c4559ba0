"""A small demo book for the web tests (browser and TestClient), built once per session or module: its
last two days (ending `CLOSED`) closed with the batch, demo users for every role, and cases handed to
the demo collector."""

from __future__ import annotations

import json
import threading
import urllib.parse
from datetime import date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from tests.e2e.browser.server import RunningClock

CLOSED = date(2026, 11, 20)
START = datetime(2026, 11, 21, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))  # the next day, in contact hours


def build_book(work: Path, loans: int = 300, clock: Any = None) -> tuple[Any, dict[str, str]]:
    """(App, users by role + "password") over a fresh SQLite book in `work`."""
    from daihou.bootstrap import build
    from daihou.config import Settings
    from daihou.security.demo import DEMO_PASSWORD, ensure_demo_users

    settings = Settings(database_url=f"sqlite:///{work / 'daihou.db'}", data_dir=work / "var")
    app = build(settings, RunningClock(datetime(2026, 11, 20, 18, 0, tzinfo=ZoneInfo("Asia/Shanghai"))))
    app.initialise()
    app.build_demo(loans, 7, CLOSED - timedelta(days=2))
    done = app.run_cob([CLOSED - timedelta(days=1), CLOSED], "duckdb")  # two snapshots: roll rates too
    assert len(done) == 2 and all(getattr(d, "counts", None) is not None for d in done), done
    users = {u.role: u.username for u in ensure_demo_users(app)}
    users["password"] = DEMO_PASSWORD
    give_cases_to_the_collector(app, users["collector"])
    app.clock = clock or RunningClock(START)
    return app, users


def give_cases_to_the_collector(app: Any, collector: str) -> None:
    """A demo book without collectors on file leaves its cases unassigned: register the demo
    collector and hand it the first open cases, as a team lead would."""
    from daihou.domain.collections import Stage
    from daihou.workflow import collections

    if collections.cases_visible_to(app, "collector", collector, "open", 5):
        return
    collections.add_collector(app, collector, "demo collector", "demo", [s.value for s in Stage], 50)
    for case in collections.cases_visible_to(app, "supervisor", "team-lead", "open", 3):
        assert collections.assign(app, case["id"], collector, CLOSED, "team-lead") is None


class FakeSms:
    """An Aliyun-style SendSms endpoint that answers OK and keeps each message's parameters."""

    def __init__(self) -> None:
        self.messages: list[dict[str, str]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                fake.messages.append(dict(urllib.parse.parse_qsl(body)))
                answer = json.dumps({"Code": "OK", "Message": "OK", "BizId": f"biz{len(fake.messages)}"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def last_code(self, mobile: str) -> str:
        for m in reversed(self.messages):
            if m.get("PhoneNumbers") == mobile:
                return str(json.loads(m["TemplateParam"])["code"])
        raise AssertionError(f"no SMS to {mobile}")

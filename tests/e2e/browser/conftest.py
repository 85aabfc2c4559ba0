"""Browser tests in real Chromium (Debian's /usr/bin/chromium driven by Playwright).

One small demo book (300 loans, closed on 2026-11-20) is built once per session; daihou serves it with
uvicorn on 127.0.0.1 on a free port, with a clock that starts at 10:00 Asia/Shanghai on 2026-11-21
(inside the contact hours the collection rules allow). SMS codes go through the real SMS adapter to
a fake Aliyun-style gateway on 127.0.0.1 that keeps them for the test; payments go through the
in-process fake cashier (DAIHOU_PAYMENT_FAKE). Screenshots are saved in tests/e2e/artifacts/.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.browser.book import START, FakeSms, build_book

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
ROOT = Path(__file__).resolve().parents[3]
DEMO_LOANS = 300


def _skip_without_browser() -> None:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing under CI (.ci/run installs the chromium package)")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("playwright is missing under CI (pip install -e '.[test]')")
        pytest.skip("playwright is not installed (pip install playwright)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, url: str, db: str, data_dir: Path, sms: FakeSms, users: dict[str, str]) -> None:
        self.url, self.db, self.data_dir, self.sms, self.users = url, db, data_dir, sms, users

    def app(self) -> Any:
        from tests.e2e.browser.server import make_app

        return make_app(self.db, self.data_dir, START)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    _skip_without_browser()
    work = tmp_path_factory.mktemp("browser")
    app, users = build_book(work, DEMO_LOANS)
    db, data_dir = app.settings.database_url, app.settings.data_dir
    app.engine.dispose()
    sms, port = FakeSms(), free_port()
    env = {
        **os.environ,
        "DAIHOU_PAYMENT_FAKE": "true",
        "DAIHOU_CHANNELS_SMS_ENDPOINT": sms.url,
        "DAIHOU_CHANNELS_SMS_ACCESS_KEY_ID": "browser-test",
        "DAIHOU_CHANNELS_SMS_ACCESS_KEY_SECRET": "browser-test-key-9f2c",
        "PYTHONPATH": str(ROOT),
    }
    log = (work / "server.log").open("w")
    cmd = [sys.executable, "-m", "tests.e2e.browser.server", "--db", db, "--data-dir", str(data_dir),
           "--port", str(port), "--start", START.isoformat()]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(url + "/login", timeout=1)
                break
            except OSError:
                if proc.poll() is not None:
                    raise AssertionError((work / "server.log").read_text()) from None
                time.sleep(0.1)
        else:
            raise AssertionError("the server did not start: " + (work / "server.log").read_text())
        yield Server(url, db, data_dir, sms, users)
    finally:
        proc.terminate()
        proc.wait(10)
        sms.server.shutdown()
        log.close()


@pytest.fixture(scope="session")
def browser(server: Server) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    pg = context.new_page()
    pg.set_default_timeout(15_000)
    yield pg
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}-failed.png"), full_page=True)
    context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.when == "call":
        item.rep_call = report  # type: ignore[attr-defined]


def shot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def login(page: Any, server: Server, role: str) -> None:
    page.goto(server.url + "/login")
    page.fill("#username", server.users[role])
    page.fill("#password", server.users["password"])
    page.click("#login")
    page.wait_for_load_state("networkidle")

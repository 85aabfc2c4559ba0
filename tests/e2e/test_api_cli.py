"""`daihou user …` and `daihou serve` from the command line."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from typer.testing import CliRunner

from daihou.cli.main import app as cli

runner = CliRunner()


def _db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert runner.invoke(cli, ["--db", url, "init"]).exit_code == 0
    return url


def test_users_are_added_listed_and_their_passwords_read_from_standard_input(tmp_path: Path) -> None:
    db = _db(tmp_path)
    added = runner.invoke(cli, ["--db", db, "user", "add", "wang", "--role", "collector"], input="wang-pass-2026\n")
    assert added.exit_code == 0, added.output
    listed = runner.invoke(cli, ["--db", db, "user", "list", "--json"])
    assert [(u["username"], u["role"], u["active"]) for u in json.loads(listed.stdout)] == [("wang", "collector", True)]


def test_a_refused_user_names_the_problem_and_exits_non_zero(tmp_path: Path) -> None:
    db = _db(tmp_path)
    weak = runner.invoke(cli, ["--db", db, "user", "add", "li", "--role", "auditor", "--password", "short"])
    assert weak.exit_code == 1 and "weak_password" in weak.output
    role = runner.invoke(cli, ["--db", db, "user", "add", "li", "--role", "boss", "--password", "long-pass-2026"])
    assert role.exit_code == 1 and "unknown_role" in role.output
    borrower = runner.invoke(
        cli, ["--db", db, "user", "add", "zhao", "--role", "borrower", "--password", "long-pass-2026"]
    )
    assert borrower.exit_code == 1 and "--borrower" in borrower.output


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_answers_on_loopback_with_a_token_issued_by_the_cli(tmp_path: Path) -> None:
    db = _db(tmp_path)
    runner.invoke(cli, ["--db", db, "user", "add", "ops", "--role", "admin", "--password", "ops-pass-2026"])
    issued = runner.invoke(cli, ["--db", db, "user", "token", "ops", "--name", "monitoring", "--role", "auditor"])
    token = issued.stdout.strip().splitlines()[-1]
    assert token.startswith("dh_")
    port = _free_port()
    exe = str(Path(sys.executable).with_name("daihou"))
    env = {**os.environ, "DAIHOU_DATA_DIR": str(tmp_path)}
    server = subprocess.Popen(
        [exe, "--db", db, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/api/v1/session", headers={"Authorization": f"Bearer {token}"})
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and server.poll() is None, "the server did not start"
                time.sleep(0.2)
        assert r.status_code == 200
        assert (r.json()["username"], r.json()["role"], r.json()["via"]) == ("ops", "auditor", "token")
        assert httpx.get(f"http://127.0.0.1:{port}/openapi.json").json()["info"]["title"] == "daihou API"
    finally:
        server.terminate()
        server.wait(timeout=30)

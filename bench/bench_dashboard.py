"""The staff dashboard with 1,000,000 loans in the store: how long a page takes, and what it costs to
precompute its figures after the close of business.

    .venv/bin/python bench/make_book.py --loans 1000000 --db /tmp/dash-bench/book-1m.db   # once
    .venv/bin/python bench/bench_dashboard.py --book /tmp/dash-bench/book-1m.db

1. copies the pristine book (or works on it with --in-place) and closes the business date with the
   batch (DuckDB): the day's snapshot of every loan is written, as in production;
2. refreshes the dashboard's figures from that snapshot (`daihou.service.dashboard.refresh`, the
   after-close step) and times it;
3. serves daihou with uvicorn on 127.0.0.1, signs in as an administrator and requests /dashboard
   `--requests` times over loopback (one client, sequential: the latency a manager sees), reporting
   p50/p95/p99/max — the target is p99 ≤ 300 ms;
4. for comparison, times the two ways a page could compute the same figures per request instead:
   from the snapshot (DuckDB over Parquet) and live from the loans and installments tables (SQL).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import uvicorn

DAY = date(2026, 11, 22)  # make_book's business date: the book is closed through the day before


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def close_day(app: Any, day: date) -> float:
    """The batch alone (no after-close workflows): writes the 1M-row snapshot the dashboard reads."""
    from daihou.batch.cob.engines import connect
    from daihou.batch.cob.runner import Refused, run_day

    store = app.cob_store()
    started = time.perf_counter()
    result = run_day(store, app.snapshots(), connect("duckdb"), "duckdb", day, store.rule_versions())
    if isinstance(result, Refused):
        raise SystemExit(f"refused: {result.code}: {result.message}")
    return time.perf_counter() - started


def serve(app: Any, port: int) -> uvicorn.Server:
    from daihou.api.app import create_app

    server = uvicorn.Server(uvicorn.Config(create_app(app), host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    for _ in range(300):
        if server.started:
            return server
        time.sleep(0.05)
    raise SystemExit("uvicorn did not start")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--book", type=Path, required=True, help="a pristine book from bench/make_book.py")
    ap.add_argument("--work", type=Path, default=Path("/tmp/dash-bench/work"))
    ap.add_argument("--in-place", action="store_true", help="use the book itself (no copy)")
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--date", type=date.fromisoformat, default=DAY, help="the business date to close")
    ap.add_argument("--skip-live", action="store_true", help="skip the live SQL baseline (slow on 1M loans)")
    args = ap.parse_args()

    from daihou.bootstrap import build
    from daihou.config import Settings
    from daihou.security import users
    from daihou.service import dashboard as dash

    args.work.mkdir(parents=True, exist_ok=True)
    db = args.book
    if not args.in_place:
        db = args.work / "book.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(args.book, db)
    data_dir = args.work / "var"
    shutil.rmtree(data_dir, ignore_errors=True)
    app = build(Settings(database_url=f"sqlite:///{db}", data_dir=data_dir))
    app.initialise()  # migrations added since the book was built (portal, dashboard figures, …)
    out: dict[str, Any] = {"loans_in_store": None, "business_date": args.date.isoformat()}
    with app.engine.connect() as conn:
        from sqlalchemy import func, select

        from daihou.storage.tables import loans

        out["loans_in_store"] = conn.execute(select(func.count()).select_from(loans)).scalar_one()
    out["cob_s"] = round(close_day(app, args.date), 1)

    store, snapshots = app.dashboard_store()
    started = time.perf_counter()
    figures = dash.refresh(store, snapshots, args.date, app.clock.now())
    out["refresh_s"] = round(time.perf_counter() - started, 2)
    out["open_loans_in_figures"] = figures.payload["book"]["loans"]

    started = time.perf_counter()
    snapshots.book(args.date)
    out["per_request_from_snapshot_s"] = round(time.perf_counter() - started, 2)
    if not args.skip_live:
        started = time.perf_counter()
        store.book_from_loans()
        out["per_request_live_sql_s"] = round(time.perf_counter() - started, 1)

    username, password = "bench-admin", "bench-admin-2026!"
    if isinstance(users.add_user(app, username, password, "admin", "bench admin"), users.UserRefused):
        users.set_password(app, username, password)
    port = free_port()
    server = serve(app, port)
    base = f"http://127.0.0.1:{port}"
    latencies: list[float] = []
    with httpx.Client(base_url=base, timeout=30) as client:
        r = client.post("/login", data={"username": username, "password": password})
        assert r.status_code in (200, 303), r.text
        first = client.get("/dashboard")
        assert first.status_code == 200 and 'id="chart-buckets"' in first.text, first.text[:500]
        for _ in range(args.requests):
            t0 = time.perf_counter()
            r = client.get("/dashboard")
            latencies.append((time.perf_counter() - t0) * 1000)
            assert r.status_code == 200
    server.should_exit = True
    out["requests"] = len(latencies)
    out["latency_ms"] = {
        "p50": round(statistics.median(latencies), 1),
        "p95": round(percentile(latencies, 95), 1),
        "p99": round(percentile(latencies, 99), 1),
        "max": round(max(latencies), 1),
    }
    out["page_bytes"] = len(first.content)
    out["load_average"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    out["target_met"] = out["latency_ms"]["p99"] <= 300
    print(json.dumps(out, ensure_ascii=False, indent=1))
    return 0 if out["target_met"] else 1


if __name__ == "__main__":
    raise SystemExit(main())

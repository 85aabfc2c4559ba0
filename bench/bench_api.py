"""Benchmark: repayments posted through the REST API (`POST /api/v1/loans/{no}/payments`).

Builds a demo book on SQLite (`daihou demo --no-serve`), issues an API token, starts `daihou serve`
(uvicorn) on 127.0.0.1, then a loopback load generator posts payments of 1.00 yuan, each with its own
Idempotency-Key, to random open loans, with a fixed number of connections, for a bounded time:
`wrk` (Debian's package, C, a Lua script makes the keys) when installed, else httpx (asyncio). Prints
throughput and latency percentiles and a Markdown row for docs/benchmarks.md:

    .venv/bin/python bench/bench_api.py --loans 5000 --seconds 30 --concurrency 8 --workers 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import httpx

AS_OF = date(2026, 11, 20)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _daihou(db: str, *args: str, data_dir: Path) -> str:
    env = {**os.environ, "DAIHOU_DATA_DIR": str(data_dir)}
    exe = str(Path(sys.executable).with_name("daihou"))
    out = subprocess.run([exe, "--db", db, *args], check=True, capture_output=True, text=True, env=env)
    return out.stdout


async def _load(
    base: str, token: str, loans: list[str], total: int, concurrency: int, limit_s: float
) -> dict[str, float]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    paid_on = (AS_OF + timedelta(days=1)).isoformat()
    counter = iter(range(total))
    deadline = time.perf_counter() + limit_s
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        headers = {"Authorization": f"Bearer {token}"}

        async def worker() -> None:
            for n in counter:
                if time.perf_counter() > deadline:
                    return
                loan = random.choice(loans)
                t0 = time.perf_counter()
                r = await client.post(
                    f"/api/v1/loans/{loan}/payments",
                    json={"amount": "1.00", "paid_on": paid_on},
                    headers={**headers, "Idempotency-Key": f"bench-{os.getpid()}-{n}"},
                )
                latencies.append(time.perf_counter() - t0)
                statuses[r.status_code] = statuses.get(r.status_code, 0) + 1

        # warm-up: a few requests outside the measurement
        for i in range(20):  # warm-up
            await client.post(
                f"/api/v1/loans/{loans[i % len(loans)]}/payments",
                json={"amount": "1.00", "paid_on": paid_on},
                headers={**headers, "Idempotency-Key": f"warm-{os.getpid()}-{i}"},
            )
        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    return {
        "requests": len(latencies),
        "seconds": elapsed,
        "rps": len(latencies) / elapsed,
        "p50_ms": pct(0.50),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
        "max_ms": latencies[-1] * 1000,
        "mean_ms": statistics.fmean(latencies) * 1000,
        "statuses": statuses,  # type: ignore[dict-item]
    }


WRK_SCRIPT = """
local loans = {%(loans)s}
local token = "%(token)s"
local paid_on = "%(paid_on)s"
local threads = {}
local counter = 0
local next_id = 0
setup = function(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end
init = function(args)
  math.randomseed(tid * 7919 + 17)
  not201 = 0
end
request = function()
  counter = counter + 1
  local loan = loans[math.random(#loans)]
  local headers = {}
  headers["Authorization"] = "Bearer " .. token
  headers["Idempotency-Key"] = string.format("wrk-%(run)s-%%d-%%d", tid, counter)
  headers["Content-Type"] = "application/json"
  local body = '{"amount": "1.00", "paid_on": "' .. paid_on .. '"}'
  return wrk.format("POST", "/api/v1/loans/" .. loan .. "/payments", headers, body)
end
response = function(status, headers, body)
  if status ~= 201 then not201 = not201 + 1 end
end
done = function(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do bad = bad + t:get("not201") end
  io.write(string.format(
    'RESULT {"requests": %%d, "seconds": %%f, "p50_ms": %%f, "p95_ms": %%f, "p99_ms": %%f, "max_ms": %%f, '
    .. '"mean_ms": %%f, "not_201": %%d, "socket_errors": %%d}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, latency.mean / 1000, bad,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""


def _wrk(base: str, token: str, loans: list[str], concurrency: int, seconds: float, tmp: Path) -> dict[str, float]:
    script = tmp / "payments.lua"
    script.write_text(
        WRK_SCRIPT
        % {
            "loans": ", ".join(f'"{n}"' for n in loans),
            "token": token,
            "paid_on": (AS_OF + timedelta(days=1)).isoformat(),
            "run": os.getpid(),
        }
    )
    threads = max(1, min(2, concurrency))
    cmd = ["wrk", f"-t{threads}", f"-c{concurrency}", f"-d{int(seconds)}s", "--latency", "-s", str(script), base]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    result: dict[str, float] = json.loads(line.removeprefix("RESULT "))
    result["rps"] = result["requests"] / result["seconds"]
    result["statuses"] = {"not_201": result.pop("not_201"), "socket_errors": result.pop("socket_errors")}  # type: ignore[assignment]
    return result


def _ledger_baseline(db: str, data_dir: Path, loans: list[str], count: int) -> dict[str, float]:
    """The same payments posted in-process through `service.ledger.post_payment`, one after another:
    the cost of the ledger alone, without HTTP, auth, idempotency or audit (the API's ceiling)."""
    from daihou import bootstrap
    from daihou.config import Settings
    from daihou.service import ledger

    app = bootstrap.build(Settings(database_url=db, data_dir=data_dir))
    on = AS_OF + timedelta(days=1)
    wall, cpu = time.perf_counter(), time.process_time()
    for n in range(count):
        outcome = ledger.post_payment(app.uow(), random.choice(loans), 100, on, f"baseline-{os.getpid()}-{n}")
        assert outcome.ok, outcome
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    app.engine.dispose()
    return {"payments": count, "per_s": count / wall, "wall_ms": wall / count * 1000, "cpu_ms": cpu / count * 1000}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--loans", type=int, default=5000)
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=120.0, help="stop after this long whatever the count")
    ap.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    ap.add_argument("--baseline", type=int, default=500, help="payments posted in-process for the baseline")
    ap.add_argument("--generator", choices=("wrk", "httpx"), default="wrk" if shutil.which("wrk") else "httpx")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="daihou-bench-api-"))
    db = f"sqlite:///{tmp / 'bench.db'}"
    t0 = time.perf_counter()
    _daihou(db, "demo", "--loans", str(args.loans), "--as-of", AS_OF.isoformat(), "--no-serve", "--reset", data_dir=tmp)
    _daihou(
        db, "user", "add", "bench-teller", "--role", "customer_service", "--password", "bench-pass-2026", data_dir=tmp
    )
    token = _daihou(db, "user", "token", "bench-teller", "--name", "bench", data_dir=tmp).strip()
    print(f"book of {args.loans} loans built in {time.perf_counter() - t0:.1f} s", file=sys.stderr)

    port = _free_port()
    env = {**os.environ, "DAIHOU_DATA_DIR": str(tmp)}
    exe = str(Path(sys.executable).with_name("daihou"))
    cmd = [exe, "--db", db, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(args.workers)]
    server = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        started = time.monotonic() + 180  # imports are slow on a busy machine
        while True:
            try:
                if httpx.get(base + "/openapi.json", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                if time.monotonic() > started or server.poll() is not None:
                    raise SystemExit("the server did not start") from None
                time.sleep(0.2)
        page = httpx.get(
            base + "/api/v1/loans",
            params={"status": "active", "size": 200},
            headers={"Authorization": f"Bearer {token}"},
        ).json()
        loans = [i["loan_no"] for i in page["items"]]
        paid_on = (AS_OF + timedelta(days=1)).isoformat()
        for i in range(40):  # warm-up: every worker imports and connects before the measurement
            httpx.post(
                f"{base}/api/v1/loans/{loans[i % len(loans)]}/payments",
                json={"amount": "1.00", "paid_on": paid_on},
                headers={"Authorization": f"Bearer {token}", "Idempotency-Key": f"warm-up-{os.getpid()}-{i}"},
                timeout=60,
            )
        if args.generator == "wrk":
            result = _wrk(base, token, loans, args.concurrency, args.seconds, tmp)
        else:
            result = asyncio.run(_load(base, token, loans, args.requests, args.concurrency, args.seconds))
    finally:
        server.terminate()
        server.wait(timeout=30)
    load = os.getloadavg()
    base = _ledger_baseline(db, tmp, loans, args.baseline)
    print(json.dumps({"api": result, "ledger_baseline": base}, indent=2))
    print(
        "\n| generator | loans | workers | connections | requests | req/s | p50 ms | p95 ms | p99 ms | max ms "
        "| errors | load avg |\n"
        f"|---|---|---|---|---|---|---|---|---|---|---|---|\n"
        f"| {args.generator} | {args.loans:,} | {args.workers} | {args.concurrency} | {result['requests']:,} "
        f"| {result['rps']:.0f} | "
        f"{result['p50_ms']:.1f} | {result['p95_ms']:.1f} | {result['p99_ms']:.1f} | {result['max_ms']:.1f} | "
        f"{result['statuses']} | {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} |"
    )
    print(
        f"\nbaseline, same book and run: `service.ledger.post_payment` in-process, one at a time: "
        f"{base['per_s']:.0f} payments/s, {base['wall_ms']:.2f} ms wall and {base['cpu_ms']:.2f} ms CPU each"
    )


if __name__ == "__main__":
    main()

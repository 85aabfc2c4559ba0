"""Long operations started from a page (a close of business, a dashboard refresh, an import) run in a
background thread; the page polls the job's status with HTMX until it is done.

Jobs live in the serving process's memory (`daihou serve` is one process on 127.0.0.1): a restart
forgets running jobs' progress, never their effect — the operations themselves are idempotent and
write their own records (cob_runs, dashboard_figures, import results).
"""

from __future__ import annotations

import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

KEEP = 50  # finished jobs remembered


@dataclass
class Job:
    id: str
    kind: str
    started_by: str
    status: str = "running"  # running, done, failed
    step: str = ""
    done: int = 0
    total: int = 0
    result: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    started_at: float = field(default_factory=time.time)
    finished_at: float | None = None

    @property
    def percent(self) -> int:
        if self.status != "running":
            return 100
        return int(100 * self.done / self.total) if self.total else 0

    def progress(self, step: str, done: int, total: int) -> None:
        """The batch's `Progress` callback shape."""
        self.step, self.done, self.total = step, done, total


_jobs: dict[str, Job] = {}
_lock = threading.Lock()


def start(kind: str, started_by: str, work: Callable[[Job], dict[str, Any]]) -> Job:
    """Run `work(job)` in a thread; it reports progress through `job.progress` and returns a result."""
    job = Job(uuid.uuid4().hex[:12], kind, started_by)
    with _lock:
        _jobs[job.id] = job
        finished = [j for j in _jobs.values() if j.status != "running"]
        for old in sorted(finished, key=lambda j: j.started_at)[:-KEEP]:
            _jobs.pop(old.id, None)

    def run() -> None:
        try:
            job.result = work(job) or {}
            job.status = "done"
        except Exception as exc:  # the page shows it; the traceback goes to the server log
            traceback.print_exc()
            job.error = f"{type(exc).__name__}: {exc}"[:500]
            job.status = "failed"
        finally:
            job.finished_at = time.time()

    threading.Thread(target=run, name=f"daihou-job-{job.id}", daemon=True).start()
    return job


def get(job_id: str) -> Job | None:
    return _jobs.get(job_id)


def running(kind: str) -> Job | None:
    return next((j for j in _jobs.values() if j.kind == kind and j.status == "running"), None)


def recent(limit: int = 10) -> list[Job]:
    return sorted(_jobs.values(), key=lambda j: -j.started_at)[:limit]

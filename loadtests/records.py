"""Per-attempt records in the results schema, kept by each Locust process and written as its own CSV.

Why a file per process: workers (local `--processes`, or other machines) share nothing but the plan; each
writes `attempts-<tag>.csv` and `arrivals-<tag>.json` into the run directory, and the CLI merges them after
the run. Late and dropped starts are counted here, so an overloaded swarm reports what it could not do.
No locust import.
"""

from __future__ import annotations

import csv
import json
import os
import socket
from pathlib import Path

from scenarios.results import ATTEMPT_COLUMNS

#: A start this much after its intended time is "late": beyond scheduling jitter, the swarm fell behind.
LATE_MS = 100.0
#: A start this late is dropped instead: the shopper has left, and an overloaded swarm stops digging
#: itself deeper. Dropped arrivals are counted (never silently skipped) and reported with the summary.
DROP_AFTER_S = 10.0
#: A journey's requests, one row each (`requests-<tag>.csv`): which session, what kind, when, how it went.
REQUEST_COLUMNS = ("session", "kind", "t_start", "t_end", "status", "ok")


class Recorder:
    def __init__(self, plan, tag: str | None = None):
        self.plan = plan
        self.tag = tag or f"{socket.gethostname()}-{os.getpid()}"
        self.rows: list[dict] = []
        self.requests: list[tuple] = []
        self.stats = {"scheduled": 0, "started": 0, "late": 0, "dropped": 0, "max_lag_ms": 0.0, "t0": None,
                      "index": 0, "count": 1}
        self.written = False

    def lag(self, t_intended: float, t_start: float) -> str:
        """Count one start: "ok", "late" or "drop" (then no request is sent)."""
        lag_ms = (t_start - t_intended) * 1000.0
        self.stats["max_lag_ms"] = max(self.stats["max_lag_ms"], round(lag_ms, 3))
        if lag_ms > DROP_AFTER_S * 1000.0:
            self.stats["dropped"] += 1
            return "drop"
        self.stats["started"] += 1
        if lag_ms > LATE_MS:
            self.stats["late"] += 1
            return "late"
        return "ok"

    def add(self, attempt_id: str, user_id: str, sku: str, t_intended: float, t_start: float, t_end: float,
            answer) -> None:
        p = self.plan
        self.rows.append({"run_id": p.run_id, "engine": "swarm", "scenario": p.scenario, "strategy": p.strategy,
                          "attempt_id": attempt_id, "user_id": user_id, "sku": sku, "warehouse": answer.warehouse,
                          "qty": p.qty, "t_intended": t_intended, "t_start": t_start, "t_end": t_end,
                          "outcome": answer.outcome.value, "retries": answer.retries,
                          "order_id": answer.order_id, "resolved_late": answer.resolved_late})

    def request(self, session: str, kind: str, t_start: float, t_end: float, status: int, ok: bool) -> None:
        self.requests.append((session, kind, t_start, t_end, status, ok))

    def write(self, out_dir: str | Path, never_started: int = 0) -> Path:
        """Write this process's CSV and counts; `never_started`: arrivals the run ended before."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        self.stats["dropped"] += never_started
        self.stats["attempts"] = len(self.rows)
        path = out / f"attempts-{self.tag}.csv"
        tmp = path.with_suffix(".tmp")
        with tmp.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(ATTEMPT_COLUMNS))
            w.writeheader()
            w.writerows(self.rows)
        tmp.replace(path)
        if self.requests:
            with (out / f"requests-{self.tag}.csv").open("w", newline="") as f:
                w = csv.writer(f)
                w.writerow(REQUEST_COLUMNS)
                w.writerows(self.requests)
        (out / f"arrivals-{self.tag}.json").write_text(json.dumps(self.stats, indent=2))
        self.written = True
        return path

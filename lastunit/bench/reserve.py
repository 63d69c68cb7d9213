"""Hot-row reservation throughput: the service per strategy, against raw pgbench running the same SQL.

Both sides hit one SKU with stock that never runs out, closed loop, C clients. pgbench runs the guarded
statement straight from `sql/reserve.sql` (it reads the same `:name` parameters), so the ratio says what the
service and each strategy's extra round trips cost over the bare statement on the same server, same run.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import numpy as np

from reference_impl.infra.settings import database_url
from reference_impl.inventory.reserve import SQL_DIR

#: Enough units that a bench never sells out: sold-out answers would measure a different path.
BENCH_STOCK = 1_000_000_000
BASELINE_BLOCK = "reserve_guarded"


def named_block(name: str) -> str:
    """The text of one `-- name:` block, comments dropped: what pgbench runs."""
    for path in sorted(Path(str(SQL_DIR)).glob("*.sql")):
        for block in re.split(r"^-- name: ", path.read_text(), flags=re.M)[1:]:
            head, _, body = block.partition("\n")
            if head.strip().rstrip("^$!<*#") == name:
                lines = [ln for ln in body.splitlines() if not ln.strip().startswith("--")]
                return " ".join(" ".join(lines).split())
    raise KeyError(name)


def pgbench_binary(bindir: str | None) -> str | None:
    cand = Path(bindir) / "pgbench" if bindir else None
    return str(cand) if cand and cand.exists() else shutil.which("pgbench")


def pgbench(server_url: str, pgbench_bin: str, sku: str, clients: int, seconds: float) -> dict:
    url = urlsplit(database_url(server_url, "inventory"))
    script = ("\\set aid random(1, 9000000000000000000)\n"
              + named_block(BASELINE_BLOCK).replace(":attempt_id", "'pgb-' || :aid") + ";\n")
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "reserve.sql").write_text(script)
        cmd = [pgbench_bin, "-h", url.hostname, "-p", str(url.port), "-U", url.username, "-n", "-M", "prepared",
               "-c", str(clients), "-j", str(min(clients, 2)), "-T", str(max(1, round(seconds))), "-l",
               "-f", "reserve.sql", "-D", f"sku={sku}", "-D", "warehouse=wh-1", "-D", "qty=1",
               "-D", "strategy=pgbench", "-D", "ttl_s=86400", url.path.lstrip("/")]
        out = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True,
                             env={"PGPASSWORD": url.password or "", "PATH": "/usr/bin:/bin"})
        if out.returncode != 0:
            raise RuntimeError(f"pgbench failed: {out.stderr.strip().splitlines()[-1:]}")
        lat_us = np.concatenate([np.loadtxt(f, usecols=2, ndmin=1) for f in Path(tmp).glob("pgbench_log.*")])
    tps = float(re.search(r"tps = ([\d.]+)", out.stdout).group(1))
    return {"ops_s": tps, "p50_ms": float(np.percentile(lat_us, 50)) / 1000,
            "p99_ms": float(np.percentile(lat_us, 99)) / 1000}


async def _client(session, body, stop_at, lat, counts):
    while time.perf_counter() < stop_at:
        t0 = time.perf_counter()
        async with session.post("/reservations", json=body) as r:
            payload = await r.json(content_type=None)
        lat.append(time.perf_counter() - t0)
        key = "won" if r.status in (200, 201) else "other"
        counts[key] += 1
        counts["retries"] += int(payload.get("retries", 0) or 0)


async def service(base: str, sku: str, strategy: str, clients: int, seconds: float) -> dict:
    body = {"sku": sku, "qty": 1, "strategy": strategy, "ttl_s": 86400, "naive_window_ms": 0}
    lat, counts = [], {"won": 0, "other": 0, "retries": 0}
    conn = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(base, connector=conn) as s:
        for _ in range(clients):       # warm the pool and the prepared statements
            async with s.post("/reservations", json=body) as r:
                await r.read()
        t0 = time.perf_counter()
        stop_at = t0 + seconds
        await asyncio.gather(*(_client(s, body, stop_at, lat, counts) for _ in range(clients)))
        wall = time.perf_counter() - t0
    ms = np.array(lat) * 1000
    return {"ops_s": counts["won"] / wall, "p50_ms": float(np.percentile(ms, 50)),
            "p99_ms": float(np.percentile(ms, 99)), "not_won": counts["other"], "retries": counts["retries"]}

"""Hot-row reservation throughput: the service per strategy, against raw pgbench running the same SQL.

Both sides hit one SKU, closed loop, C clients: a row with stock that never runs out, and a sold-out row
(every answer is out-of-stock: the crowd after the last unit). pgbench runs the guarded statement straight
from `sql/reserve.sql` (it reads the same `:name` parameters), so the ratio says what the service and each
strategy's round trips cost, or save (batching, the sold-out memory), over the bare statement on the same
server, same run. The service's clients are loadtests/wire.py connections, as the race's.
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

import numpy as np

from loadtests import wire
from loadtests.race import CONNECT_AT_ONCE
from reference_impl.infra.settings import database_url
from reference_impl.inventory.reserve import SQL_DIR

#: Enough units that a bench never sells out: sold-out answers would measure a different path.
BENCH_STOCK = 1_000_000_000
BASELINE_BLOCK = "reserve_guarded"
#: pgbench's -T counts its clients' connecting too: at 256 clients on a busy 2-core box that took over a
#: second, and a 1 s run processed nothing. Two seconds at least leaves time to measure.
PGBENCH_MIN_S = 2


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
               "-c", str(clients), "-j", str(min(clients, 2)), "-T", str(max(PGBENCH_MIN_S, round(seconds))), "-l",
               "-f", "reserve.sql", "-D", f"sku={sku}", "-D", "warehouse=wh-1", "-D", "qty=1",
               "-D", "strategy=pgbench", "-D", "ttl_s=86400", url.path.lstrip("/")]
        out = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True,
                             env={"PGPASSWORD": url.password or "", "PATH": "/usr/bin:/bin"})
        if out.returncode != 0:
            raise RuntimeError(f"pgbench failed: {out.stderr.strip().splitlines()[-1:]}")
        tps = re.search(r"tps = ([\d.]+)", out.stdout)
        if tps is None:
            raise RuntimeError(f"pgbench at {clients} clients processed no transaction in {seconds:g} s "
                               "(its clients were still connecting: a busy machine; try more --seconds)")
        lat_us = np.concatenate([np.loadtxt(f, usecols=2, ndmin=1) for f in Path(tmp).glob("pgbench_log.*")])
    tps = float(tps.group(1))
    return {"ops_s": tps, "p50_ms": float(np.percentile(lat_us, 50)) / 1000,
            "p99_ms": float(np.percentile(lat_us, 99)) / 1000}


async def _open(host: str, port: int, n: int) -> list[wire.Conn]:
    conns: list[wire.Conn] = []
    for i in range(0, n, CONNECT_AT_ONCE):
        conns += await asyncio.gather(*(wire.connect(host, port) for _ in range(min(CONNECT_AT_ONCE, n - i))))
    return conns


async def _client(conn: wire.Conn, raw: bytes, stop_at: float, lat: list, counts: dict) -> None:
    while time.perf_counter() < stop_at:
        t0 = time.perf_counter()
        status, _ = await conn.send(raw)
        lat.append(time.perf_counter() - t0)
        counts[status] = counts.get(status, 0) + 1


async def service(base: str, sku: str, strategy: str, clients: int, seconds: float,
                  sold_out: str | None = None) -> dict:
    """Closed loop: `clients` connections, each sending its next reservation when the last is answered.
    `ops_s` counts answers (a reservation, or out-of-stock on a sold-out row), not errors."""
    u = urlsplit(base)
    body = {"sku": sku, "qty": 1, "strategy": strategy, "ttl_s": 86400, "naive_window_ms": 0}
    if sold_out:
        body["sold_out"] = sold_out
    raw = wire.request("POST", "/reservations", f"{u.hostname}:{u.port}", body)
    lat: list[float] = []
    counts: dict[int, int] = {}
    conns = await _open(u.hostname, u.port, clients)
    try:
        await asyncio.gather(*(c.send(raw) for c in conns))   # warm: pool, prepared statements, the memory
        t0 = time.perf_counter()
        stop_at = t0 + seconds
        await asyncio.gather(*(_client(c, raw, stop_at, lat, counts) for c in conns))
        wall = time.perf_counter() - t0
    finally:
        for c in conns:
            c.close()
    ms = np.array(lat) * 1000
    answered = counts.get(201, 0) + counts.get(200, 0) + counts.get(409, 0)
    return {"ops_s": answered / wall, "p50_ms": float(np.percentile(ms, 50)),
            "p99_ms": float(np.percentile(ms, 99)), "won": counts.get(201, 0) + counts.get(200, 0),
            "out_of_stock": counts.get(409, 0), "errors": sum(counts.values()) - answered}


async def sell_out(base: str, sku: str) -> None:
    """Take a seeded SKU's one unit, so its row stands sold out (available 0) for the sold-out rows."""
    u = urlsplit(base)
    conn = await wire.connect(u.hostname, u.port)
    status, body = await conn.send(wire.request("POST", "/reservations", f"{u.hostname}:{u.port}",
                                                {"sku": sku, "qty": 1, "strategy": "guarded", "ttl_s": 86400}))
    conn.close()
    if status != 201:
        raise RuntimeError(f"could not sell out {sku}: {status} {body[:200]!r}")

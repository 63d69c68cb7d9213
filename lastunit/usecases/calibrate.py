"""`lastunit calibrate`: measure the real stack briefly, fit the model's step times, write the calibration.

What is measured (all on the running stack, nothing read from a table of typical values):
- a PostgreSQL round trip (read_counter by primary key, through asyncpg as the service uses it): `trip_ms`;
- a raw Redis PING round trip (half of it is one loopback hop: `network_ms`) and the reserve Lua script's
  round trip on a scratch key (minus PING: `redis_ms`);
- SAMPLES sequential single-client reservations per strategy through the inventory service's HTTP API, on
  a fresh SKU with plenty of stock (medians; their robust spread gives `cv`);
- a few contended real races (RACES, REPEATS times each, medians), which separate CPU that queues from
  time that does not;
- ONE_BUYER one-buyer races per strategy (the race client, a fresh SKU, a connection idle until the
  release): how much slower a race's lone request is than the warm sequential ones (`fresh_ms`);
  these three are taken in REPEATS rounds spread over the whole calibration (see `measure`);
- the saga's step times and CPU per checkout: `calibrate_saga`.
The fit itself is `sim.fit` (pure, unit-tested); this module only measures, calls it and explains.
"""

from __future__ import annotations

import secrets
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import numpy as np

from lastunit.aio import run_sync
from lastunit.progress import Progress
from lastunit.usecases import calibrate_saga, race_one
from loadtests.race import seed
from reference_impl import stack
from reference_impl.inventory.redis_mirror import _lua
from scenarios.paths import results_home
from scenarios.strategies import Strategy
from sim.fit import NOT_SHARED, Measurements, race_scenario

SAMPLES = 40            # sequential reservations per strategy: the median of 40 is stable to a few %
WARMUP = 5              # first requests pay for connection setup and plan caching: not service time
PINGS = 200             # raw Redis round trips (and PostgreSQL ones): sub-millisecond each, so many are cheap
INVENTORY_DB = "lastunit_inventory"
#: Contended races for the split (buyers, stock): sizes around and between the validation grid's (1, 16,
#: 64), never on it, so validation checks predictions on configurations the fit never saw. Without the
#: 8-buyer races the fit, seeing only 32 and 48, overshot every 16-buyer cell by 20-50%.
RACES = ((8, 1), (8, 8), (32, 1), (32, 32), (48, 1), (48, 48))
REPEATS = 6             # rounds (see measure): each contended race runs once per round; the fit reads medians
RACE_STRATEGIES = (Strategy.GUARDED, Strategy.PESSIMISTIC, Strategy.OPTIMISTIC)
ONE_BUYER = 9           # one-buyer races per strategy: each is a single sample, so take a median of several
def runs_home() -> Path:
    """Where calibrate's races keep their run directories: one folder, not a hundred under results/."""
    return results_home() / "calibration-runs"


def _resp(*parts) -> bytes:
    out = [f"*{len(parts)}\r\n".encode()]
    for p in parts:
        b = p if isinstance(p, bytes) else str(p).encode()
        out += [f"${len(b)}\r\n".encode(), b, b"\r\n"]
    return b"".join(out)


def _redis_round_trips(url: str, n: int) -> tuple[float, float]:
    """Median ms of a raw PING and of the reserve script (EVAL) on a scratch hash: no client library."""
    u = urlsplit(url)
    key = f"lastunit:calibrate:{secrets.token_hex(4)}"
    with socket.create_connection((u.hostname, u.port or 6379)) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def call(*parts) -> bytes:
            s.sendall(_resp(*parts))
            return s.recv(65536)

        if u.password:
            call("AUTH", u.password)
        call("HSET", key, "on_hand", 10**12, "reserved", 0)
        script = _lua("reserve.lua")
        times = {"ping": [], "eval": []}
        for _ in range(n):
            for name, parts in (("ping", ("PING",)), ("eval", ("EVAL", script, 1, key, 1))):
                t0 = time.perf_counter()
                call(*parts)
                times[name].append((time.perf_counter() - t0) * 1000)
        call("DEL", key)
    return float(np.median(times["ping"])), float(np.median(times["eval"]))


async def _pg_round_trips(url: str, sku: str, n: int) -> float:
    """Median ms of read_counter (a primary-key read, as most of the strategies' statements) from asyncpg:
    one database round trip as the service's driver sees it (its CPU, the hops, PostgreSQL's work)."""
    import asyncpg  # noqa: PLC0415 - only calibrate talks to PostgreSQL directly

    conn = await asyncpg.connect(url.rsplit("/", 1)[0] + "/" + INVENTORY_DB)
    try:
        stmt = await conn.prepare("SELECT on_hand, reserved, version FROM stock WHERE sku = $1 AND warehouse = $2")
        warehouse = await conn.fetchval("SELECT warehouse FROM stock WHERE sku = $1 LIMIT 1", sku)
        lat = []
        for _ in range(WARMUP + n):
            t0 = time.perf_counter()
            await stmt.fetchrow(sku, warehouse)
            lat.append((time.perf_counter() - t0) * 1000)
    finally:
        await conn.close()
    return float(np.median(lat[WARMUP:]))


async def _single_client(base: str, strategies, samples: int) -> tuple[dict[str, list[float]], str]:
    """Latency (ms) of sequential reservations, the strategies taking turns (round robin), and one SKU.

    Round robin, not one strategy after another: a busy machine drifts within seconds, and drift must not
    turn into a difference between strategies (which the fit reads as per-round-trip cost).
    """
    skus = {st: f"calib-{st.value}-{secrets.token_hex(4)}" for st in strategies}
    for sku in skus.values():
        await seed(base, sku, 10**6, 1)
    lat: dict[str, list[float]] = {st.value: [] for st in strategies}
    async with aiohttp.ClientSession(base) as s:
        for i in range(WARMUP + samples):
            for strategy, sku in skus.items():
                t0 = time.perf_counter()
                async with s.post("/reservations", json={"sku": sku, "qty": 1, "strategy": strategy.value,
                                                         "attempt_id": f"{sku}-{i}"}) as r:
                    await r.read()
                    if r.status != 201:
                        raise RuntimeError(f"calibrate: reservation answered {r.status}")
                if i >= WARMUP:
                    lat[strategy.value].append((time.perf_counter() - t0) * 1000)
    return lat, next(iter(skus.values()))


def _one_buyer_races(strategies, n: int, progress: Progress) -> dict[str, list[float]]:
    """Latency (ms) of `n` one-buyer races per strategy (round robin), each run as `race` and `validate` run
    it (`race_one`: seed, race, audit, write the run). Not back to back: a race fired while the service
    still closes the last one's connections measured 1 ms slower, which validation never sees."""
    out: dict[str, list[float]] = {st.value: [] for st in strategies}
    for _ in range(n):
        for strategy in strategies:
            r = race_one(race_scenario(strategy.value, 1, 1), "real", progress, parent=runs_home(), plot=False)
            out[strategy.value].append(r["p50_ms"])
    return out


def robust_cv(samples: list[float]) -> float:
    """Interquartile range over 1.349 (a normal's sigma), over the median: outliers do not inflate it."""
    q1, q2, q3 = np.percentile(samples, [25, 50, 75])
    return float((q3 - q1) / 1.349 / q2) if q2 > 0 else 0.0


def measure(samples: int = SAMPLES, races=RACES, progress: Progress | None = None) -> Measurements:
    """Everything the fit needs, in REPEATS rounds: each round takes its share of the single-client
    reservations and one-buyer races, then one run of every contended race.

    Why rounds: this machine's speed drifts by +-25% within a minute (a pure-Python loop timed every 1.5 s
    ranged 88-150 ms with nothing else running). Single-client latencies taken in one half-second burst
    were a snapshot of that drift, and every prediction inherited it; spread over the whole calibration,
    their medians describe the machine as validation, which also takes medians over time, will see it.
    """
    progress = progress or Progress(enabled=False)
    stack.ensure_up()
    base = stack.service_url("inventory")
    progress.step("redis round trips")
    ping, ev = _redis_round_trips(stack.server_url("redis"), PINGS)
    progress.done(f"PING {ping:.3f} ms, reserve script {ev:.3f} ms")
    # the naive control alone: its 20 ms sleep idles the loop, and the request after it would start cold
    safe = [st for st in Strategy if st.value not in NOT_SHARED]
    groups = (safe, [st for st in Strategy if st not in safe])
    per_round, race1_per_round = -(-samples // REPEATS), -(-ONE_BUYER // REPEATS)
    single: dict[str, list[float]] = {st.value: [] for st in Strategy}
    race1: dict[str, list[float]] = {st.value: [] for st in Strategy}
    cvs: list[float] = []
    cells = [(strategy.value, buyers, stock) for strategy in RACE_STRATEGIES for buyers, stock in races]
    runs: dict[tuple, list[dict]] = {c: [] for c in cells}
    sku = None
    for n in range(REPEATS):
        progress.step(f"round {n + 1}/{REPEATS}: {per_round} single-client reservations and "
                      f"{race1_per_round} one-buyer races per strategy, {len(cells)} contended races")
        for group in groups:
            lat, sku = run_sync(_single_client(base, group, per_round))
            for k, v in lat.items():
                single[k] += v
                cvs.append(robust_cv(v))
            for k, v in _one_buyer_races(group, race1_per_round, Progress(enabled=False)).items():
                race1[k] += v
        for c in cells:                      # round robin again: drift spreads over every cell alike
            runs[c].append(race_one(race_scenario(*c), "real", Progress(enabled=False), parent=runs_home(), plot=False))
        progress.done("single-client " + ", ".join(f"{k} {np.median(v):.2f}" for k, v in single.items()) + " ms")
    progress.step("PostgreSQL round trips")
    trip = run_sync(_pg_round_trips(stack.server_url("postgres"), sku, PINGS))
    progress.done(f"read_counter {trip:.3f} ms")
    rows = [{"strategy": st, "buyers": b, "stock": k,
             "p50_ms": float(np.median([r["p50_ms"] for r in runs[(st, b, k)]])),
             "throughput_per_s": float(np.median([b / r["wall_s"] for r in runs[(st, b, k)]])),
             "run_dirs": [r["run_dir"] for r in runs[(st, b, k)]]} for st, b, k in cells]
    return Measurements(network_ms=ping / 2, redis_ms=max(ev - ping, 0.0),
                        single_ms={k: float(np.median(v)) for k, v in single.items()}, races=rows,
                        race1_ms={k: float(np.median(v)) for k, v in race1.items()}, trip_ms=trip,
                        cv=float(np.median(cvs)))


STEP_NOTES = {"client_ms": "race client loop CPU per request", "http_ms": "service loop CPU per request",
              "win_ms": "service loop CPU per winning request only (its reservation, its reply)",
              "latency_ms": "per request delay that holds no CPU",
              "driver_ms": "service loop CPU per round trip", "sql_ms": "PostgreSQL time per statement",
              "commit_ms": "PostgreSQL time per COMMIT (= sql_ms, see sim/fit.py)", "network_ms": "one loopback hop (measured)",
              "redis_ms": "reserve script in Redis (measured)", "cv": "step spread (measured)"}


def explain_text(cal) -> list[str]:
    ex = cal.explain
    lines = ["measured: single-client median latency (ms) per strategy: " + ", ".join(
        f"{k} {v:.2f}" for k, v in ex["measured"]["single_client_p50_ms"].items()),
        f"measured: Redis hop {cal.network_ms:.4f} ms, script {cal.redis_ms:.4f} ms, cv {cal.cv:.3f}",
        ("measured" if ex["measured"].get("trip_ms") is not None else "fitted (NNLS)")
        + f" round trip, fitted base (median over strategies): {ex['linear_fit']['theta']}; "
        f"per-strategy extras {cal.strategy_ms}",
        f"fitted (grid over {len(ex['grid'])} splits): client share {ex['client_share']}, "
        f"driver share {ex['driver_share']}, delay share {ex.get('delay_share', 0.0)}, "
        f"win share {ex.get('win_share', 0.0)}, sum of absolute log errors {ex['objective']}",
        "measured: one-buyer race median latency (ms): " + ", ".join(
            f"{k} {v:.2f}" for k, v in ex["measured"].get("one_buyer_race_p50_ms", {}).items()),
        f"fresh (one-buyer race minus the fitted single-client latency, a delay in races): {cal.fresh_ms}"]
    lines += [f"  {k:>10} = {getattr(cal, k):8.4f}  {v}" for k, v in STEP_NOTES.items()]
    lines += calibrate_saga.explain_lines(cal.saga)
    lines += ["contended races (real vs model after the fit):"]
    lines += [f"  {r['strategy']:>12} {r['buyers']:>3}x{r['stock']:<3} p50 {r['p50_ms_real']:7.2f} vs "
              f"{r['p50_ms_sim']:7.2f} ms, throughput {r['throughput_per_s_real']:8.1f} vs "
              f"{r['throughput_per_s_sim']:8.1f}/s" for r in ex["contended_fit"]]
    return lines

"""`lastunit bench soak`: one open-model checkout rate held for minutes, watched minute by minute.

The question a soak answers is whether a long-lived stack slows down or grows: the baseline is the run's
own first minute (answers per second in the last minute over the first), and the bounded tables (every
outbox, every de-duplication table, the payment service's seen webhooks, the provider's delivered events
and their attempts) and the bus's streams are counted every SAMPLE_S. With the retention short
(`LAB_RETENTION_S=60`), pruning keeps them at a level set by the rate, so after the warm-up their counts
stay flat; a table nobody prunes grows with the run and shows as `flat: false`. Business rows (orders,
charges, notifications) are the shop's record and grow by design: not counted.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import psycopg

from reference_impl.infra.settings import database_url

#: How often the bounded tables and streams are counted while the load runs.
SAMPLE_S = 10.0
#: database -> the tables pruning keeps bounded (scenarios/policy.py RETENTION_S).
BOUNDED = {
    "orders": ("outbox", "processed_events"),
    "payments": ("outbox", "webhook_events"),
    "shipping": ("outbox", "processed_events"),
    "notifications": ("processed_events",),
    "psp": ("events", "webhook_attempts"),
}
#: Throughput in the last minute within this fraction of the first; a bounded count in the last minute at
#: most this much above its level right after the warm-up.
THROUGHPUT_TOLERANCE = 0.10
GROWTH_TOLERANCE = 0.25


def warmup_s(retention_s: float) -> float:
    """Until the first rows have aged past the retention and a prune (every quarter of it) has run."""
    return max(120.0, 2 * retention_s)


class Counter:
    """Counts the bounded tables and the group streams every SAMPLE_S in a thread, until `stop()`."""

    def __init__(self, server_url: str, redis, t0: float):
        self.server, self.redis, self.t0 = server_url, redis, t0
        self.samples: list[dict] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="soak-counter", daemon=True)

    def start(self) -> Counter:
        self._thread.start()
        return self

    def stop(self) -> list[dict]:
        self._stop.set()
        self._thread.join()
        return self.samples

    def sample(self) -> dict:
        row = {"t_s": round(time.time() - self.t0, 1)}
        for db, tables in BOUNDED.items():
            with psycopg.connect(database_url(self.server, db), autocommit=True) as conn:
                for t in tables:
                    row[f"{db}.{t}"] = conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # noqa: S608
        for key in sorted(k.decode() for k in self.redis.scan_iter(match="lastunit:events:*", _type="stream")):
            row[f"stream.{key.rsplit(':', 1)[1]}"] = self.redis.xlen(key)
        return row

    def _run(self) -> None:
        while True:
            self.samples.append(self.sample())
            if self._stop.wait(SAMPLE_S):
                self.samples.append(self.sample())
                return


def per_minute(rows: list[dict], t0: float, minutes: int) -> list[dict]:
    """Answers per second and p99 from the intended start, per minute of intended starts."""
    out = []
    for m in range(minutes):
        lo, hi = t0 + 60 * m, t0 + 60 * (m + 1)
        mine = [r for r in rows if lo <= r["t_intended"] < hi]
        lat = [(r["t_end"] - r["t_intended"]) * 1000 for r in mine]
        out.append({"minute": m + 1, "checkouts": len(mine),
                    "answers_s": round(float(sum(lo <= r["t_end"] < hi for r in rows)) / 60, 2),
                    "p99_ms": round(float(np.percentile(lat, 99)), 1) if lat else None})
    return out


def verdict(minutes: list[dict], samples: list[dict], retention_s: float) -> dict:
    """Throughput last minute against first, and each bounded count's growth after the warm-up."""
    first, last = minutes[0]["answers_s"], minutes[-1]["answers_s"]
    ratio = round(last / first, 3) if first else None
    settled = [s for s in samples if s["t_s"] >= warmup_s(retention_s)]
    end = samples[-1]["t_s"] if samples else 0.0
    growth = {}
    if len(settled) >= 2:
        base = settled[0]
        tail = [s for s in settled if s["t_s"] >= end - 60] or settled[-1:]
        for k in base:
            if k == "t_s":
                continue
            level = max(s.get(k, 0) for s in tail)
            growth[k] = round(level / base[k], 3) if base[k] else (None if level else 1.0)
    flat = all(g is not None and g <= 1 + GROWTH_TOLERANCE for g in growth.values()) if growth else None
    return {"throughput_ratio": ratio,
            "throughput_steady": bool(ratio is not None and abs(ratio - 1) <= THROUGHPUT_TOLERANCE),
            "growth_after_warmup": growth, "bounded_flat": flat, "warmup_s": warmup_s(retention_s)}


def retention_of_stack() -> float:
    """The retention the running services were started with (`LAB_RETENTION_S` at `lastunit up`)."""
    from reference_impl import stack  # noqa: PLC0415
    from reference_impl.infra.supervised import running_config  # noqa: PLC0415
    from scenarios.policy import retention_s  # noqa: PLC0415

    cfg = running_config(stack.lab_home()) or {}
    env = cfg.get("programs", {}).get("orders", {}).get("env", {})
    return retention_s(env.get("LAB_RETENTION_S"))


def soak(rate: float, minutes: int, strategy: str, progress) -> dict:
    """Hold `rate` checkouts/s for `minutes` through the orders service; count, settle, audit."""
    import redis  # noqa: PLC0415

    from lastunit.aio import run_sync  # noqa: PLC0415
    from lastunit.bench.checkout import SKUS, STOCK, scenario_at  # noqa: PLC0415
    from lastunit.usecases.checkout_rung import settle  # noqa: PLC0415
    from lastunit.usecases.saga import installed  # noqa: PLC0415
    from loadtests.checkouts import run_load  # noqa: PLC0415
    from loadtests.race import seed  # noqa: PLC0415
    from reference_impl import stack  # noqa: PLC0415
    from reference_impl.audit.saga import audit_saga  # noqa: PLC0415
    from scenarios import results  # noqa: PLC0415

    retention = retention_of_stack()
    if retention > minutes * 60 / 3:
        raise ValueError(f"the stack keeps events for {retention:g} s, too long to see pruning in a {minutes}-minute "
                         f"soak: lastunit down && LAB_RETENTION_S=60 lastunit up")
    sc = scenario_at(rate, minutes * 60.0, strategy)
    run_id = results.new_run_id("soak")
    skus = [f"{run_id}-{i}" for i in range(SKUS)]
    for sku in skus:
        run_sync(seed(stack.service_url("inventory"), sku, STOCK, 1))
    server = stack.server_url("postgres")
    r = redis.from_url(stack.server_url("redis"))
    progress.step(f"{rate:g} checkouts/s for {minutes} min ({strategy}), counting every {SAMPLE_S:g} s")
    with installed(sc, run_id):
        t0 = time.time()
        counter = Counter(server, r, t0).start()
        try:
            rows = run_sync(run_load(sc, stack.service_url("orders"), run_id, skus))
            open_left, _ = settle(server, [x["attempt_id"] for x in rows])
        finally:
            samples = counter.stop()
    r.close()
    first = min(x["t_intended"] for x in rows)
    minutes_rows = per_minute(rows, first, minutes)
    audit = audit_saga(server, run_id + "-")
    lat = [(x["t_end"] - x["t_intended"]) * 1000 for x in rows]
    out = {"name": "soak", "strategy": strategy, "clients": "open", "ops_s": minutes_rows[-1]["answers_s"],
           "p50_ms": round(float(np.percentile(lat, 50)), 1), "p99_ms": round(float(np.percentile(lat, 99)), 1),
           "baseline": "the first minute of the same run", "baseline_ops_s": minutes_rows[0]["answers_s"],
           "rate": rate, "minutes": minutes, "retention_s": retention,
           "attempts": len(rows), "won": sum(x["outcome"] == "won" for x in rows), "unfinished": open_left,
           "audit_ok": bool(audit["ok"]), "per_minute": minutes_rows, "samples": samples}
    out |= verdict(minutes_rows, samples, retention)
    out["ratio"] = out["throughput_ratio"]
    progress.done(f"last minute / first: {out['throughput_ratio']}, bounded tables flat: {out['bounded_flat']}, "
                  f"audit {'clean' if out['audit_ok'] else 'BROKEN'}")
    return out


def figure(result: dict):
    """Answers per second by minute beside each bounded count over time (warm-up shaded)."""
    from matplotlib.figure import Figure  # noqa: PLC0415

    fig = Figure(figsize=(11, 4))
    a, b = fig.subplots(1, 2)
    m = result["per_minute"]
    a.plot([x["minute"] for x in m], [x["answers_s"] for x in m], marker="o")
    a.axhline(result["rate"], color="grey", ls=":", label=f"offered {result['rate']:g}/s")
    a.set(xlabel="minute", ylabel="answers per second", ylim=(0, None),
          title=f"throughput, last/first = {result['throughput_ratio']}")
    a.legend()
    s = result["samples"]
    for k in (k for k in (s[0] if s else {}) if k != "t_s"):
        b.plot([x["t_s"] for x in s], [x.get(k, 0) for x in s], label=k)
    b.axvspan(0, result["warmup_s"], color="grey", alpha=0.15, label="warm-up")
    b.set(xlabel="seconds", ylabel="rows / entries", title=f"bounded tables (retention {result['retention_s']:g} s)")
    b.legend(fontsize=6, ncol=2)
    return fig

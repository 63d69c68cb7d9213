"""`lastunit bench NAME`: measured performance as ratios to a baseline run in the same process."""

from __future__ import annotations

import json

import pandas as pd

from lastunit.aio import run_sync
from lastunit.bench import reserve as br
from lastunit.progress import Progress
from lastunit.tables import print_table
from loadtests.race import seed
from reference_impl import stack
from scenarios import results
from scenarios.paths import results_home
from scenarios.strategies import SoldOut, Strategy, parse, sold_out_mode

#: Per measurement of `reserve` and `checkout` (`idle` watches for 30 s).
DEFAULT_SECONDS = 4.0
COLUMNS = ("name", "strategy", "clients", "ops_s", "p50_ms", "p99_ms", "baseline", "baseline_ops_s", "ratio")
CHECKOUT_COLUMNS = (*COLUMNS, "sagas_s", "cpu_ms_per_checkout")
STEP_COLUMNS = ("strategy", "rate", "answers_s", "sagas_s", "p50_ms", "p99_ms", "cpu_ms_per_checkout", "audit_ok")
RESERVE_COLUMNS = ("name", "strategy", "stock", "sold_out", "clients", "ops_s", "p50_ms", "p99_ms",
                   "baseline_ops_s", "ratio")


#: The most clients a row may ask for: 1,024 sockets a side, within the box's 20,000 open files.
MAX_CLIENTS = 1024
#: Sold-out rows: the strategy of today (guarded) and the batched one, each with the short-circuit off and on.
SOLD_OUT_STRATEGIES = (Strategy.GUARDED, Strategy.BATCHED)
ROWS = ("stocked", "sold-out", "both")


def _clients(text: str) -> list[int]:
    try:
        vals = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ValueError(f"--clients {text!r}: expected numbers like 1,16,64") from None
    if not vals or any(v < 1 or v > MAX_CLIENTS for v in vals):
        raise ValueError(f"--clients: between 1 and {MAX_CLIENTS} each")
    return vals


def _row(strategy: Strategy, c: int, stock: str, mode: SoldOut, m: dict, baseline: dict | None) -> dict:
    b_ops = baseline["ops_s"] if baseline else None
    return {"name": "reserve", "strategy": strategy.value, "clients": c, **m,
            "baseline": f"pgbench {br.BASELINE_BLOCK}, {stock} row" if baseline else None,
            "baseline_ops_s": b_ops, "baseline_p50_ms": baseline and baseline["p50_ms"],
            "baseline_p99_ms": baseline and baseline["p99_ms"],
            "ratio": round(m["ops_s"] / b_ops, 3) if b_ops else None, "stock": stock, "sold_out": mode.value}


def reserve(args, progress: Progress) -> list[dict]:
    """Per client count: raw pgbench on a stocked row, every strategy through the service on one; then
    pgbench on a sold-out row, and guarded and batched on one with the short-circuit off and on."""
    clients = _clients(args.clients)
    strategies = list(Strategy) if args.strategy == "all" else [parse(args.strategy)]
    rows_kind = getattr(args, "rows", "both")
    stack.ensure_up()
    base, server = stack.service_url("inventory"), stack.server_url("postgres")
    pgb = br.pgbench_binary(stack.load_state().get("postgres", {}).get("bindir"))
    run = results.new_run_id("bench")
    rows = []

    def measure(c: int, label: str, sku: str) -> dict | None:
        progress.step(f"pgbench {br.BASELINE_BLOCK}, {label} row, {c} clients")
        try:
            baseline = br.pgbench(server, pgb, sku, c, args.seconds) if pgb else None
        except RuntimeError as exc:     # its rows keep their own figures, without a ratio
            progress.done(f"no baseline: {exc}")
            return None
        progress.done(f"{baseline['ops_s']:.0f} ops/s" if baseline else "no pgbench here: no baseline")
        return baseline

    for c in clients:
        if rows_kind in ("stocked", "both"):
            sku = f"bench-{run}-pgbench-{c}"
            run_sync(seed(base, sku, br.BENCH_STOCK, 1))
            baseline = measure(c, "stocked", sku)
            for s in strategies:
                progress.step(f"service {s.value}, {c} clients")
                sku = f"bench-{run}-{s.value}-{c}"
                run_sync(seed(base, sku, br.BENCH_STOCK, 1))
                m = run_sync(br.service(base, sku, s.value, c, args.seconds))
                rows.append(_row(s, c, "stocked", sold_out_mode(s, None), m, baseline))
                progress.done(f"{m['ops_s']:.0f} ops/s, p99 {m['p99_ms']:.1f} ms")
        if rows_kind in ("sold-out", "both"):
            sku = f"bench-{run}-soldout-{c}"
            run_sync(seed(base, sku, 1, 1))
            run_sync(br.sell_out(base, sku))
            baseline = measure(c, "sold-out", sku)
            for s in (x for x in SOLD_OUT_STRATEGIES if x in strategies):
                for mode in (SoldOut.OFF, SoldOut.ON):
                    progress.step(f"service {s.value} on a sold-out row, short-circuit {mode.value}, {c} clients")
                    m = run_sync(br.service(base, sku, s.value, c, args.seconds, mode.value))
                    rows.append(_row(s, c, "sold-out", mode, m, baseline))
                    progress.done(f"{m['ops_s']:.0f} answers/s, p99 {m['p99_ms']:.1f} ms")
    return rows


def checkout(args, progress: Progress) -> list[dict]:
    """Per strategy, the open-model checkout ladder (`usecases.checkout_rung.rung`: answers/s, whole
    sagas/s, p50/p99, CPU per checkout per process, audit) up to the highest rate whose p99 stays under the
    target, beside the reservation alone on the same ladder: ratio = checkout knee / reservation knee."""
    from lastunit.bench import checkout as bc  # noqa: PLC0415
    from lastunit.usecases import checkout_rung  # noqa: PLC0415

    strategies = [s for s in Strategy if s != Strategy.NAIVE] if args.strategy == "all" else [parse(args.strategy)]
    try:
        rates = sorted(float(r) for r in args.rates.split(",") if r.strip())
    except ValueError:
        raise ValueError(f"--rates {args.rates!r}: expected numbers like 10,20,40") from None
    if not rates or rates[0] <= 0 or rates[-1] > 5000:
        raise ValueError("--rates: between 0 and 5000 per second")
    stack.ensure_up()
    urls = {n: stack.service_url(n) for n in ("inventory", "orders")}
    tag = results.new_run_id("bench")
    progress.step(f"idle background, {checkout_rung.IDLE_S:g} s")
    idle = checkout_rung.idle_rates()
    progress.done(f"{sum(idle.values()) * 100:.2f}% of one core")
    progress.step(f"warm-up, {strategies[0].value} at {rates[0]:g}/s for {checkout_rung.WARMUP_S:g} s (not measured)")
    checkout_rung.rung(strategies[0].value, rates[0], checkout_rung.WARMUP_S, f"{tag}-warmup", {})
    progress.done("done")
    rows = []
    for s in strategies:
        say = lambda m: progress.done(m) if progress.enabled else None  # noqa: E731
        steps, best = [], 0.0
        for rate in rates:
            progress.step(f"checkouts, {s.value}, {rate:g}/s for {args.seconds:g} s, then the whole sagas")
            st = checkout_rung.rung(s.value, rate, args.seconds, tag, idle)
            steps.append(st)
            progress.done(f"p99 {st['p99_ms']:.0f} ms, answers {st['answers_s']}/s, whole sagas {st['sagas_s']}/s, "
                          f"{st['cpu_ms_per_checkout']:.1f} ms CPU per checkout")
            if st["p99_ms"] > bc.P99_TARGET_MS:
                break
            best = rate
        progress.step(f"reservation ladder (baseline), {s.value}")
        base, base_steps = run_sync(bc.ladder("reserve", urls, s.value, rates, args.seconds, tag, say))
        top = next((x for x in reversed(steps) if x["rate"] == best), steps[0])
        rows.append({"name": "checkout", "strategy": s.value, "clients": "open", "ops_s": best,
                     "p50_ms": top["p50_ms"], "p99_ms": top["p99_ms"], "baseline": "reservation alone, same ladder",
                     "baseline_ops_s": base, "ratio": round(best / base, 3) if base else None,
                     "answers_s": top["answers_s"], "sagas_s": top["sagas_s"],
                     "cpu_ms_per_checkout": top["cpu_ms_per_checkout"], "cpu_ms_by_process": top["cpu_ms_by_process"],
                     "audit_ok": all(x["audit_ok"] for x in steps), "p99_target_ms": bc.P99_TARGET_MS,
                     "steps": steps, "baseline_steps": base_steps})
    return rows


def _plain(value):
    """numpy scalars (a measurement's arithmetic can hand them back) as the Python values JSON knows."""
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON")


def main(args) -> int:
    if args.seconds is None:
        from lastunit.bench.idle import SECONDS as IDLE_SECONDS  # noqa: PLC0415

        args.seconds = IDLE_SECONDS if args.name == "idle" else DEFAULT_SECONDS
    if args.seconds <= 0 or args.seconds > 600:
        raise ValueError("--seconds: between 0 and 600")
    progress = Progress(enabled=not args.json)
    if args.name == "idle":
        from lastunit.bench.idle import measure  # noqa: PLC0415

        rows = [measure(args.seconds, progress)]
    elif args.name == "checkout":
        rows = checkout(args, progress)
    elif args.name == "soak":
        from lastunit.usecases.soak import soak  # noqa: PLC0415

        if args.strategy == "all":
            args.strategy = "guarded"
        if not 0 < args.rate <= 2000 or not 1 <= args.minutes <= 60:
            raise ValueError("soak: --rate between 0 and 2000 per second, --minutes between 1 and 60")
        rows = [soak(args.rate, args.minutes, parse(args.strategy).value, progress)]
    elif args.name == "sim":
        from lastunit.bench.sim import run as sim_bench  # noqa: PLC0415

        rows = sim_bench(args.seconds)
    else:
        rows = reserve(args, progress)
    out = results_home() / "bench"
    out.mkdir(parents=True, exist_ok=True)
    stem = results.new_run_id(args.name)
    if args.name == "soak":                     # tidy tables a notebook loads: one row per minute, per sample
        from lastunit.bench.soak import figure  # noqa: PLC0415
        from lastunit.plots import save  # noqa: PLC0415

        pd.DataFrame(rows[0]["samples"]).to_csv(out / f"{stem}-samples.csv", index=False)
        save(figure(rows[0]), out / f"{stem}.png")
        pd.DataFrame(rows[0]["per_minute"]).to_csv(out / f"{stem}.csv", index=False)
    else:
        pd.DataFrame(rows).to_csv(out / f"{stem}.csv", index=False)
    (out / f"{stem}.json").write_text(json.dumps(rows, indent=2, default=_plain))
    if args.json:
        print(json.dumps(rows, indent=2, default=_plain))
    elif args.name == "idle":
        r = rows[0]
        print(f"idle stack: {r['cpu_pct_of_one_core']:.2f}% of one core over {r['seconds']:g} s "
              f"(the whole machine: {r['machine_cpu_pct_of_one_core']:.0f}%)")
        print_table([{"process": k, "cpu_pct": v} for k, v in r["cpu_pct_by_process"].items()], ("process", "cpu_pct"))
    elif args.name == "soak":
        r = rows[0]
        print_table(r["per_minute"], ("minute", "checkouts", "answers_s", "p99_ms"))
        print(f"last minute / first: {r['throughput_ratio']} (steady: {r['throughput_steady']}); bounded tables and "
              f"streams after {r['warmup_s']:g} s: flat {r['bounded_flat']} "
              + ", ".join(f"{k} x{v}" for k, v in r["growth_after_warmup"].items()))
        print(f"audit {'clean' if r['audit_ok'] else 'BROKEN'}, unfinished orders {r['unfinished']}")
    elif args.name == "checkout":
        print_table([st | {"strategy": r["strategy"]} for r in rows for st in r["steps"]], STEP_COLUMNS)
        print_table(rows, CHECKOUT_COLUMNS)
        for r in rows:
            print(f"{r['strategy']} at {r['ops_s']:g}/s, CPU ms per checkout: "
                  + ", ".join(f"{k} {v}" for k, v in r["cpu_ms_by_process"].items() if v))
    else:
        print_table(rows, RESERVE_COLUMNS if args.name == "reserve" else tuple(rows[0]))
    if not args.json:
        print(f"written to {out / stem}.csv and .json")
    return 0

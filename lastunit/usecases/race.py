"""Racing buyers for the last units, on the real stack or the model: one strategy, one run directory.

Why here and not in the `race` verb: the CLI, `validate`, `calibrate`, the notebooks and the tests all race,
and each wants the comparison row, not the printing.
"""

from __future__ import annotations

from pathlib import Path

from lastunit.aio import run_sync
from lastunit.progress import Progress
from lastunit.usecases.record import record_run
from loadtests.race import race, seed
from loadtests.race_lines import buyer_lines, line_skus
from reference_impl import stack
from reference_impl.audit.inventory import audit_inventory, audit_liveness, with_liveness
from scenarios.liveness import Refusal
from scenarios.results import Outcome, new_run_id
from scenarios.spec import Scenario, ScenarioError
from scenarios.strategies import INFO, Strategy


def _rows_real(sc: Scenario, run_id: str, sku: str, released: float, answers) -> list[dict]:
    skus = line_skus(sku, sc.load.lines)
    return [{"run_id": run_id, "engine": "real", "scenario": sc.name, "strategy": sc.inventory.strategy.value,
             "attempt_id": f"{sku}-b{i}", "user_id": f"buyer-{i}",
             "sku": sku if sc.load.lines == 1 else "+".join(buyer_lines(skus, i)), "warehouse": a.warehouse,
             "qty": sc.load.qty, "t_intended": released, "t_start": a.t_start, "t_end": a.t_end,
             "outcome": a.outcome.value, "retries": a.retries, "order_id": None, "resolved_late": False}
            for i, a in enumerate(answers)]


def judged(sc: Scenario, from_memory: bool) -> bool:
    """Which refusals the liveness check judges: all of them, but for the redis strategy only those from the
    sold-out memory. Redis decides before PostgreSQL records the grant, so the availability rebuilt from
    PostgreSQL still shows a unit Redis has already given away: its own refusals would be false alarms."""
    return from_memory or sc.inventory.strategy is not Strategy.REDIS


def _real(sc: Scenario, run_id: str, progress: Progress, base: str | None = None) -> tuple[list[dict], float, dict, dict]:
    base = base or stack.service_url("inventory")
    sku = f"hot-{run_id}"

    skus = [sku] if sc.load.lines == 1 else line_skus(sku, sc.load.lines)

    async def go():
        for s in skus:
            await seed(base, s, sc.catalog.hot_stock, sc.catalog.warehouses)
        return await race(base, sc, sku, progress.count)

    released, answers = run_sync(go())
    wall = max(a.t_end for a in answers) - released
    if sc.load.lines > 1:   # no sold-out memory on the multi-line path, so no liveness to judge
        audit = audit_inventory(stack.server_url("postgres"), skus)
        return _rows_real(sc, run_id, sku, released, answers), wall, audit, {}
    refused = [Refusal(f"{sku}-b{i}", sku, None, sc.load.qty, a.t_start, a.t_end)
               for i, a in enumerate(answers) if a.outcome is Outcome.OUT_OF_STOCK and judged(sc, a.from_memory)]
    audit = with_liveness(audit_inventory(stack.server_url("postgres"), [sku]),
                          audit_liveness(stack.server_url("postgres"), refused))
    return _rows_real(sc, run_id, sku, released, answers), wall, audit, {}


def _sim(sc: Scenario, run_id: str, progress: Progress) -> tuple[list[dict], float, dict, dict]:
    """The model's rows, and its stats under `model` in the summary (what it leaves out included)."""
    if sc.load.lines > 1:
        from sim import basket  # noqa: PLC0415 - the model loads only when asked for

        return basket.simulate(sc, run_id)
    from sim.engine import simulate  # noqa: PLC0415 - the model loads only when asked for

    out = simulate(sc, run_id)
    return out.rows, out.wall_s, out.audit, {"model": out.stats}


def race_one(sc: Scenario, engine: str, progress: Progress, parent: Path | None = None,
             plot: bool = True, inventory_url: str | None = None) -> dict:
    """Run one strategy on one engine, write its run directory (under `parent` if given; its latency plot
    unless `plot` is False: a grid of hundreds of runs has its own plots), return the comparison row.
    `inventory_url`: race another inventory than the stack's (e.g. one run as several processes)."""
    strategy = sc.inventory.strategy
    if sc.load.lines > 1 and engine != "real" and strategy is not Strategy.PESSIMISTIC:
        raise ScenarioError("load.lines: the basket model (sim/basket.py) runs pessimistic only")
    run_id = new_run_id("race", f"{strategy.value}-{engine}")
    what = f"{sc.catalog.hot_stock} unit(s)" if sc.load.lines == 1 else \
        f"{sc.catalog.hot_stock} set(s) of {sc.load.lines} lines, lock order {sc.inventory.lock_order.value}"
    progress.step(f"{strategy.value:>12} on {engine}: {sc.load.buyers} buyers, {what}")
    rows, wall, audit, extra = (_real(sc, run_id, progress, inventory_url) if engine == "real"
                                else _sim(sc, run_id, progress))
    summary, path = record_run(sc, run_id, engine, rows, wall, audit, parent=parent, extra=extra,
                               plot_title=f"{strategy.value} ({engine}): latency by outcome" if plot else None)
    oversold = audit["oversold_units"] + audit["control_oversold_units"]
    row = {"strategy": strategy.value, "engine": engine, "buyers": sc.load.buyers, "stock": sc.catalog.hot_stock,
           "warehouses": sc.catalog.warehouses, **{k: summary[k] for k in
           ("won", "out_of_stock", "failed", "unknown", "retries", "p50_ms", "p99_ms", "wall_s")},
           "oversold_units": oversold, "control": INFO[strategy].control, "audit_ok": audit["ok"],
           "lines": sc.load.lines, "lock_order": sc.inventory.lock_order.value,
           "deadlocks": audit.get("deadlocks", 0), "partial_groups": audit.get("partial_groups", 0),
           "breaches": audit["breaches"] + audit["expected_control_breaches"], "run_dir": str(path)}
    locks = f", deadlocks {row['deadlocks']}, half reserved {row['partial_groups']}" if sc.load.lines > 1 else ""
    progress.done(f"won {row['won']}, out of stock {row['out_of_stock']}, oversold {oversold}{locks} ({wall:.2f}s)")
    return row


def verdict(rows: list[dict], comparing: bool) -> tuple[int, list[str]]:
    """Exit code and notes. Comparing all strategies, the control must breach and nobody else may."""
    code, notes = 0, []
    for r in rows:
        breached = bool(r["breaches"]) or r["oversold_units"] > 0
        if r["control"] and comparing:
            if breached:
                notes.append(f"{r['strategy']} ({r['engine']}): oversold {r['oversold_units']}: the expected "
                             "breach of the control, proving the auditor sees oversell")
            else:
                code = 1
                notes.append(f"{r['strategy']} ({r['engine']}): the control did NOT oversell, so this run "
                             "proves nothing: raise --buyers or inventory.naive_window_ms")
        elif r.get("lock_order") == "request" and r.get("lines", 1) > 1 and r["buyers"] > 1 and not breached:
            if r["deadlocks"]:
                who = "PostgreSQL" if r["engine"] == "real" else "the model's detector"
                notes.append(f"{r['strategy']} ({r['engine']}): {r['deadlocks']} deadlock(s) broken by {who} "
                             "under the request-order control, each victim refused (nothing held); nothing "
                             "oversold or half reserved")
            else:
                code = 1
                notes.append(f"{r['strategy']} ({r['engine']}): the request-order control did NOT deadlock, "
                             "so this run proves nothing")
        elif breached:
            code = 1
            first = r["breaches"][0] if r["breaches"] else {}
            notes.append(f"BREACH {r['strategy']} ({r['engine']}): {first.get('invariant', 'oversold')} "
                         f"{first.get('detail', '')} witnesses {first.get('witnesses', [])}")
    return code, notes

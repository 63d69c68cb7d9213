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
from reference_impl import stack
from reference_impl.audit.inventory import audit_inventory, audit_liveness, with_liveness
from scenarios.liveness import Refusal
from scenarios.results import Outcome, new_run_id
from scenarios.spec import Scenario
from scenarios.strategies import INFO


def _rows_real(sc: Scenario, run_id: str, sku: str, released: float, answers) -> list[dict]:
    return [{"run_id": run_id, "engine": "real", "scenario": sc.name, "strategy": sc.inventory.strategy.value,
             "attempt_id": f"{sku}-b{i}", "user_id": f"buyer-{i}", "sku": sku, "warehouse": a.warehouse,
             "qty": sc.load.qty, "t_intended": released, "t_start": a.t_start, "t_end": a.t_end,
             "outcome": a.outcome.value, "retries": a.retries, "order_id": None, "resolved_late": False}
            for i, a in enumerate(answers)]


def _real(sc: Scenario, run_id: str, progress: Progress, base: str | None = None) -> tuple[list[dict], float, dict, dict]:
    base = base or stack.service_url("inventory")
    sku = f"hot-{run_id}"

    async def go():
        await seed(base, sku, sc.catalog.hot_stock, sc.catalog.warehouses)
        return await race(base, sc, sku, progress.count)

    released, answers = run_sync(go())
    wall = max(a.t_end for a in answers) - released
    refused = [Refusal(f"{sku}-b{i}", sku, None, sc.load.qty, a.t_start, a.t_end)
               for i, a in enumerate(answers) if a.outcome is Outcome.OUT_OF_STOCK]
    audit = with_liveness(audit_inventory(stack.server_url("postgres"), [sku]),
                          audit_liveness(stack.server_url("postgres"), refused))
    return _rows_real(sc, run_id, sku, released, answers), wall, audit, {}


def _sim(sc: Scenario, run_id: str, progress: Progress) -> tuple[list[dict], float, dict, dict]:
    """The model's rows, and its stats under `model` in the summary (what it leaves out included)."""
    from sim.engine import simulate  # noqa: PLC0415 - the model loads only when asked for

    out = simulate(sc, run_id)
    return out.rows, out.wall_s, out.audit, {"model": out.stats}


def race_one(sc: Scenario, engine: str, progress: Progress, parent: Path | None = None,
             plot: bool = True, inventory_url: str | None = None) -> dict:
    """Run one strategy on one engine, write its run directory (under `parent` if given; its latency plot
    unless `plot` is False: a grid of hundreds of runs has its own plots), return the comparison row.
    `inventory_url`: race another inventory than the stack's (e.g. one run as several processes)."""
    strategy = sc.inventory.strategy
    run_id = new_run_id("race", f"{strategy.value}-{engine}")
    progress.step(f"{strategy.value:>12} on {engine}: {sc.load.buyers} buyers, {sc.catalog.hot_stock} unit(s)")
    rows, wall, audit, extra = (_real(sc, run_id, progress, inventory_url) if engine == "real"
                                else _sim(sc, run_id, progress))
    summary, path = record_run(sc, run_id, engine, rows, wall, audit, parent=parent, extra=extra,
                               plot_title=f"{strategy.value} ({engine}): latency by outcome" if plot else None)
    oversold = audit["oversold_units"] + audit["control_oversold_units"]
    row = {"strategy": strategy.value, "engine": engine, "buyers": sc.load.buyers, "stock": sc.catalog.hot_stock,
           "warehouses": sc.catalog.warehouses, **{k: summary[k] for k in
           ("won", "out_of_stock", "failed", "unknown", "retries", "p50_ms", "p99_ms", "wall_s")},
           "oversold_units": oversold, "control": INFO[strategy].control, "audit_ok": audit["ok"],
           "breaches": audit["breaches"] + audit["expected_control_breaches"], "run_dir": str(path)}
    progress.done(f"won {row['won']}, out of stock {row['out_of_stock']}, oversold {oversold} ({wall:.2f}s)")
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
        elif breached:
            code = 1
            first = r["breaches"][0] if r["breaches"] else {}
            notes.append(f"BREACH {r['strategy']} ({r['engine']}): {first.get('invariant', 'oversold')} "
                         f"{first.get('detail', '')} witnesses {first.get('witnesses', [])}")
    return code, notes

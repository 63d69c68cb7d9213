# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 05 · Prime Day: a deal drops, the swarm and the model side by side
#
# A quiet shop, then a deal goes live and the checkout rate jumps tens of times within a second. Three
# questions: does anybody get a unit that was already sold (the audit), where does latency go while the
# spike lasts, and does the SimPy model see the same thing as the real stack?
#
# Both engines replay **the same crowd**: the arrival instants and SKUs come from the scenario's seed
# (`scenarios/arrivals.py`), so the swarm's buyers and the model's buyers are the same people. Latency is
# measured from each buyer's *intended* start, so a stack that falls behind shows it.
#
# The spike here is compressed (a few seconds, a peak of a few hundred per second) so the notebook runs on a
# laptop and in CI; `lastunit swarm prime_day_burst --processes 2` runs the full minute.

# %% tags=["parameters"]
SHAPE = "[{at_s=0, rate=10}, {at_s=3, rate=10}, {at_s=4, rate=200}, {at_s=6, rate=200}, {at_s=9, rate=20}, {at_s=12, rate=10}]"
DURATION_S = 12
STRATEGY = "guarded"

# %%
import json
import subprocess
import sys

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from reference_impl import stack
from scenarios.arrivals import rate_at
from scenarios.arrivals import stages as stages_of
from scenarios.loader import load
from scenarios.results import frame, read_run, summarize
from sim.engine import simulate

stack.ensure_up()
OVERRIDES = [f"load.shape={SHAPE}", f"load.duration_s={DURATION_S}", f"inventory.strategy={STRATEGY}"]
scenario = load("prime_day_burst", OVERRIDES)

# %% [markdown]
# ## The swarm: Locust against the real stack
#
# `lastunit swarm` runs Locust in its own process (Locust patches the interpreter with gevent), seeds the
# SKUs, runs the open-model crowd, audits and writes the run directory.

# %%
cmd = [sys.executable, "-m", "lastunit.cli", "swarm", "prime_day_burst", "--json"]
for o in OVERRIDES:
    cmd += ["--set", o]
proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
assert proc.returncode == 0, proc.stderr[-2000:]
swarm_summary = json.loads(proc.stdout)
real, _, real_audit = read_run(swarm_summary["run_dir"])
print(f"swarm: {len(real)} checkouts, audit ok = {real_audit['ok']}, oversold = {swarm_summary['oversold_units']},"
      f" late starts = {swarm_summary['arrivals']['late']}")

# %% [markdown]
# ## The model: the same scenario in SimPy

# %%
out = simulate(scenario, "nb05-sim")
model = frame(out.rows)
model_summary = summarize(model, out.wall_s)
print(f"model: {len(model)} checkouts in {out.wall_s:.1f} simulated s; audit ok = {out.audit['ok']}")

# %% [markdown]
# ## Side by side

# %%
cols = ["attempts", "won", "out_of_stock", "failed", "unknown", "p50_ms", "p90_ms", "p99_ms", "max_ms"]
side = pd.DataFrame({"swarm (real)": {k: swarm_summary[k] for k in cols},
                     "model (sim)": {k: model_summary[k] for k in cols}})
side

# %%
def per_bin(df: pd.DataFrame, width: float = 0.5) -> pd.DataFrame:
    t = df["t_intended"] - df["t_intended"].min()
    lat = (df["t_end"] - df["t_intended"]) * 1000
    b = (t // width) * width
    g = pd.DataFrame({"bin": b, "lat": lat}).groupby("bin")["lat"]
    return pd.DataFrame({"rate": g.size() / width, "p50": g.quantile(0.5), "p99": g.quantile(0.99)})


r, m = per_bin(real), per_bin(model)
stages = stages_of(scenario.load)
xs = np.linspace(0, DURATION_S, 200)
fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
ax1.plot(xs, rate_at(stages, xs), "k--", lw=1, label="target rate (scenario)")
ax1.step(r.index, r.rate, where="post", label="swarm: checkouts started /s")
ax1.step(m.index, m.rate, where="post", label="model: checkouts started /s", alpha=0.8)
ax1.set_ylabel("checkouts per second")
ax1.legend()
ax2.plot(r.index, r.p99, label="swarm p99", color="#1d3557")
ax2.plot(r.index, r.p50, label="swarm p50", color="#457b9d")
ax2.plot(m.index, m.p99, "--", label="model p99", color="#c1121f")
ax2.plot(m.index, m.p50, "--", label="model p50", color="#e76f51")
ax2.set_yscale("log")
ax2.set_ylabel("latency from intended start (ms)")
ax2.set_xlabel("seconds into the run")
ax2.legend()
fig.tight_layout()

# %%
real_hot = real[real.sku.str.contains("-hot-")]
sold_real = int((real_hot.outcome == "won").sum())
print(f"deal SKUs: {scenario.catalog.hot_skus} x {scenario.catalog.hot_stock} units; swarm sold {sold_real}, "
      f"model sold {int((model[model.sku.str.startswith('hot-')].outcome == 'won').sum())}")
assert real_audit["ok"] and swarm_summary["oversold_units"] == 0, "no unit may be sold twice"
assert sold_real <= scenario.catalog.hot_skus * scenario.catalog.hot_stock
assert len(real) == len(model), "both engines replay the same crowd"

# %% [markdown]
# **Reading it.** Both engines replay the same arrivals, so the top panel's two step lines follow the same
# target. The deal SKUs sell out within the spike; every later buyer hears "out of stock" and the audit finds
# no unit sold twice. Latency climbs with the spike where the stack, not the crowd, is the limit: on two cores
# the single inventory worker and the swarm share the machine. The model's latencies depend on its step times:
# until `lastunit calibrate` has fitted them to this machine, read its curve as the *shape* of the answer
# (where queueing starts, how fast it drains), not its absolute milliseconds; `lastunit validate` measures
# how far apart the two are.

"""The SimPy twin of the inventory reservation race: the same scenario, modelled instead of run.

Why a model beside the real stack: it runs a Prime-Day hour in seconds, it is deterministic for a seed (so
a test can pin its output), and when it and the real stack disagree, one of them is wrong about the
semantics, which is the cheapest bug report this lab can produce.

Entry points: `sim.engine.simulate(scenario, run_id)` and `lastunit.bench.sim.run(seconds)`. Service times come
from `sim.calibration`; every strategy's semantics live in `sim.reserve`, named after the real module.
"""

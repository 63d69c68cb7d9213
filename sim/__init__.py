"""The SimPy model of the shop: the reservation race and open and closed loads (`sim.engine`), and the whole
checkout saga (`sim.saga`), driven by the same scenario and crowd as the real stack, modelled instead of run.

Why a model beside the real stack: it runs a Prime-Day hour in minutes, it is deterministic for a seed (so
a test can pin its output), and when it and the real stack disagree, one of them is wrong about the
semantics, which is the cheapest bug report this lab can produce.

Entry points: `sim.engine.simulate(scenario, run_id)` (races and loads), `sim.saga_run.simulate_saga` (the
saga). Service times come from `sim.calibration`; every strategy's semantics live in `sim.reserve`, named
after the real module. The model imports only `scenarios/` (the contract), never the real stack.
"""

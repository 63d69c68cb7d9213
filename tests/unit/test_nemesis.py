"""The nemesis as a scenario declares it: the schema and its one-line errors, the seeded schedule, the
scheduler's order and its record; and the lease that lets faults die with their run."""

from __future__ import annotations

import threading
import time

import pytest

from lastunit.usecases.nemesis import COLUMNS, Scheduler, frame
from reference_impl.infra.run_config import owned
from reference_impl.services import SERVICES
from scenarios.loader import load
from scenarios.nemesis import SERVICE_NAMES, Event, NemesisAction, schedule
from scenarios.spec import ScenarioError


def test_the_contract_names_exactly_the_services_the_stack_runs():
    assert set(SERVICE_NAMES) == set(SERVICES)


def test_fixed_and_random_events_from_toml_and_set(tmp_path):
    f = tmp_path / "n.toml"
    f.write_text('name = "n"\n[load]\nmodel = "open"\nduration_s = 5\nshape = [{at_s = 0, rate = 2}]\n'
                 '[[nemesis]]\nat_s = 1.5\ntarget = "payment"\n'
                 '[[nemesis]]\nat_s = 2\ntarget = "postgres"\n'
                 '[[nemesis]]\nrandom = { count = 3, seed = 7, targets = ["orders", "redis"] }\n')
    sc = load(str(f))
    events = schedule(sc.nemesis, sc.load.duration_s)
    assert events[:0] == [] and len(events) == 5
    assert Event(1.5, "payment", NemesisAction.KILL) in events
    assert Event(2.0, "postgres", NemesisAction.RESTART) in events
    drawn = [e for e in events if e.target in ("orders", "redis")]
    assert len(drawn) == 3 and all(0 <= e.at_s < 5 for e in drawn)
    assert [e.at_s for e in events] == sorted(e.at_s for e in events)
    assert schedule(load(str(f)).nemesis, 5) == events            # the seed fixes the schedule
    via_set = load("payment_crash", ['nemesis=[{at_s=1, target="supervisor"}]'])
    assert schedule(via_set.nemesis, via_set.load.duration_s) == [Event(1.0, "supervisor", NemesisAction.KILL)]


@pytest.mark.parametrize(("entry", "message"), [
    ('{at_s=1, target="paymnt"}', "nemesis[0].target: unknown target 'paymnt' (choose from"),
    ('{at_s=1, target="postgres", action="kill"}', "nemesis[0].action: postgres takes restart, not kill"),
    ('{at_s=1, target="redis", action="restart"}', "nemesis[0].action: redis takes kill, not restart"),
    ('{at_s=99, target="redis"}', "nemesis[0].at_s: while the load runs"),
    ('{at_s=-1, target="redis"}', "nemesis[0].at_s: while the load runs"),
    ('{target="redis"}', "nemesis[0]: needs at_s and target"),
    ('{random={count=0}}', "nemesis[0].random.count: between 1 and 100"),
    ('{random={count=2, seed=-1}}', "nemesis[0].random.seed"),
    ('{random={count=2, targets=["x"]}}', "nemesis[0].random.targets: unknown target 'x'"),
    ('{random={count=2}, at_s=1}', "either random"),
    ('{random={seed=2}}', "nemesis[0].random: missing"),
    ('{at_s=1, target="redis", action="explode"}', "unknown NemesisAction 'explode'"),
    ('{at_s=1, target="redis", when=3}', "nemesis[0].when: unknown key"),
])
def test_bad_nemesis_entries_fail_in_one_line_naming_the_key(entry, message):
    with pytest.raises(ScenarioError) as err:
        load("payment_crash", [f"nemesis=[{entry}]"])
    assert message in str(err.value) and "\n" not in str(err.value)


def test_scheduler_applies_in_time_order_records_each_and_skips_what_the_load_outlived():
    applied, gate, second = [], threading.Event(), threading.Event()

    def apply(ev):
        applied.append((ev.target, time.monotonic()))
        if ev.target == "orders":
            second.set()
            raise RuntimeError("the kill failed")     # a failed action is a row, not the end of the run
        if ev.target == "payment":
            gate.set()
        return {"ok": True, "pid": 42, "recovered_s": 0.1}

    events = [Event(0.0, "payment", NemesisAction.KILL), Event(0.05, "orders", NemesisAction.KILL),
              Event(60.0, "redis", NemesisAction.KILL)]
    s = Scheduler(events, apply).start()
    assert gate.wait(10) and second.wait(10)
    rows = s.finish()
    assert [r["target"] for r in rows] == ["payment", "orders", "redis"]
    assert rows[0]["ok"] and rows[0]["pid"] == 42 and rows[0]["t_s"] >= 0
    assert not rows[1]["ok"] and "RuntimeError: the kill failed" in rows[1]["detail"]
    assert not rows[2]["ok"] and rows[2]["t_s"] is None and "skipped" in rows[2]["detail"]
    assert applied[0][1] <= applied[1][1]
    assert list(frame(rows).columns) == list(COLUMNS)
    assert Scheduler([], apply).start().finish() == []


def test_a_scenario_is_owned_only_by_a_run_with_a_live_lease():
    now = 1000.0
    assert owned({"run_id": "r", "expires_at": now + 1, "faults": []}, now)
    assert not owned({"run_id": "r", "expires_at": now - 1, "faults": [{}]}, now)   # restored after its time
    assert not owned({"faults": [{"point": "payment.before_reply"}]}, now)          # written before leases


def test_the_model_accepts_a_nemesis_and_lists_it_as_not_modelled():
    from sim.saga_run import simulate_saga

    sc = load("payment_crash", ["load.duration_s=1", "load.shape=[{at_s=0, rate=4}]",
                                'nemesis=[{at_s=0.5, target="payment"}, {at_s=0.7, target="postgres"}]'])
    run = simulate_saga(sc, "t-nemesis")
    assert run.stats["nemesis_not_modelled"] == ["kill:payment@0.5s", "restart:postgres@0.7s"]
    assert run.rows

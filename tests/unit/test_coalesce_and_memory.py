"""The batched strategy's two pure parts: how batches form (coalesce.py) and what the sold-out memory may
trust (soldout.py). No servers: batches are formed against a fake runner that we release by hand."""

from __future__ import annotations

import asyncio

import pytest

from reference_impl.inventory.coalesce import Coalescer
from reference_impl.inventory.soldout import SoldOutMemory
from scenarios.strategies import INFO, SoldOut, Strategy, sold_out_mode


class Gate:
    """A batch runner that records each batch and waits until the test opens it."""

    def __init__(self):
        self.batches: list[tuple] = []
        self.open: list[asyncio.Event] = []

    async def run(self, key, items):
        done = asyncio.Event()
        self.batches.append((key, list(items)))
        self.open.append(done)
        await done.wait()
        return [f"{key}:{i}" for i in items]


def test_asks_arriving_while_a_batch_is_in_flight_ride_in_the_next_one():
    async def go():
        gate = Gate()
        c = Coalescer(gate.run, max_batch=100)
        first = asyncio.create_task(c.submit("k", 0))
        await asyncio.sleep(0)                        # the lone first ask goes at once, alone
        rest = [asyncio.create_task(c.submit("k", i)) for i in range(1, 6)]
        other = asyncio.create_task(c.submit("j", 9))    # another key is not held up by k
        for _ in range(3):
            await asyncio.sleep(0)
        assert [b for b in gate.batches] == [("k", [0]), ("j", [9])]
        gate.open[0].set()
        assert await first == "k:0"
        for _ in range(3):
            await asyncio.sleep(0)
        assert gate.batches[2] == ("k", [1, 2, 3, 4, 5])     # arrival order, one batch
        gate.open[1].set()
        gate.open[2].set()
        assert await asyncio.gather(*rest) == [f"k:{i}" for i in range(1, 6)]
        assert await other == "j:9"
        assert (c.batches, c.asks) == (3, 7)
    asyncio.run(go())


def test_batches_are_capped_and_an_error_reaches_every_waiter_of_its_batch():
    async def go():
        calls = []

        async def run(key, items):
            calls.append(list(items))
            await asyncio.sleep(0)
            if 3 in items:
                raise RuntimeError("database gone")
            return [ValueError(f"bad {i}") if i == 1 else i for i in items]

        c = Coalescer(run, max_batch=2)
        out = await asyncio.gather(*(c.submit("k", i) for i in range(5)), return_exceptions=True)
        assert calls == [[0, 1], [2, 3], [4]]      # all five were waiting when the first batch left
        assert out[0] == 0 and out[4] == 4
        assert isinstance(out[1], ValueError)                          # one ask's own failure
        assert all(isinstance(x, RuntimeError) for x in out[2:4])      # the whole batch's failure
    asyncio.run(go())


def test_sold_out_defaults_per_strategy():
    assert sold_out_mode(Strategy.BATCHED, None) is SoldOut.ON
    assert sold_out_mode(Strategy.GUARDED, "auto") is SoldOut.OFF
    assert sold_out_mode(Strategy.GUARDED, "on") is SoldOut.ON
    assert [s for s in Strategy if INFO[s].sold_out] == [Strategy.BATCHED]


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def _memory():
    clock = Clock()
    m = SoldOutMemory(max_age_s=0.5, clock=clock)
    m.start_listening()
    return m, clock


def test_memory_refuses_what_it_learned_until_a_return_is_heard_or_it_is_too_old():
    m, clock = _memory()
    e = m.epoch("s")
    assert m.learn("s", None, 1, ["a-won"], e, SoldOut.ON)
    assert m.refuses("s", None, 1, "b", SoldOut.ON)
    assert m.refuses("s", "wh-1", 1, None, SoldOut.ON)       # sold out everywhere covers one warehouse
    assert not m.refuses("s", None, 1, "a-won", SoldOut.ON)   # a winner's retry goes to the database
    assert not m.refuses("t", None, 1, "b", SoldOut.ON)
    m.heard_return("s", "wh-1")
    assert not m.refuses("s", None, 1, "b", SoldOut.ON)
    assert m.learn("s", None, 1, [], m.epoch("s"), SoldOut.ON)
    clock.t = 0.6
    assert not m.refuses("s", None, 1, "b", SoldOut.ON)


def test_a_return_heard_while_the_question_was_in_flight_stops_the_lesson():
    m, _ = _memory()
    e = m.epoch("s")                   # read before asking the database
    m.heard_return("s", "wh-1")        # a release committed after our snapshot
    assert not m.learn("s", None, 1, [], e, SoldOut.ON)
    assert not m.refuses("s", None, 1, "b", SoldOut.ON)


def test_nothing_is_trusted_while_not_listening_and_small_asks_still_go_through():
    m, _ = _memory()
    assert m.learn("s", "wh-1", 2, [], m.epoch("s"), SoldOut.ON)
    assert not m.refuses("s", "wh-1", 1, "b", SoldOut.ON)     # 2 did not fit; 1 might
    assert m.refuses("s", "wh-1", 3, "b", SoldOut.ON)
    m.stop_listening()
    assert not m.refuses("s", "wh-1", 3, "b", SoldOut.ON)
    assert not m.learn("s", "wh-1", 2, [], m.epoch("s"), SoldOut.ON)


@pytest.mark.parametrize("event", ["return", "age", "deaf"])
def test_the_stale_control_never_forgets(event):
    m, clock = _memory()
    assert m.learn("s", None, 1, [], m.epoch("s"), SoldOut.STALE)
    if event == "return":
        m.heard_return("s", "wh-1")
    elif event == "age":
        clock.t = 1e6
    else:
        m.stop_listening()
    assert m.refuses("s", None, 1, "b", SoldOut.STALE)
    assert not m.refuses("s", None, 1, "b", SoldOut.ON)       # the control's table is its own

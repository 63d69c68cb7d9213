"""The inventory service: HTTP in, a pooled connection, the warehouse walk, HTTP out.

Covers: a connection pool as a Station, the service's one event loop and the race client's one event
    loop as a Cpu (one burst at a time, first come first served), step times drawn per step.
Scenario: each checkout attempt reaches the service after one network hop, takes its HTTP parsing on the
    service loop, waits for one of POOL_SIZE PostgreSQL connections, asks for the SKU's warehouses fullest
    first (one statement), and tries them in that order with the scenario's strategy, as `reserve.py` does;
    every round trip costs driver CPU on the loop. In a race one client process sends and reads every
    request, so its loop is a Cpu too; open and closed loads come from many processes (no client loop).

Why the loops: on this machine a race is CPU-bound in Python (measured by `lastunit calibrate`: the
    single-client latency explains only a fraction of a 64-buyer makespan); pure delays cannot queue.
"""

from __future__ import annotations

import simpy

from scenarios.policy import INVENTORY_POOL_SIZE
from scenarios.results import Outcome
from scenarios.spec import Scenario
from scenarios.strategies import BACKOFF_BASE_S, BACKOFF_CAP_S, SoldOut, Starved, Strategy, sold_out_mode
from sim.batch import Batcher
from sim.calibration import DEFAULT, Calibration
from sim.queueing import Cpu, Station
from sim.reserve import ATTEMPT
from sim.soldout import Memory
from sim.stock import Stockroom
from sim.streams import Jitter, Uniform, spawn

#: The real inventory service's pool (LAB_INVENTORY_POOL, default 16), the very number it uses.
POOL_SIZE = INVENTORY_POOL_SIZE
#: Redis runs scripts on one thread: one Lua check at a time, whoever sent it.
REDIS_THREADS = 1
#: uvicorn runs one worker process for the inventory service: one event loop does all its Python work.
SERVICE_LOOPS = 1
#: Strategies whose single-client latency is mostly a deliberate sleep (the naive control's read-to-write
#: window): what they have beyond their step counts is the sleep's overshoot (timer slack, a wakeup), a
#: delay that holds no CPU. Charging it to the loop made 16 naive buyers queue for 35 ms they never spend.
SLEEPERS = frozenset({Strategy.NAIVE})

WON, OUT_OF_STOCK, FAILED = Outcome.WON.value, Outcome.OUT_OF_STOCK.value, Outcome.FAILED.value


class Shop:
    """The model's state: clock, pool, Redis, stock rows, random streams, step times and counters."""

    def __init__(self, scenario: Scenario, calibration: Calibration | None = None, loops: int = SERVICE_LOOPS):
        cal = calibration or DEFAULT
        self.scenario, self.calibration = scenario, cal
        self.env = env = simpy.Environment()
        # `loops` > 1: that many uvicorn workers, each with its own pool, sharing one queue (an approximation)
        self.pool = Station(env, POOL_SIZE * loops)
        self.redis = Station(env, REDIS_THREADS)
        self.loop = Cpu(env, loops)
        self.client = Cpu(env, 1) if scenario.load.model == "race" else None
        self.strategy: Strategy = scenario.inventory.strategy
        mode = sold_out_mode(self.strategy, scenario.inventory.sold_out)
        self.memory = Memory(self, mode) if mode is not SoldOut.OFF else None
        self.batcher = Batcher(self) if self.strategy is Strategy.BATCHED else None
        self.stock = Stockroom(env, scenario, self.memory.heard_return if self.memory else None)
        self.rng = spawn(scenario.seed)
        self.jitter = Jitter(self.rng["service"], cal.cv)
        self.uniform = Uniform(self.rng["backoff"])
        self.strategy_name = self.strategy.value
        self.qty = scenario.load.qty
        self.naive_window_s = scenario.inventory.naive_window_ms / 1000
        # a race's naive barrier: readers counted in after their read; the last one releases the rest
        race = scenario.load.model == "race" and self.strategy == Strategy.NAIVE
        self.naive_readers = min(scenario.load.buyers, POOL_SIZE * loops) if race else 0
        self.naive_arrived, self.naive_go = 0, env.event()
        ms, net = 1e-3, cal.network_ms * 2   # a round trip is two hops
        self.rtt_s = net * ms                 # BEGIN, ROLLBACK, a Redis call's network part
        self.inbound_s = cal.network_ms * ms
        self.http_half_s = cal.http_ms / 2 * ms      # request parsing before the pool, reply after it
        self.client_half_s = cal.client_ms / 2 * ms  # sending, then reading the reply
        self.win_s = cal.win_ms * ms                  # loop CPU only a winning request pays
        self.driver_s = cal.driver_ms * ms
        self.extra_s = cal.extra_ms(self.strategy_name) * ms
        self.extra_holds_cpu = self.strategy not in SLEEPERS
        self.outbound_s = (cal.network_ms + cal.latency_ms) * ms   # the reply's hop carries the pure delay
        self.stmt_s = (net + cal.sql_ms) * ms
        self.commit_s = (net + cal.commit_ms) * ms
        self.redis_s = cal.redis_ms * ms
        # a race's one request on a connection idle since the barrier: a delay, not CPU (see sim/fit.py)
        self.fresh_s = cal.fresh(self.strategy_name) * ms if scenario.load.model == "race" else 0.0
        self.records: list[tuple] = []
        self.counters = dict.fromkeys(("lock_waits", "lock_timeouts", "cas_misses", "aborts",
                                       "mirror_loads", "starved"), 0)
        self.lock_wait_s = 0.0

    def naive_arrive(self):
        """Count a naive racer's read in; the event fires when the race's last reader has read (None: no
        barrier here, an open load or a lone buyer)."""
        if self.naive_readers < 2:
            return None
        self.naive_arrived += 1
        if self.naive_arrived == self.naive_readers:
            self.naive_go.succeed()
        return self.naive_go

    def waited_for_lock(self, seconds: float) -> None:
        self.counters["lock_waits"] += 1
        self.lock_wait_s += seconds

    def hold(self, cpu: Cpu, seconds: float):
        """Run `seconds` of CPU on an event loop, queued behind the bursts already on it."""
        yield self.env.timeout(cpu.run(seconds * self.jitter()))

    def db(self, seconds: float, trips: int = 1):
        """`trips` round trips to PostgreSQL or Redis: driver CPU on the service loop, then the wait."""
        if self.driver_s:
            yield from self.hold(self.loop, trips * self.driver_s)
        yield self.env.timeout(seconds * self.jitter())

    def send(self, trips: int = 1):
        """The driver CPU of `trips` round trips only: what a statement's snapshot must come after."""
        if self.driver_s:
            yield from self.hold(self.loop, trips * self.driver_s)

    def wait(self, seconds: float):
        """The database's (or network's) part of a round trip whose driver CPU was already `send`."""
        return self.env.timeout(seconds * self.jitter())

    def each(self, seconds: float, trips: int):
        """`trips` round trips that each queue on the loop by themselves: separate awaits while a row lock
        is held, so every one waits behind whatever the loop has queued (lumping them would hide that)."""
        if trips == 1 or not self.driver_s:
            yield from self.db(seconds, trips)
            return
        per = seconds / trips
        for _ in range(trips):
            yield from self.hold(self.loop, self.driver_s)
            yield self.env.timeout(per * self.jitter())

    def backoff(self, attempt: int) -> float:
        """reserve.py's full jitter: uniform(0, min(cap, base * 2**attempt))."""
        return self.uniform() * min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** attempt)


def _fullest_first(rows):
    """candidate_warehouses: ORDER BY on_hand - reserved DESC, warehouse."""
    return sorted(rows, key=lambda r: (r.reserved - r.on_hand, r.warehouse))


def reserve(shop: Shop, sku: int):
    """Try the SKU's warehouses fullest first; (outcome, row or None, retries), as reserve.reserve()."""
    rows = shop.stock.of(sku)
    yield from shop.send()
    order = _fullest_first(rows) if len(rows) > 1 else rows   # the statement's snapshot, once it is sent
    seen = [row.available() for row in order]
    yield shop.wait(shop.stmt_s)
    if shop.extra_s:
        if shop.extra_holds_cpu:
            yield from shop.hold(shop.loop, shop.extra_s)
        else:
            yield shop.wait(shop.extra_s)
    attempt, retries = ATTEMPT[shop.strategy], 0
    for row, available in zip(order, seen, strict=True):
        if available < shop.qty:
            continue          # reserve.py: seen empty, stock only falls during a burst: no row lock taken
        try:
            won, tries = yield from attempt(shop, row, shop.qty)
        except Starved as exc:
            shop.counters["starved"] += 1
            return FAILED, None, retries + exc.retries
        retries += tries
        if won:
            return WON, row, retries
    return OUT_OF_STOCK, None, retries


def place(shop: Shop, sku: int):
    """desk.py: the sold-out memory first; then the batcher (no pooled connection per ask) or a pooled
    connection and `reserve`; a refusal the database gave is learned. (outcome, row, retries)."""
    memory = shop.memory
    if memory is not None and memory.refuses(sku):
        return OUT_OF_STOCK, None, 0
    epoch = memory.epochs.get(sku, 0) if memory is not None else 0
    if shop.batcher is not None:
        if shop.extra_s:                    # what the fit found this strategy spends beyond its steps
            yield from shop.hold(shop.loop, shop.extra_s)
        outcome, row, retries = yield from shop.batcher.submit(sku)
    else:
        with shop.pool.request() as conn:
            if not conn.triggered:
                yield conn
            outcome, row, retries = yield from reserve(shop, sku)
    if memory is not None and outcome == OUT_OF_STOCK:
        yield from memory.learn(sku, epoch)
    return outcome, row, retries


def checkout(shop: Shop, attempt_id: int, sku: int, t_intended: float, outbound_s: float):
    """One attempt that has reached the service: loop, pool, walk, loop, record; returns t_end.

    In a race the client's loop first sends the request (its hop is folded into the start, see
    engine.source) and finally reads the reply; otherwise the reply's burst on the service loop (its end
    is known when it is queued, see queueing.Cpu) and its trip back touch nothing else shared, so they are
    added to the clock arithmetically instead of costing scheduled events.
    """
    env, client = shop.env, shop.client
    if shop.fresh_s:
        yield env.timeout(shop.fresh_s * shop.jitter())
    if client is not None and shop.client_half_s:
        yield from shop.hold(client, shop.client_half_s)
    if shop.http_half_s:
        yield from shop.hold(shop.loop, shop.http_half_s)
    outcome, row, retries = yield from place(shop, sku)
    reply_s = shop.http_half_s + shop.win_s if outcome == WON else shop.http_half_s
    if client is not None and shop.client_half_s:
        if reply_s:
            yield from shop.hold(shop.loop, reply_s)
        yield env.timeout(outbound_s)
        yield from shop.hold(client, shop.client_half_s)
        t_end = env.now
    else:   # the reply's burst is queued now and its end is known now: no need to wait for it
        t_end = env.now + (shop.loop.run(reply_s * shop.jitter()) if reply_s else 0.0) + outbound_s
    shop.records.append((attempt_id, sku, row.warehouse if row is not None else None,
                         t_intended, t_end, outcome, retries))
    return t_end

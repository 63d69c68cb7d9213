"""lastunit's swarm: `lastunit swarm` runs this headless; pick the users by class name.

    Racer / SqlRacer      wait for the shared start instant, then buy a hot SKU once (load.model = race)
    Shopper / SqlShopper  checkout of Zipf-popular SKUs at the scenario's arrival times (open) or in a loop
                          with think time (closed); browse and search join when the catalog exists
    Shopper (journey)     with a `[journey]` scenario: a shopping session per arrival (loadtests/journey.py)

Sql* users run the inventory's SQL blocks over psycopg (loaded here, after gevent's patch) and report
through Locust's request events. The plan comes from `LASTUNIT_PLAN` on the master (or a local run); the
master hands it to each worker with its index and the shared time zero, so workers on other machines need
only this file and `--master-host`.
"""

from __future__ import annotations

import itertools
import os
import random
import time

import gevent
from locust import FastHttpUser, LoadTestShape, User, between, events, task
from locust.runners import MasterRunner, WorkerRunner

from loadtests.journey import Session
from loadtests.plan import DATABASE_ENV, Plan
from loadtests.protocol import CLIENTS, login
from loadtests.race import CONNECT_TIMEOUT_S, REQUEST_TIMEOUT_S
from loadtests.runtime import IDLE_S, Runtime
from loadtests.shape import stages_for

RT = Runtime()
PLAN_MSG, DONE_MSG = "lastunit_plan", "lastunit_done"
_done_workers: set[int] = set()


def _report_done(rt: Runtime) -> None:
    runner = rt.env.runner
    if isinstance(runner, WorkerRunner):
        runner.send_message(DONE_MSG, {"index": rt.index})


@events.init.add_listener
def _init(environment, **_kw):
    RT.env = environment
    if isinstance(environment.runner, WorkerRunner):
        environment.runner.register_message(PLAN_MSG, lambda msg, **_: RT.configure(
            Plan.from_dict(msg.data["plan"]), msg.data["t0"], msg.data["index"], msg.data["count"],
            _report_done))
    if isinstance(environment.runner, MasterRunner):
        environment.runner.register_message(DONE_MSG, lambda msg, **_: _done_workers.add(msg.data["index"]))


@events.test_start.add_listener
def _start(environment, **_kw):
    runner, plan = environment.runner, SwarmShape.plan
    if isinstance(runner, WorkerRunner) or plan is None:
        return
    t0 = time.time() + SwarmShape.lead
    if isinstance(runner, MasterRunner):
        workers = sorted(c.id for c in runner.clients.ready + runner.clients.running + runner.clients.spawning)
        SwarmShape.workers = len(workers)
        for i, cid in enumerate(workers):
            runner.send_message(PLAN_MSG, {"plan": vars(plan), "t0": t0, "index": i, "count": len(workers)}, cid)
    else:
        RT.configure(plan, t0, 0, 1, _report_done)


@events.test_stop.add_listener
def _stop(environment, **_kw):
    if not isinstance(environment.runner, MasterRunner):
        RT.write()


@events.quitting.add_listener
def _quit(environment, **_kw):
    if not isinstance(environment.runner, MasterRunner) and RT.plan is not None:
        RT.write()


def next_account() -> int:
    """This process's next Locust user's account index: worker i of n takes i, i+n, i+2n, ..."""
    return RT.index + RT.count * next(_accounts)


_accounts = itertools.count()


class SwarmShape(LoadTestShape):
    """The plan's stage table; ends early once every process has answered its whole share."""

    plan = Plan.from_env()
    table, lead = stages_for(plan.model, plan.shape, plan.duration_s, plan.users, plan.spawn_rate) \
        if plan else (None, 0.0)
    workers = 1

    def tick(self):
        if self.table is None:
            return None
        rt = self.get_run_time()
        finished = RT.done if not isinstance(self.runner, MasterRunner) else len(_done_workers) >= self.workers
        if finished and rt > self.lead:
            return None
        tick = self.table.tick(rt)
        return None if tick is None else (tick[0] + self.plan.browsers, tick[1])


class _Swarm:
    """Shared by the HTTP and SQL users: the protocol client comes from `make_client`."""

    def on_start(self):
        RT.ready.wait()
        self.uid = f"w{RT.index}-u{next(RT.seq)}"
        self.checkout = self.make_client()

    def fire(self, **kw):
        self.environment.events.request.fire(**kw)


class _RacerTasks(_Swarm):
    raced = False

    def on_start(self):
        super().on_start()
        RT.racers += 1
        RT.pending += 1

    def race(self):
        if self.raced:
            gevent.sleep(IDLE_S)
            return
        self.raced = True
        n = next(RT.seq)
        sku = RT.plan.sku_name(n % max(RT.plan.hot_skus, 1))
        RT.sleep_until(RT.t0)
        RT.attempt(self.checkout, self.uid, f"{RT.plan.run_id}-r{RT.index}-{n}", sku, RT.t0, self.fire)

    tasks = [race]


class _ShopperTasks(_Swarm):
    def shop(self):
        if RT.plan.journey is not None:     # (Locust merges a subclass's tasks with its bases': one task)
            return self.journey()
        if RT.plan.model == "closed":
            n, sku, now = next(RT.seq), RT.next_sku(), time.time()
            RT.pending += 1
            RT.attempt(self.checkout, self.uid, f"{RT.plan.run_id}-c{RT.index}-{n}", sku, now, self.fire)
            gevent.sleep(RT.plan.think_ms / 1000.0)
            return
        item = RT.take()
        if item is None:
            gevent.sleep(IDLE_S)
            return
        k, t_intended, sku = item
        RT.sleep_until(t_intended)
        RT.attempt(self.checkout, self.uid, f"{RT.plan.run_id}-a{k}", sku, t_intended, self.fire)

    tasks = [shop]


class _Http(FastHttpUser):
    abstract = True
    network_timeout = REQUEST_TIMEOUT_S
    connection_timeout = CONNECT_TIMEOUT_S

    def make_client(self):
        if RT.plan.target == "gateway":
            return CLIENTS["gateway"](self.client, RT.plan, next_account())
        return CLIENTS[RT.plan.target](self.client, RT.plan)


class _Sql(User):
    abstract = True

    def make_client(self):
        from loadtests.sql_client import SqlCheckout  # noqa: PLC0415 - psycopg only where it is used

        return SqlCheckout(os.environ[DATABASE_ENV], RT.plan, self.fire)

    def on_stop(self):
        self.checkout.close()


class Racer(_RacerTasks, _Http):
    def on_start(self):
        super().on_start()
        self.client.get("/healthz", name="connect")     # the connection is open before the release


class SqlRacer(_RacerTasks, _Sql):
    pass


class Shopper(_ShopperTasks, _Http):
    def on_start(self):
        super().on_start()
        if RT.plan.journey is not None:     # its own account, so its own cart, for all its sessions
            self.session = Session(self.client, RT.plan, self.checkout.account, RT.recorder)
            self.rng = random.Random(f"{RT.plan.seed}-{self.uid}")

    def journey(self):
        item = RT.take_session()
        if item is None:
            gevent.sleep(IDLE_S)
            return
        k, t_intended, lines = item
        RT.sleep_until(t_intended)
        RT.session(self.session, self.uid, k, t_intended, lines, self.rng, self.fire)


class SqlShopper(_ShopperTasks, _Sql):
    pass


class Browser(FastHttpUser):
    """What most Prime-Day traffic is: searching, filtering, product pages, recommendations, clicks, through
    the gateway, competing for the same machines as the checkouts. Only with `--via gateway --browsers N`
    (exactly N of them: `fixed_count`). Empty results and unknown SKUs are fine answers, not failures."""

    fixed_count = SwarmShape.plan.browsers if SwarmShape.plan else 0
    wait_time = between(0.2, 1.0)
    network_timeout = REQUEST_TIMEOUT_S

    def on_start(self):
        self.rng = random.Random()
        RT.ready.wait()                          # the plan (and its accounts) reaches a worker by message
        token = login(self.client, *RT.plan.account(next_account()))
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.seen: list[str] = []

    def _ok(self, resp) -> None:
        if resp.status_code in (200, 404):
            resp.success()

    @task(6)
    def search(self):
        nouns = RT.plan.search_nouns
        cat = self.rng.choice(list(nouns))
        params = {"q": f"{self.rng.choice(RT.plan.search_adjectives)} {self.rng.choice(nouns[cat])}"}
        if self.rng.random() < 0.4:
            params["category"] = cat
        with self.client.get("/search", params=params, name="search", catch_response=True) as r:
            self._ok(r)
            items = r.json().get("items", []) if r.status_code == 200 else []
            self.seen = [i["sku"] for i in items[:10] if "sku" in i] or self.seen

    @task(3)
    def product(self):
        if self.seen:
            sku = self.rng.choice(self.seen)
            with self.client.get(f"/products/{sku}", name="product", catch_response=True) as r:
                self._ok(r)
            self.client.post("/clicks", json={"sku": sku}, headers=self.headers, name="click")

    @task(2)
    def recommendations(self):
        if self.seen:
            with self.client.get("/recommendations", params={"sku": self.rng.choice(self.seen)},
                                 headers=self.headers, name="recommendations", catch_response=True) as r:
                self._ok(r)


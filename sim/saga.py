"""The checkout saga in the model: reserve, authorize at a provider with its own ledger, confirm, capture,
webhook, ship; the scenario's faults at their named points; the saga audit over the model's own state.

Covers: the crowd of `loadtests.checkouts.planned` (the real run's very crowd), the inventory model's
    reservation step (`sim.service.reserve`, the scenario's strategy, pool and row locks), the payment
    service's idempotency keys (`started -> provider_called -> finished`, a lock that expires after
    LOCK_TIMEOUT_S), the provider's charges keyed by the derived key, the orders client's retries
    (CALL_RETRIES, same key with payment.idempotency, a new key per try without: the control), recovery
    re-drives after the lease and the give-up after MAX_DRIVES, capture after the webhook delay, the
    shipping label, and compensation (void or refund every live charge of the order, release, cancel).
Faults: fire with their probabilities while the live requests last, and stop once the last client has its
    answer, as `lastunit run` turns them off before settling. Pairs not modelled are listed in
    stats["faults_not_modelled"], never silently dropped. Times outside the inventory step are fixed delays
    (HOP_S, BUS_S, ...), not calibrated: the model is about outcomes and money, not the saga's latency.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass

import numpy as np

from loadtests.checkouts import CLIENT_RETRIES, CLIENT_TIMEOUT_S
from reference_impl.audit.invariants import check_stock
from reference_impl.audit.saga_checks import check_saga
from reference_impl.infra.faults import FaultAction, FaultPoint
from reference_impl.orders.app import DEFAULT_UNIT_PRICE, PAYMENT_TIMEOUT_S
from reference_impl.orders.recovery import MAX_DRIVES, RECOVERY_LEASE_S
from reference_impl.orders.saga import CALL_RETRIES, LEASE_S, RETRY_PAUSE_S
from reference_impl.payment.authorize import LOCK_TIMEOUT_S, PROVIDER_KEY_PREFIX
from scenarios.arrivals import STREAMS
from scenarios.results import Outcome
from scenarios.spec import Scenario
from sim.audit import stock_row
from sim.calibration import Calibration, resolve
from sim.service import WON, Shop, reserve

ENGINE = "sim"
#: Fixed delays (seconds), not calibrated: one service-to-service call, an event through outbox + bus,
#: the carrier's answer, a crashed process's restart, a consumer's reclaim of an unacked event.
HOP_S, BUS_S, CARRIER_S, RESTART_S, REDELIVER_S = 0.002, 0.05, 0.01, 1.0, 1.0
#: The real client's pause before its n-th retry of a 202 / lost answer (loadtests/checkouts.checkout).
CLIENT_PAUSE_S = 0.5
C, E, DR, D = FaultAction.CRASH, FaultAction.ERROR, FaultAction.DROP_REPLY, FaultAction.DELAY
P = FaultPoint
#: (point, action) pairs the model acts on; any other pair in a scenario is listed as not modelled.
MODELLED = ({(p, a) for p in (P.PAYMENT_BEFORE_PROVIDER_CALL, P.PAYMENT_AFTER_PROVIDER_AUTH, P.PAYMENT_BEFORE_REPLY,
                              P.ORDERS_AFTER_RESERVE, P.ORDERS_AFTER_PAYMENT, P.SHIPPING_CREATE_LABEL)
             for a in (C, E, DR, D)}
            | {(P.PSP_WEBHOOK, a) for a in (C, E, D, FaultAction.DUPLICATE, FaultAction.REORDER)})
NOT_MODELLED = ["reservation TTL expiry (the refund-never-oversell rule)",
                "a crash killing the other requests in flight (later calls only find it down for RESTART_S)",
                "the payment completer's timing (cancel voids every charge the provider holds for the order)",
                "webhook duplicate/reorder (forward-only: counted, no effect on the final state)",
                "CPU and pools of orders, payment, provider, shipping (fixed delays)"]


@dataclass
class Charge:
    id: str
    reference: str
    amount: int
    status: str                  # authorized, declined, captured, voided, refunded
    captures: int = 0
    net: int = 0


@dataclass
class Key:
    point: str = "started"       # started -> provider_called -> finished
    locked_until: float = 0.0
    charge: Charge | None = None
    code: int | None = None


@dataclass
class Order:
    id: str
    attempt: int
    sku: int
    amount: int
    status: str = "pending"
    reason: str | None = None
    row: object = None           # the stock row its reservation is on
    res_state: str | None = None  # held, released, committed
    payment: Charge | None = None
    drives: int = 0


class Faults:
    """The scenario's faults by point, rolled on their own stream; on while the live requests last."""

    def __init__(self, sc: Scenario, rng: np.random.Generator):
        self.rng, self.active, self.fired = rng, True, Counter()
        self.by_point: dict[FaultPoint, list] = {}
        for f in sc.faults:
            if (f.point, f.action) in MODELLED:
                self.by_point.setdefault(f.point, []).append(f)

    def at(self, point: FaultPoint) -> tuple[FaultAction | None, float]:
        """(the action that ends the step or None, seconds of delay), as RunConfig-faults `at` fires them."""
        delay = 0.0
        for f in self.by_point.get(point, ()) if self.active else ():
            if self.rng.random() >= f.probability:
                continue
            self.fired[f"{point.value}:{f.action.value}"] += 1
            if f.action is D:
                delay += f.delay_ms / 1000
            elif f.action in (FaultAction.DUPLICATE, FaultAction.REORDER):
                continue
            else:
                return f.action, delay
        return None, delay


class Model:
    def __init__(self, sc: Scenario, calibration: Calibration | None):
        self.sc, self.shop = sc, Shop(sc, calibration or resolve())
        self.env = self.shop.env
        extra = np.random.SeedSequence(sc.seed).spawn(len(STREAMS) + 2)   # the crowd's streams stay untouched
        self.faults = Faults(sc, np.random.Generator(np.random.PCG64(extra[-2])))
        self.declines = np.random.Generator(np.random.PCG64(extra[-1]))
        self.charges: dict[str, Charge] = {}          # the provider's ledger, by its idempotency key
        self.by_ref: dict[str, list[Charge]] = {}
        self.keys: dict[str, Key] = {}                # the payment service's idempotency keys
        self.payment_down_until = 0.0
        self.orders: list[Order] = []
        self.records: list[tuple] = []
        self.committed: Counter = Counter()           # units sold per stock row (id)
        self.live, self.faults_off_at = 0, 0.0
        self.ids = itertools.count()

    # -- the provider -------------------------------------------------------------------------------
    def provider_charge(self, key: str, o: Order) -> Charge:
        ch = self.charges.get(key)
        if ch is None:
            declined = self.declines.random() < self.sc.payment.decline_rate
            ch = Charge(f"ch_{len(self.charges)}", o.id, o.amount, "declined" if declined else "authorized")
            self.charges[key] = ch
            self.by_ref.setdefault(o.id, []).append(ch)
        return ch

    def give_back(self, o: Order) -> None:
        """OrderCancelled at payment: void what is authorized, refund what was captured."""
        for ch in self.by_ref.get(o.id, ()):
            if ch.status == "authorized":
                ch.status = "voided"
            elif ch.status == "captured":
                ch.status, ch.net = "refunded", ch.net - ch.amount

    # -- stock ----------------------------------------------------------------------------------------
    def release(self, o: Order) -> None:
        if o.res_state == "held":
            o.row.reserved -= self.sc.load.qty
            o.row.held -= self.sc.load.qty
            o.res_state = "released"

    def sell(self, o: Order) -> None:
        q, row = self.sc.load.qty, o.row
        row.reserved, row.held, row.on_hand, row.sold = row.reserved - q, row.held - q, row.on_hand - q, row.sold + q
        self.committed[id(row)] += q
        o.res_state = "committed"

    def cancel(self, o: Order, reason: str) -> None:
        if o.status in ("pending", "confirmed", "paid"):
            o.status, o.reason = "cancelled", reason
            self.give_back(o)
            self.release(o)

    # -- payment service ------------------------------------------------------------------------------
    def lost(self, action: FaultAction):
        """A request the payment service does not answer: a crash resets at once (and restarts the process),
        a dropped reply costs the caller its timeout. Returns None (the client's Unknown)."""
        if action is C:
            self.payment_down_until = self.env.now + RESTART_S
        else:
            yield self.env.timeout(PAYMENT_TIMEOUT_S)
        return None

    def authorize_once(self, o: Order, key: str):
        """POST /payments/authorize with `key`: 201, 402, 503, or None when no answer came."""
        env, faults = self.env, self.faults
        yield env.timeout(HOP_S)
        if env.now < self.payment_down_until:
            return None
        k = self.keys.get(key)
        if k is None:
            k = self.keys[key] = Key()
        elif k.point == "finished":
            return k.code                                   # replay
        elif k.locked_until > env.now:
            return None                                     # 409 in use: the orders client treats it as Unknown
        k.locked_until = env.now + LOCK_TIMEOUT_S
        if k.point == "started":
            act, delay = faults.at(P.PAYMENT_BEFORE_PROVIDER_CALL)
            if delay:
                yield env.timeout(delay)
            if act is E:
                k.locked_until = 0.0
                return 503
            if act is not None:
                return (yield from self.lost(act))
            ch = self.provider_charge(PROVIDER_KEY_PREFIX + key, o)
            yield env.timeout(HOP_S)
            act, delay = faults.at(P.PAYMENT_AFTER_PROVIDER_AUTH)
            if delay:
                yield env.timeout(delay)
            if act is E:
                return 503
            if act is not None:
                return (yield from self.lost(act))          # charged at the provider, not recorded here
            k.point, k.charge = "provider_called", ch
        k.point, k.code = "finished", 201 if k.charge.status == "authorized" else 402
        act, delay = faults.at(P.PAYMENT_BEFORE_REPLY)
        if delay:
            yield env.timeout(delay)
        if act is E:
            return 503
        if act is not None:
            return (yield from self.lost(act))              # committed, reply never sent
        yield env.timeout(HOP_S)
        return k.code

    def authorize(self, o: Order):
        """Saga._authorize: CALL_RETRIES tries on a lost answer; the key per try is the experiment."""
        fresh = next(self.ids)
        for attempt in range(CALL_RETRIES):
            key = f"order-{o.id}-authorize" if self.sc.payment.idempotency else f"order-{o.id}-{fresh}-{attempt}"
            status = yield from self.authorize_once(o, key)
            if status is not None:
                return status, self.keys[key].charge
            yield self.env.timeout(RETRY_PAUSE_S * (attempt + 1))
        return None, None

    # -- orders ---------------------------------------------------------------------------------------
    def drive(self, o: Order):
        """Saga.drive: 'confirmed', 'out_of_stock', 'failed', 'declined', 'pending' (lost) or 'dropped'."""
        env, shop, drop = self.env, self.shop, False
        o.drives += 1
        if o.status != "pending":
            return "confirmed" if o.status != "cancelled" else "failed"
        if o.row is None:
            with shop.pool.request() as conn:
                if not conn.triggered:
                    yield conn
                outcome, row, _ = yield from reserve(shop, o.sku)
            if outcome != WON:
                self.cancel(o, "out_of_stock" if outcome == Outcome.OUT_OF_STOCK.value else "reserve_failed")
                return "out_of_stock" if outcome == Outcome.OUT_OF_STOCK.value else "failed"
            o.row, o.res_state = row, "held"
            act, delay = self.faults.at(P.ORDERS_AFTER_RESERVE)
            if delay:
                yield env.timeout(delay)
            if act in (C, E):
                return "pending"
            drop |= act is DR
        if o.payment is None:
            status, ch = yield from self.authorize(o)
            if status is None:
                return "pending"
            if status != 201:
                self.cancel(o, "declined" if status == 402 else f"authorize_{status}")
                return "declined" if status == 402 else "failed"
            o.payment = ch
            act, delay = self.faults.at(P.ORDERS_AFTER_PAYMENT)
            if delay:
                yield env.timeout(delay)
            if act in (C, E):
                return "pending"
            drop |= act is DR
        o.status = "confirmed"
        env.process(self.fulfil(o))
        return "dropped" if drop else "confirmed"

    def recover(self, o: Order):
        """The recovery worker: re-drive once the lease ran out; past MAX_DRIVES, compensate."""
        wait = LEASE_S
        while o.status == "pending":
            yield self.env.timeout(wait)
            wait = RECOVERY_LEASE_S
            if o.drives > MAX_DRIVES:
                self.cancel(o, "saga_abandoned")
                return
            yield from self.drive(o)

    def fulfil(self, o: Order):
        """OrderConfirmed -> capture -> signed webhook -> paid -> label -> sale -> shipped (or compensate)."""
        env, faults = self.env, self.faults
        yield env.timeout(BUS_S)
        if o.status != "confirmed":
            return
        ch = o.payment
        if ch.status == "authorized":
            ch.status, ch.captures, ch.net = "captured", ch.captures + 1, ch.net + ch.amount
        yield env.timeout(self.sc.webhooks.delay_ms / 1000)
        while True:
            act, delay = faults.at(P.PSP_WEBHOOK)
            yield env.timeout(delay + (RESTART_S if act is C else REDELIVER_S if act is E else 0.0))
            if act is None:
                break
        if o.status == "confirmed":
            o.status = "paid"
        yield env.timeout(BUS_S)
        while o.status == "paid":
            act, delay = faults.at(P.SHIPPING_CREATE_LABEL)
            yield env.timeout(delay + CARRIER_S)
            if act is E:                                    # the carrier refuses: refund, release, cancel
                self.cancel(o, "shipping_failed")
            elif act is not None:                           # lost: the event is reclaimed and delivered again
                yield env.timeout(RESTART_S if act is C else REDELIVER_S)
            else:
                self.sell(o)
                o.status = "shipped"

    def checkout(self, i: int, sku: int, t_intended: float):
        """The client: POST /checkouts, retried on a lost answer or a 202 with the same key."""
        o = Order(f"order-{i}", i, sku, self.sc.load.qty * DEFAULT_UNIT_PRICE)
        self.orders.append(o)
        result = yield from self.drive(o)
        retries = 0
        if result == "dropped":                             # the client times out, asks again, gets the order
            yield self.env.timeout(CLIENT_TIMEOUT_S + CLIENT_PAUSE_S)
            result, retries = "confirmed", 1
        elif result == "pending":                           # the lease is the live request's: 202 each time
            self.env.process(self.recover(o))
            yield self.env.timeout(sum(CLIENT_PAUSE_S * n for n in range(1, CLIENT_RETRIES + 1)))
            retries = CLIENT_RETRIES - 1
        outcome = {"confirmed": Outcome.WON, "out_of_stock": Outcome.OUT_OF_STOCK, "declined": Outcome.DECLINED,
                   "failed": Outcome.FAILED}.get(result, Outcome.UNKNOWN)
        self.records.append((i, sku, o.row.warehouse if o.row is not None else None, t_intended, self.env.now,
                             outcome.value, retries, o.id))
        self.live -= 1
        if self.live == 0:                                 # `lastunit run` turns faults off, then settles:
            self.faults.active, self.faults_off_at = False, round(self.env.now, 6)   # later labels succeed

    def source(self, plan):
        env = self.env
        self.live = len(plan)
        if self.live == 0:
            self.faults.active = False
        for i, (t, sku) in enumerate(zip(plan.t.tolist(), plan.sku.tolist(), strict=True)):
            if t > env.now:
                yield env.timeout(t - env.now)
            env.process(self.checkout(i, int(sku), t))

    # -- the audit ------------------------------------------------------------------------------------
    def audit_saga(self) -> dict:
        """The real auditor's checks (`check_saga`), over the model's orders, ledger and reservations."""
        money = {}
        for o in self.orders:
            chs = self.by_ref.get(o.id, [])
            money[o.id] = {"live_charges": sum(c.status in ("authorized", "captured") for c in chs),
                           "captures": sum(c.captures for c in chs), "net": sum(c.net for c in chs),
                           "charge_ids": [c.id for c in chs]}
        orders = [{"id": o.id, "status": o.status, "amount": o.amount, "reservation_state": o.res_state}
                  for o in self.orders]
        return check_saga(orders, money)

    def audit_inventory(self) -> dict:
        rows = []
        for sku in sorted(self.shop.stock.rows):
            for r in self.shop.stock.rows[sku]:
                row = stock_row(r)
                row.committed_units = self.committed[id(r)]
                rows.append(row)
        return check_stock(rows)

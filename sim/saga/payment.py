"""The payment service in the model: idempotency keys over recovery points, the provider call between them,
and the three payment fault points.

Why apart: exactly-once payment is the property the `payment.idempotency=false` control breaks; its state
machine (`started -> provider_called -> finished`, a lock per key) should read as the real
`reference_impl/payment/authorize.py` does, with nothing else around it.
"""

from __future__ import annotations

from dataclasses import dataclass

import simpy

from scenarios.policy import AUTHORIZE_LOCK_TIMEOUT_S as LOCK_TIMEOUT_S
from scenarios.policy import PAYMENT_TIMEOUT_S, PROVIDER_KEY_PREFIX
from scenarios.states import RecoveryPoint
from sim.saga.delays import SagaTimes
from sim.saga.faults import C, E, Faults, P
from sim.saga.provider import Charge, Provider


@dataclass
class Key:
    point: RecoveryPoint = RecoveryPoint.STARTED   # scenarios.states.RECOVERY_MOVES
    locked_until: float = 0.0
    charge: Charge | None = None
    code: int | None = None


class PaymentService:
    def __init__(self, env: simpy.Environment, faults: Faults, provider: Provider, times: SagaTimes, pause=None):
        self.env, self.faults, self.provider, self.times = env, faults, provider, times
        self.pause = pause or (lambda key, step, delay: delay)   # the model's machine (sim.saga.machine)
        self.keys: dict[str, Key] = {}
        self.down_until = 0.0

    def lost(self, action):
        """A request the payment service does not answer: a crash resets at once (and restarts the process),
        a dropped reply costs the caller its timeout. Returns None (the client's Unknown)."""
        if action is C:
            self.down_until = self.env.now + self.times.restart_s
        else:
            yield self.env.timeout(PAYMENT_TIMEOUT_S)
        return None

    def authorize_once(self, reference: str, amount: int, key: str):
        """POST /payments/authorize with `key`: 201, 402, 503, or None when no answer came."""
        env, faults = self.env, self.faults
        yield env.timeout(self.pause(reference, "authorize", self.times.hop_s))
        if env.now < self.down_until:
            return None
        k = self.keys.get(key)
        if k is None:
            k = self.keys[key] = Key()
        elif k.point == RecoveryPoint.FINISHED:
            return k.code                                   # replay
        elif k.locked_until > env.now:
            return None                                     # 409 in use: the orders client treats it as Unknown
        k.locked_until = env.now + LOCK_TIMEOUT_S
        if k.point == RecoveryPoint.STARTED:
            act = yield from faults.strike(env, P.PAYMENT_BEFORE_PROVIDER_CALL)
            if act is E:
                k.locked_until = 0.0
                return 503
            if act is not None:
                return (yield from self.lost(act))
            ch = self.provider.charge(PROVIDER_KEY_PREFIX + key, reference, amount)
            yield env.timeout(self.pause(reference, None, self.times.hop_s))
            act = yield from faults.strike(env, P.PAYMENT_AFTER_PROVIDER_AUTH)
            if act is E:
                return 503
            if act is not None:
                return (yield from self.lost(act))          # charged at the provider, not recorded here
            k.point, k.charge = RecoveryPoint.PROVIDER_CALLED, ch
        k.point, k.code = RecoveryPoint.FINISHED, 201 if k.charge.status == "authorized" else 402
        act = yield from faults.strike(env, P.PAYMENT_BEFORE_REPLY)
        if act is E:
            return 503
        if act is not None:
            return (yield from self.lost(act))              # committed, reply never sent
        yield env.timeout(self.pause(reference, None, self.times.hop_s))
        return k.code

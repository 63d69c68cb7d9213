"""The saga's step times outside the inventory model: why a separate module? They are the model's least
certain numbers, and one place makes it plain which are measured, which come from the real code's own
constants, and which are still guesses.

`SagaTimes` holds the ones a real run can measure (its defaults are guesses until then; see
`sim.saga.measured`, which fits them from a run's saga log); the rest are the real services' constants.
"""

from __future__ import annotations

from dataclasses import dataclass

from scenarios.policy import RECLAIM_EVERY_S, RECLAIM_IDLE_MS
from scenarios.policy import webhook_backoff_s as backoff_s

#: The bus's own numbers, from its code: an event whose handler failed (or whose consumer died) stays
#: pending and is taken over once idle RECLAIM_IDLE_MS, by a reclaim that runs every RECLAIM_EVERY_S: on
#: average half a period later. A failed handler holds up nothing else (the consumer's other lanes go on).
RECLAIM_S = RECLAIM_IDLE_MS / 1000 + RECLAIM_EVERY_S / 2
#: The provider retries a webhook delivery it lost after backoff_s(n) (reference_impl/psp/webhooks.py).
webhook_retry_s = backoff_s


@dataclass(frozen=True)
class SagaTimes:
    """Seconds per modelled step; each default is a guess, replaced by `measured.fit` from a real run."""
    hop_s: float = 0.002      # one service-to-service call, one way (an authorize is three: orders, psp, reply)
    bus_s: float = 0.01       # one event through outbox, relay (woken by NOTIFY at commit) and stream to
                              # its consumer (blocked in XREADGROUP): a few round trips, no polling
    carrier_s: float = 0.01   # shipping's label (the carrier's answer)
    restart_s: float = 1.0    # a crashed process until the supervisor has it serving again (not measured)
    entry_s: float = 0.0      # client -> orders and the order's own writes, before the modelled reservation
    reply_s: float = 0.0      # the confirmed order's commit (its outbox event) and the answer to the client
    source: str = "guesses"   # "guesses", or the run the measured ones came from

    @classmethod
    def from_dict(cls, d: dict | None) -> SagaTimes:
        if not d:
            return cls()
        return cls(**{k: d[k] for k in ("hop_s", "bus_s", "carrier_s", "restart_s", "entry_s", "reply_s",
                                         "source") if k in d})

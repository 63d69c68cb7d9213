"""The saga's step times outside the inventory model: why a separate module? They are the model's least
certain numbers (fixed, not calibrated), and one place makes it plain which figures are guesses."""

from __future__ import annotations

from reference_impl.infra.bus import RECLAIM_IDLE_MS

#: Fixed delays (seconds), not calibrated: one service-to-service call, an event through outbox + bus,
#: the carrier's answer, a crashed process's restart, a consumer's reclaim of an unacked event.
HOP_S, BUS_S, CARRIER_S, RESTART_S, REDELIVER_S = 0.002, 0.05, 0.01, 1.0, 1.0
#: The real client's pause before its n-th retry of a 202 / lost answer (loadtests/checkouts.checkout).
CLIENT_PAUSE_S = 0.5
#: The bus's own numbers, from its code: an unacked event is reclaimed once idle this long; a consumer whose
#: handler failed pauses this long before it reads again.
RECLAIM_S, CONSUMER_PAUSE_S = RECLAIM_IDLE_MS / 1000, 0.2

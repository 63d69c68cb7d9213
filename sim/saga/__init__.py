"""The checkout saga in the model: reserve, authorize at a provider with its own ledger, confirm, capture,
webhook, ship; the scenario's faults at their named points; the saga audit over the model's own state.

Covers: the crowd of `scenarios.arrivals.planned` (the real run's very crowd), the inventory model's
    reservation step (`sim.service.reserve`, the scenario's strategy, pool and row locks), the payment
    service's idempotency keys (`started -> provider_called -> finished`, a lock that expires after
    LOCK_TIMEOUT_S), the provider's charges keyed by the derived key, the orders client's retries
    (CALL_RETRIES, same key with payment.idempotency, a new key per try without: the control), recovery
    re-drives after the lease and the give-up after MAX_DRIVES, capture after the webhook delay, the
    shipping label, the sale (commit) retried on a lost answer, the sweeper expiring reservations past the
    scenario's inventory.reservation_ttl_s (a payment final after that is refunded), and compensation (void or refund every live charge of the order, release, cancel).
Faults: fire with their probabilities while the live requests last, and stop once the last client has its
    answer, as `lastunit run` turns them off before settling. Pairs not modelled are listed in
    stats["faults_not_modelled"], never silently dropped.

One module per role, as the real services are split: `faults` (the dice at the named points), `delays`
(the saga's step times), `provider` (the ledger), `payment` (idempotency keys), `inventory` (the service
as the saga calls it: restarts, the commit and `inventory.before_commit`), `reservations` (holding,
selling, releasing units), `orders` (the saga's forward path, recovery, compensation), `fulfilment` (the
event-driven half), `model` (the state and the crowd's clients), `audit` (the real auditor's checks),
`machine` (the stack's cores, when the calibration measured its CPU per checkout; `cpu` measures it).
"""

from sim.saga.faults import MODELLED, NOT_MODELLED, NOT_MODELLED_WITH_CPU
from sim.saga.model import ENGINE, Model

__all__ = ["ENGINE", "MODELLED", "NOT_MODELLED", "NOT_MODELLED_WITH_CPU", "Model"]

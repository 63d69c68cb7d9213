"""The checkout protocol a swarm user speaks, and how its answers become DESIGN.md outcomes.

Today a checkout is the inventory's reserve-then-commit; when the saga's gateway exists, a `GatewayCheckout`
with the same `checkout()` maps POST /checkout's answers, and `CLIENTS` is the one place that changes.
A sold-out answer is a Locust *success*: the shop answered correctly, and a failure there would fail CI for
the wrong reason. No locust import: the client is handed Locust's session (duck-typed) by the user.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from urllib.parse import quote

from loadtests.checkouts import classify as checkout_outcome
from loadtests.race import classify
from scenarios.policy import CLIENT_RETRIES, PENDING_PATIENCE_S, STATUS_POLL_S
from scenarios.results import Outcome, order_outcome

#: Between a shopper's retries of an unknown checkout: long enough for a crashed service to come back.
RETRY_PAUSE_S = 0.5
#: A user whose logins keep getting 429 gives up after this many tries (a swarm larger than the per-IP
#: login budget logs in over a few seconds; this bounds a stack whose limiter never lets it in).
LOGIN_TRIES = 30
#: Outcomes that mean the shop behaved: a Locust success. Anything else is marked a failure in its report.
GOOD = (Outcome.WON, Outcome.OUT_OF_STOCK)


@dataclass
class Answer:
    outcome: Outcome
    retries: int = 0
    warehouse: str | None = None
    order_id: str | None = None
    detail: str = ""
    resolved_late: bool = False     # the outcome came from polling the order after an answer said nothing


def body_of(text: str | bytes | None) -> dict:
    try:
        data = json.loads(text) if text else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def commit_outcome(status: int, body: dict) -> Outcome:
    """The sale after a won reservation: done, refused (the hold stays until its TTL), or unknown."""
    if status in (200, 201):
        return Outcome.WON
    if 400 <= status < 500:
        return Outcome.FAILED          # not_held / stock_inconsistent: the sale did not happen
    return Outcome.UNKNOWN             # 5xx or no answer: the sale may have happened


class InventoryCheckout:
    """POST /reservations, then POST /reservations/{id}/commit: the checkout before the saga exists."""

    def __init__(self, client, plan):
        self.client, self.plan = client, plan

    def _post(self, path: str, body: dict | None, name: str) -> tuple[int, dict]:
        with self.client.post(path, json=body, name=name, catch_response=True) as resp:
            status = resp.status_code or 0
            payload = body_of(resp.text if status else None)
            outcome = classify(status, payload) if name == "reserve" else commit_outcome(status, payload)
            if outcome in GOOD:
                resp.success()
            else:
                resp.failure(f"{outcome.value}: {payload.get('error') or status}")
        return status, payload

    def checkout(self, sku: str, attempt_id: str) -> Answer:
        p = self.plan
        race = {"naive_race": p.run_id, "naive_racers": p.users} \
            if p.model == "race" and p.strategy == "naive" and p.users > 1 else {}
        status, body = self._post("/reservations", {
            "sku": sku, "qty": p.qty, "strategy": p.strategy, "attempt_id": attempt_id, "ttl_s": p.ttl_s,
            "naive_window_ms": p.naive_window_ms, "sold_out": p.sold_out} | race, "reserve")
        outcome = classify(status, body)
        retries = int(body.get("retries", 0) or 0)
        if outcome != Outcome.WON:
            return Answer(outcome, retries, detail=str(body.get("error") or status))
        c_status, c_body = self._post(f"/reservations/{body['id']}/commit", None, "commit")
        outcome = commit_outcome(c_status, c_body)
        return Answer(outcome, retries, body.get("warehouse"),
                      detail="" if outcome == Outcome.WON else str(c_body.get("error") or c_status))


class GatewayCheckout:
    """The whole saga as a shopper sees it: a token of its own, then POST /checkout with an Idempotency-Key
    (the attempt id, so the user's own retry can never buy twice). Answers map as `lastunit run` maps them."""

    def __init__(self, client, plan, account: int = 0):
        self.client, self.plan, self.token = client, plan, None
        self.account = account

    def _login(self) -> None:
        self.token = login(self.client, *self.plan.account(self.account))

    def checkout(self, sku: str, attempt_id: str) -> Answer:
        """A careful client: an unknown answer (202 pending, 5xx, no answer) is retried with the same key,
        which can only ever return the same order; retries are counted."""
        if self.token is None:
            self._login()
        headers = {"Authorization": f"Bearer {self.token}", "Idempotency-Key": attempt_id}
        for retry in range(CLIENT_RETRIES):
            with self.client.post("/checkout", json={"sku": sku, "qty": self.plan.qty}, headers=headers,
                                  name="checkout", catch_response=True) as resp:
                status = resp.status_code or None
                payload = body_of(resp.text if status else None)
                outcome = checkout_outcome(status, payload)
                if outcome in GOOD or outcome == Outcome.DECLINED:
                    resp.success()
                else:
                    resp.failure(f"{outcome.value}: {payload.get('error') or status}")
            if outcome != Outcome.UNKNOWN and payload.get("error") != "checkout_in_progress":
                break
            time.sleep(RETRY_PAUSE_S * (retry + 1))     # gevent-patched inside Locust: yields, never blocks
        late = False
        if outcome == Outcome.UNKNOWN:
            seen, order = self._poll(attempt_id, headers)
            if seen is not None:
                outcome, payload, late = seen, order, True
        order = payload.get("id") or (payload.get("order") or {}).get("id")
        return Answer(outcome, retry, None, order, "" if outcome == Outcome.WON else str(payload.get("error")),
                      late)

    def _poll(self, key: str, headers: dict) -> tuple[Outcome | None, dict]:
        """The status page after a lost or `202 pending` checkout: GET /checkout/{key} until the order is
        final or the patience runs out (then the attempt stays unknown)."""
        deadline = time.monotonic() + PENDING_PATIENCE_S
        auth = {"Authorization": headers["Authorization"]}
        while True:
            with self.client.get(f"/checkout/{quote(key, safe='')}", headers=auth, name="checkout_status",
                                 catch_response=True) as resp:
                body = body_of(resp.text if resp.status_code else None)
                seen = order_outcome(body.get("status"), body.get("cancel_reason")) \
                    if resp.status_code == 200 else None
                resp.success()              # a pending order or a 404 before it exists is an answer, too
            if seen is not None:
                return seen, body
            if time.monotonic() + STATUS_POLL_S > deadline:
                return None, body
            time.sleep(STATUS_POLL_S)


def login(client, user: str, password: str) -> str | None:
    """POST /auth/token with the account's credentials; a 429 (this machine's IP spent its login budget) is
    waited out as Retry-After says, up to LOGIN_TRIES times. Returns the token, or None."""
    for _ in range(LOGIN_TRIES):
        with client.post("/auth/token", json={"user_id": user, "password": password}, name="login",
                         catch_response=True) as r:
            token = body_of(r.text if r.status_code else None).get("token")
            if token:
                return token
            if r.status_code != 429:
                r.failure(f"no token: {r.status_code}")
                return None
            r.success()                 # the limit doing its job; the user waits and tries again
            wait = float((r.headers or {}).get("Retry-After") or 1)
        time.sleep(wait)                # gevent-patched inside Locust: yields, never blocks
    return None


#: target -> protocol client class.
CLIENTS = {"inventory": InventoryCheckout, "gateway": GatewayCheckout}

"""One shopping session through the gateway, as a shopper makes it: search (full text, sometimes with a
category facet), open product pages, read "also bought", fill the cart, check it out.

Why its own module: the locustfile stays declarative, and the session's rules (what a cart line's outcome
is, how a lost checkout answer is resolved) are plain code over a duck-typed client (Locust's session in
the swarm). Every request is timed into the recorder by kind (scenarios.journey.KINDS), so the swarm can put
search, product-page, recommendation, cart and checkout latencies side by side. No locust import.
"""

from __future__ import annotations

import random
import time
from urllib.parse import quote

from loadtests.checkouts import classify
from loadtests.protocol import GatewayCheckout, body_of, login
from scenarios.policy import CLIENT_RETRIES
from scenarios.results import Outcome

#: Search results a session remembers as pages it might open next (a first results page).
SEEN_KEPT = 10
#: Between retries of a cart checkout whose answer was lost: as a single checkout's client waits.
RETRY_PAUSE_S = 0.5
#: Answers that are not failures of the shop: an empty search or an unknown page is an answer too.
BROWSE_OK = (200, 404)


class Session:
    """A Locust user's shopping: it logs in once (its own account, so its own cart), then runs sessions."""

    def __init__(self, client, plan, account: int, recorder):
        self.client, self.plan, self.rec = client, plan, recorder
        self.user, password = plan.account(account)
        t = time.time()
        token = login(client, self.user, password)
        recorder.request(self.user, "login", t, time.time(), 200 if token else 401, token is not None)
        self.auth = {"Authorization": f"Bearer {token}"} if token else {}
        self.checkout_client = GatewayCheckout(client, plan, account)
        self.checkout_client.token = token

    def _get(self, session: str, kind: str, path: str, params: dict | None = None, ok=BROWSE_OK):
        t = time.time()
        with self.client.get(path, params=params, headers=self.auth, name=kind, catch_response=True) as r:
            status = r.status_code or 0
            if status in ok:
                r.success()
            body = body_of(r.text if status else None)
        self.rec.request(session, kind, t, time.time(), status, status in ok)
        return body

    def _send(self, session: str, kind: str, method: str, path: str, body: dict | None = None,
              headers: dict | None = None):
        t = time.time()
        with self.client.request(method, path, json=body, headers=self.auth | (headers or {}), name=kind,
                                 catch_response=True) as r:
            status = r.status_code or 0
            payload = body_of(r.text if status else None)
            if status < 500 and status:
                r.success()
        self.rec.request(session, kind, t, time.time(), status, 0 < status < 500)
        return status, payload

    def _think(self) -> None:
        time.sleep(self.plan.journey["think_ms"] / 1000.0)    # gevent-patched inside Locust: yields

    def browse(self, session: str, rng: random.Random, lines: list[str]) -> None:
        """Searches, product pages (the cart's lines first), recommendations for the cart's lines."""
        j, p = self.plan.journey, self.plan
        seen: list[str] = []
        for _ in range(j["searches"]):
            cat = rng.choice(sorted(p.search_nouns))
            params = {"q": f"{rng.choice(p.search_adjectives)} {rng.choice(p.search_nouns[cat])}"}
            if rng.random() < j["facet_share"]:
                params["category"] = cat
            items = self._get(session, "search", "/search", params).get("items") or []
            seen = [i["sku"] for i in items[:SEEN_KEPT] if isinstance(i, dict) and "sku" in i] or seen
            self._think()
        pages = (lines + seen)[:j["product_pages"]]
        for sku in pages:
            self._get(session, "product", f"/products/{quote(sku, safe='')}")
            self._think()
        for i in range(j["recommendations"]):
            self._get(session, "recommendations", "/recommendations", {"sku": lines[i % len(lines)]})
            self._think()

    def fill(self, session: str, lines: list[str]) -> None:
        """The cart holds exactly these lines: emptied first (a line a sold-out checkout left behind)."""
        path = f"/carts/{quote(self.user, safe='')}"
        self._send(session, "cart", "DELETE", path)
        for sku in lines:
            self._send(session, "cart", "PUT", f"{path}/items/{quote(sku, safe='')}", {"qty": self.plan.qty})

    def checkout(self, key: str, lines: list[str]) -> tuple[dict[str, tuple[Outcome, dict]], int]:
        """POST /checkout/cart with `key`, retried with the same key while the answer is lost; each line's
        outcome from the answer, or (a line the answer does not show: ordered in a lost try, so it left the
        cart) from its status page `GET /checkout/<key>:<sku>`. Returns ({sku: (outcome, order)}, retries)."""
        seen: dict[str, tuple[Outcome, dict]] = {}
        retry = 0
        for retry in range(CLIENT_RETRIES):
            status, body = self._send(key, "checkout", "POST", "/checkout/cart",
                                      headers={"Idempotency-Key": key})
            for line in body.get("orders") or []:
                order = line.get("order") or {}
                seen[line["sku"]] = (classify(line.get("status"), order), order)
            if status and status < 500:
                break
            time.sleep(RETRY_PAUSE_S * (retry + 1))
        for sku in lines:
            if seen.get(sku, (Outcome.UNKNOWN,))[0] == Outcome.UNKNOWN:
                outcome, order = self.checkout_client._poll(f"{key}:{sku}", self.auth)
                seen[sku] = (outcome or Outcome.UNKNOWN, order)
        return seen, retry


def line_detail(outcome: Outcome, order: dict) -> str:
    return "" if outcome == Outcome.WON else str(order.get("error") or order.get("cancel_reason") or "")

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
from loadtests.protocol import body_of, login
from scenarios.policy import PENDING_PATIENCE_S, STATUS_POLL_S
from scenarios.results import Outcome, order_outcome

#: Search results a session remembers as pages it might open next (a first results page).
SEEN_KEPT = 10
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
        """POST /checkout/cart with `key`: the cart becomes one order of all its priced lines, so every such
        line shares the order's outcome; a line the catalog refused has its own. While some line is unknown
        (a lost answer, `202 pending`), the order is read from its status page, `GET /checkout/<key>`, and
        the cart is sent again with the same key (the order exists at most once, at the prices first read),
        every STATUS_POLL_S, for PENDING_PATIENCE_S at most. Returns ({sku: (outcome, order)}, retries)."""
        seen: dict[str, tuple[Outcome, dict]] = {}
        deadline, retries = time.monotonic() + PENDING_PATIENCE_S, 0
        while True:
            status, body = self._send(key, "checkout", "POST", "/checkout/cart", headers={"Idempotency-Key": key})
            self._read_answer(status, body, seen)
            if self._unknown(seen, lines):
                status, order = self._send(key, "checkout_status", "GET", f"/checkout/{quote(key, safe='')}")
                outcome = order_outcome(order.get("status"), order.get("cancel_reason")) if status == 200 else None
                if outcome is not None:
                    for line in order.get("lines") or []:
                        seen[line["sku"]] = (outcome, order)
            if not self._unknown(seen, lines) or time.monotonic() + STATUS_POLL_S > deadline:
                return seen, retries
            retries += 1
            time.sleep(STATUS_POLL_S)

    @staticmethod
    def _read_answer(status: int, body: dict, seen: dict) -> None:
        """Each cart line's outcome from the cart checkout's answer (gateway cart_checkout.py)."""
        order = body.get("order") if isinstance(body.get("order"), dict) else {}
        if status in (200, 201) or order.get("status") is not None:
            verdict = order_outcome(order.get("status"), order.get("cancel_reason")) or Outcome.UNKNOWN
        else:
            verdict = classify(status, body)
        for line in body.get("lines") or []:
            if "catalog_price" in line or line.get("ordered"):      # a line of the order
                seen[line["sku"]] = (verdict, order)
            elif line.get("status") is not None:                    # refused by the catalog: no order
                seen[line["sku"]] = (classify(line["status"], line), {})

    @staticmethod
    def _unknown(seen: dict, lines: list[str]) -> list[str]:
        return [sku for sku in lines if seen.get(sku, (Outcome.UNKNOWN,))[0] == Outcome.UNKNOWN]

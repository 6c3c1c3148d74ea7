"""A load test of a checkout against the Masivo double (the reference server), with Locust.

Point it at `masivo-conformance serve` (any number of workers, any store):

    masivo-conformance serve --workers 2 --db state.sqlite3 --port 8000
    MASIVO_API_KEY=mk_ref_4f1c2a9e7b3d4c58a6e0b1d2c3f4a5b6 \\
    MASIVO_BRAND_ID=3b8fad47-98c2-4d11-886a-36729bdcc468 \\
        locust -f examples/load_test/locustfile.py --headless -u 50 -r 10 -t 60s \\
        --host http://127.0.0.1:8000/api/storefront/v1

The mix is a storefront's, per shopper session: sign-up once, then for each visit a
wallet read and a preview of the basket (every page that shows the price with points),
mostly a purchase, sometimes one that redeems points, and now and then a return (the
purchase reversed) or a standby order fulfilled later. Weights are per task; each user
is one shopper with a customer of its own, so the double's ledger rules are exercised
as a real checkout would, not one hot row. Locust's own statistics (`--csv PREFIX`)
give requests/s and percentiles per operation.
"""

from __future__ import annotations

import os
import random
import uuid
from typing import Any

from locust import HttpUser, between, task

API_KEY = os.environ.get("MASIVO_API_KEY", "mk_ref_4f1c2a9e7b3d4c58a6e0b1d2c3f4a5b6")
BRAND_ID = os.environ.get("MASIVO_BRAND_ID", "3b8fad47-98c2-4d11-886a-36729bdcc468")
# The default seed's POINTS reward (server/seed.yaml); a team's seed names its own.
POINTS = os.environ.get("MASIVO_POINTS_REWARD", "701d6742-c510-430f-9494-c43068546752")


class Shopper(HttpUser):
    wait_time = between(0.05, 0.3)

    def on_start(self) -> None:
        token = self.client.get("/auth/authorize", headers={"x-api-key": API_KEY}).json()
        self.client.headers["Authorization"] = f"Bearer {token['data']}"
        self.customer = f"load-{uuid.uuid4().hex[:12]}"
        self.client.post(
            "/customers",
            json={"id": self.customer, "name": "Load Test", "email": "load@example.com"},
        )
        self.purchases: list[str] = []
        self.standby: list[str] = []

    def _basket(self, redeem: int = 0) -> dict[str, Any]:
        value = round(random.uniform(5, 80), 2)
        order: dict[str, Any] = {
            "purchase_id": uuid.uuid4().hex,
            "value": value,
            "products": [{"sku": f"sku-{random.randint(1, 40)}", "amount": 1, "value": value}],
        }
        if redeem:
            order["redeem"] = [{"id": POINTS, "amount": redeem}]
        return order

    def _points(self) -> float:
        wallet = self.client.get(f"/customers/{self.customer}", name="/customers/{id}")
        totals = wallet.json().get("data", {}).get("wallet", {}).get("totals", [])
        return sum(t["total"] for t in totals if t.get("reward_id") == POINTS)

    @task(6)
    def browse_with_a_preview(self) -> None:
        self._points()
        self.client.put(
            "/events/redeem/preview",
            json={"customer_id": self.customer, "brand_id": BRAND_ID, "order": self._basket(5)},
        )

    @task(4)
    def buy(self) -> None:
        held = self._points()
        redeem = int(min(held, 20)) if held >= 10 and random.random() < 0.3 else 0
        body = {
            "customer_id": self.customer,
            "brand_id": BRAND_ID,
            "type": "PURCHASE",
            "order": self._basket(redeem),
        }
        answer = self.client.post("/behavior/events", json=body)
        if answer.status_code in (200, 201):
            self.purchases.append(answer.json()["data"]["id"])

    @task(1)
    def return_a_purchase(self) -> None:
        if self.purchases:
            event = self.purchases.pop(random.randrange(len(self.purchases)))
            self.client.post(
                f"/behavior/events/{event}/reverse",
                json={"reason": "returned"},
                name="/behavior/events/{id}/reverse",
            )

    @task(1)
    def order_now_fulfil_later(self) -> None:
        if self.standby:
            event = self.standby.pop()
            self.client.patch(
                f"/behavior/events/{event}/fulfill", name="/behavior/events/{id}/fulfill"
            )
            return
        body = {
            "customer_id": self.customer,
            "brand_id": BRAND_ID,
            "type": "PURCHASE",
            "fulfilled": False,
            "order": self._basket(),
        }
        answer = self.client.post("/behavior/events", json=body, name="/behavior/events (standby)")
        if answer.status_code in (200, 201):
            self.standby.append(answer.json()["data"]["id"])

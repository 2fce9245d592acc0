"""In-memory state of the stand-in. Dicts keep insertion order, which lists use for newest-first."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from . import objects
from .config import PriceSeed
from .errors import no_such

# Collections by the name of the field that references them, for `expand[]` and lookups.
COLLECTIONS = {
    "customer": "customers",
    "price": "prices",
    "product": "products",
    "checkout.session": "sessions",
    "payment_intent": "payment_intents",
    "charge": "charges",
    "latest_charge": "charges",
    "refund": "refunds",
    "subscription": "subscriptions",
    "invoice": "invoices",
    "latest_invoice": "invoices",
    "event": "events",
    "dispute": "disputes",
}

_KIND = {  # how Stripe names a kind in "No such …" messages
    "customers": "customer",
    "prices": "price",
    "products": "product",
    "sessions": "checkout.session",
    "payment_intents": "payment_intent",
    "charges": "charge",
    "refunds": "refund",
    "subscriptions": "subscription",
    "invoices": "invoice",
    "events": "event",
    "disputes": "dispute",
    "portal_sessions": "billing_portal.session",
}


@dataclass
class SessionExtras:
    """What a checkout session remembers that is not part of the Session object."""

    payment_intent_data: dict[str, Any] = field(default_factory=dict)
    subscription_data: dict[str, Any] = field(default_factory=dict)
    customer_creation: str | None = None
    async_pending: bool = False
    charge_id: str | None = None
    payment_intent_id: str | None = None


class Store:
    def __init__(self, seed_prices: list[PriceSeed]) -> None:
        self._seed_prices = seed_prices
        self.clock_offset = 0
        self.reset()

    def reset(self) -> None:
        self.customers: dict[str, dict[str, Any]] = {}
        self.prices: dict[str, dict[str, Any]] = {}
        self.products: dict[str, dict[str, Any]] = {}
        self.sessions: dict[str, dict[str, Any]] = {}
        self.line_items: dict[str, list[dict[str, Any]]] = {}
        self.session_extras: dict[str, SessionExtras] = {}
        self.payment_intents: dict[str, dict[str, Any]] = {}
        self.charges: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.invoices: dict[str, dict[str, Any]] = {}
        self.events: dict[str, dict[str, Any]] = {}
        self.disputes: dict[str, dict[str, Any]] = {}
        self.portal_sessions: dict[str, dict[str, Any]] = {}
        # The exact bytes delivered for each event, so every (re)delivery signs the same payload.
        self.event_payloads: dict[str, str] = {}
        self.clock_offset = 0
        self._seed()

    def _seed(self) -> None:
        created = self.now()
        for seed in self._seed_prices:
            if seed.product not in self.products:
                self.products[seed.product] = objects.product(seed.product, seed.product_name or seed.product, created)
            self.prices[seed.id] = objects.price(seed, created)

    def now(self) -> int:
        return int(time.time()) + self.clock_offset

    def collection(self, name: str) -> dict[str, dict[str, Any]]:
        return getattr(self, name)

    def get(self, name: str, obj_id: str, param: str = "id", status: int = 404) -> dict[str, Any]:
        obj = self.collection(name).get(obj_id)
        if obj is None:
            raise no_such(_KIND[name], obj_id, param=param, status=status)
        return obj

    def counts(self) -> dict[str, int]:
        return {
            "customers": len(self.customers),
            "prices": len(self.prices),
            "products": len(self.products),
            "checkout_sessions": len(self.sessions),
            "payment_intents": len(self.payment_intents),
            "charges": len(self.charges),
            "refunds": len(self.refunds),
            "subscriptions": len(self.subscriptions),
            "invoices": len(self.invoices),
            "events": len(self.events),
            "disputes": len(self.disputes),
            "billing_portal_sessions": len(self.portal_sessions),
        }

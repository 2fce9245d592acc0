"""The price list the frontend may sell (ListPrices), from configuration. Prices outside it are refused
at checkout and grant nothing at fulfilment."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from billing_service.settings import BillingSettings

PAYMENT = "payment"
SUBSCRIPTION = "subscription"
MAX_QUANTITY = 100
# One grant is at most 1,000,000 tokens (the profile service's limit) and a checkout buys at most
# MAX_QUANTITY units.
MAX_TOKENS_PER_UNIT = 1_000_000 // MAX_QUANTITY


@dataclass(frozen=True)
class CatalogueEntry:
    price_id: str
    mode: str  # PAYMENT | SUBSCRIPTION
    tokens_per_unit: int
    display_name: str
    product_id: str = ""
    unit_amount: int = 0
    currency: str = ""


class Catalogue:
    def __init__(self, entries: list[CatalogueEntry]) -> None:
        self._entries = list(entries)
        self._by_price = {e.price_id: e for e in self._entries}
        if len(self._by_price) != len(self._entries):
            raise ValueError("billing catalogue lists a price twice")

    @property
    def entries(self) -> list[CatalogueEntry]:
        return list(self._entries)

    def get(self, price_id: str) -> CatalogueEntry | None:
        return self._by_price.get(price_id)

    def tokens_per_unit(self, price_id: str) -> int:
        entry = self._by_price.get(price_id)
        return entry.tokens_per_unit if entry is not None and entry.mode == PAYMENT else 0

    def with_amounts(self, amounts: dict[str, tuple[int, str]]) -> Catalogue:
        """A copy where entries without a configured amount take the one Stripe reports."""
        return Catalogue(
            [
                replace(e, unit_amount=amounts[e.price_id][0], currency=amounts[e.price_id][1])
                if not e.unit_amount and e.price_id in amounts
                else e
                for e in self._entries
            ]
        )


def _entry_from_json(item: object, index: int) -> CatalogueEntry:
    if not isinstance(item, dict):
        raise ValueError(f"BILLING_CATALOGUE[{index}] must be an object")
    try:
        price_id = str(item["price_id"])
        mode = str(item["mode"])
    except KeyError as exc:
        raise ValueError(f"BILLING_CATALOGUE[{index}] needs {exc.args[0]}") from exc
    if mode not in (PAYMENT, SUBSCRIPTION):
        raise ValueError(f"BILLING_CATALOGUE[{index}].mode must be payment or subscription")
    tokens = int(item.get("tokens_per_unit", 0))
    if mode == PAYMENT and not 1 <= tokens <= MAX_TOKENS_PER_UNIT:
        raise ValueError(
            f"BILLING_CATALOGUE[{index}].tokens_per_unit must be 1..{MAX_TOKENS_PER_UNIT} for a payment price"
        )
    if mode == SUBSCRIPTION and tokens:
        raise ValueError(f"BILLING_CATALOGUE[{index}].tokens_per_unit must be 0 for a subscription price")
    return CatalogueEntry(
        price_id=price_id,
        mode=mode,
        tokens_per_unit=tokens,
        display_name=str(item.get("display_name", price_id)),
        product_id=str(item.get("product_id", "")),
        unit_amount=int(item.get("unit_amount", 0)),
        currency=str(item.get("currency", "")),
    )


def build_catalogue(settings: BillingSettings) -> Catalogue:
    if settings.billing_catalogue.strip():
        items = json.loads(settings.billing_catalogue)
        if not isinstance(items, list) or not items:
            raise ValueError("BILLING_CATALOGUE must be a non-empty JSON list")
        return Catalogue([_entry_from_json(item, i) for i, item in enumerate(items)])
    entries = [
        CatalogueEntry(
            price_id=settings.stripe_onetime_price_id,
            mode=PAYMENT,
            tokens_per_unit=settings.stripe_onetime_tokens,
            display_name=f"{settings.stripe_onetime_tokens} tokens",
            product_id=settings.stripe_onetime_product_id,
        ),
    ]
    if settings.stripe_subscription_price_id:
        entries.append(
            CatalogueEntry(
                price_id=settings.stripe_subscription_price_id,
                mode=SUBSCRIPTION,
                tokens_per_unit=0,
                display_name="Subscription",
                product_id=settings.stripe_subscription_product_id,
            )
        )
    return Catalogue(entries)

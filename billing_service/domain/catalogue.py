"""The price list billing sells: which prices, in which mode, buying how many tokens per unit."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum

from tokens import contract_rules as limits


class PriceMode(StrEnum):
    """A price's Checkout mode; the values are Stripe's `mode` strings."""

    PAYMENT = "payment"
    SUBSCRIPTION = "subscription"


# One grant is at most 1,000,000 tokens (the profile service's limit) and a checkout buys at most
# limits.CHECKOUT_QUANTITY_MAX units.
MAX_TOKENS_PER_UNIT = limits.MAX_TOKEN_AMOUNT // limits.CHECKOUT_QUANTITY_MAX


@dataclass(frozen=True)
class CatalogueEntry:
    price_id: str
    mode: PriceMode
    tokens_per_unit: int
    display_name: str
    product_id: str = ""
    unit_amount: int = 0
    currency: str = ""


class Catalogue:
    def __init__(self, entries: Iterable[CatalogueEntry]) -> None:
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
        """Tokens one unit of the price buys; 0 for subscriptions and prices not sold here."""
        entry = self._by_price.get(price_id)
        return entry.tokens_per_unit if entry is not None and entry.mode is PriceMode.PAYMENT else 0

    def prices_without_amount(self) -> list[str]:
        return [e.price_id for e in self._entries if not e.unit_amount]

    def with_amounts(self, amounts: Mapping[str, tuple[int, str]]) -> Catalogue:
        """A copy where entries without a configured amount take the one Stripe reports."""
        return Catalogue(
            replace(e, unit_amount=amounts[e.price_id][0], currency=amounts[e.price_id][1])
            if not e.unit_amount and e.price_id in amounts
            else e
            for e in self._entries
        )

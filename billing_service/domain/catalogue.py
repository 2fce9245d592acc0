"""The price list billing sells: which prices, in which mode, buying how many tokens per unit (packs) or
granting how many per paid period (subscription allowances)."""

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
    # Subscriptions only, both per unit: each paid period's invoice grants tokens_per_period (expiring at
    # the period end), of which at most rollover_max unused carry into the next period. 0 = none.
    tokens_per_period: int = 0
    rollover_max: int = 0


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

    def allowance_per_unit(self, price_id: str) -> tuple[int, int]:
        """(tokens_per_period, rollover_max) of a subscription price; (0, 0) for others and unknown prices."""
        entry = self._by_price.get(price_id)
        if entry is None or entry.mode is not PriceMode.SUBSCRIPTION:
            return 0, 0
        return entry.tokens_per_period, entry.rollover_max

    @property
    def grants_allowances(self) -> bool:
        """Whether any price carries an allowance (else invoices need not be read at all)."""
        return any(e.mode is PriceMode.SUBSCRIPTION and e.tokens_per_period > 0 for e in self._entries)

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

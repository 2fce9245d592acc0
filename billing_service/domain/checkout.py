"""What a checkout may sell: a price from the catalogue, in its own mode, in a bounded quantity."""

from __future__ import annotations

from dataclasses import dataclass

from billing_service.domain.catalogue import Catalogue, CatalogueEntry, PriceMode
from billing_service.domain.errors import InvalidArgument
from tokens import contract_rules as limits


@dataclass(frozen=True)
class CheckoutLine:
    price: CatalogueEntry
    quantity: int


def checkout_line(catalogue: Catalogue, price_id: str, mode: PriceMode | None, quantity: int) -> CheckoutLine:
    """The line to sell; `mode` None means the price's own mode, quantity 0 means 1."""
    if not price_id:
        raise InvalidArgument("price_id", "is required")
    price = catalogue.get(price_id)
    if price is None:
        raise InvalidArgument("price_id", "is not a price this service sells", reason="UNKNOWN_PRICE")
    if mode is not None and mode != price.mode:
        raise InvalidArgument("mode", f"does not match the price (a {price.mode} price)", reason="MODE_MISMATCH")
    quantity = quantity or 1
    if price.mode is PriceMode.SUBSCRIPTION and quantity != 1:
        raise InvalidArgument("quantity", "must be 1 for a subscription")
    if not 1 <= quantity <= limits.CHECKOUT_QUANTITY_MAX:
        raise InvalidArgument("quantity", f"must be between 1 and {limits.CHECKOUT_QUANTITY_MAX}")
    return CheckoutLine(price, quantity)

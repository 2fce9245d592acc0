"""What a Checkout Session bought and who bought it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from billing_service.domain.catalogue import Catalogue


@dataclass(frozen=True)
class LineItem:
    price_id: str
    quantity: int
    product_id: str = ""  # as Stripe reports it; empty when not expanded


@dataclass(frozen=True)
class Purchase:
    tokens: int
    # The first line item that bought tokens: recorded as the grant's source.
    price_id: str = ""
    product_id: str = ""


def purchase_from_line_items(catalogue: Catalogue, items: Iterable[LineItem]) -> Purchase:
    """tokens_per_unit x quantity over the line items the catalogue sells; other items buy nothing."""
    tokens = 0
    price_id = product_id = ""
    for item in items:
        per_unit = catalogue.tokens_per_unit(item.price_id)
        if not per_unit or item.quantity <= 0:
            continue
        tokens += per_unit * item.quantity
        if not price_id:
            entry = catalogue.get(item.price_id)
            price_id = item.price_id
            product_id = item.product_id or (entry.product_id if entry else "")
    return Purchase(tokens, price_id, product_id)


def session_owner(client_reference_id: str, metadata_uid: str) -> str:
    """The uid a session belongs to: Checkout's client_reference_id, else the uid in its metadata."""
    return client_reference_id or metadata_uid


def claimed_by_only(client_reference_id: str, metadata_uid: str, uid: str) -> bool:
    """True when every uid the session names is `uid` (and it names at least one)."""
    claimed = {client_reference_id, metadata_uid} - {""}
    return claimed == {uid}

"""ListPrices: the configured catalogue; amounts not configured are read from Stripe once (best effort)."""

from __future__ import annotations

import asyncio
import logging
import time

import stripe

from billing_service.domain.catalogue import Catalogue, CatalogueEntry
from billing_service.use_cases.ports import StripePort

log = logging.getLogger("billing")

PRICE_RETRY_S = 60.0  # after Stripe failed to report prices, list configured values for this long
PRICE_READ_TIMEOUT_S = 5.0


class PriceList:
    def __init__(self, catalogue: Catalogue, stripe_port: StripePort) -> None:
        self._catalogue = catalogue
        self._stripe = stripe_port
        self._priced: Catalogue | None = None
        self._retry_at = 0.0

    async def list_prices(self) -> list[CatalogueEntry]:
        if self._priced is not None:
            return self._priced.entries
        missing = self._catalogue.prices_without_amount()
        if not missing:
            self._priced = self._catalogue
            return self._catalogue.entries
        if time.monotonic() < self._retry_at:
            return self._catalogue.entries
        try:
            prices = await asyncio.wait_for(
                asyncio.gather(*(self._stripe.retrieve_price(p) for p in missing)), timeout=PRICE_READ_TIMEOUT_S
            )
        except (TimeoutError, stripe.StripeError) as exc:
            log.warning(
                "could not read prices from Stripe; listing configured values", extra={"fields": {"error": repr(exc)}}
            )
            self._retry_at = time.monotonic() + PRICE_RETRY_S
            return self._catalogue.entries
        self._priced = self._catalogue.with_amounts({p.id: (p.unit_amount, p.currency) for p in prices if p.id})
        return self._priced.entries

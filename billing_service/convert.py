"""Billing's domain values <-> the BillingService proto, in one place."""

from __future__ import annotations

from billing_service.domain.catalogue import CatalogueEntry, PriceMode
from billing_service.domain.outcomes import FulfilmentOutcome
from tokens.billing.v1 import billing_service_pb2 as pb

PRICE_MODE_TO_PB: dict[PriceMode, pb.PriceMode.ValueType] = {
    PriceMode.PAYMENT: pb.PRICE_MODE_PAYMENT,
    PriceMode.SUBSCRIPTION: pb.PRICE_MODE_SUBSCRIPTION,
}
PB_TO_PRICE_MODE = {v: k for k, v in PRICE_MODE_TO_PB.items()}

FULFILMENT_OUTCOME_TO_PB: dict[FulfilmentOutcome, pb.FulfillmentStatus.ValueType] = {
    FulfilmentOutcome.FULFILLED: pb.FULFILLMENT_STATUS_FULFILLED,
    FulfilmentOutcome.PENDING: pb.FULFILLMENT_STATUS_PENDING,
    FulfilmentOutcome.FAILED: pb.FULFILLMENT_STATUS_FAILED,
    FulfilmentOutcome.SUBSCRIPTION: pb.FULFILLMENT_STATUS_SUBSCRIPTION,
}


def price_to_pb(entry: CatalogueEntry) -> pb.Price:
    return pb.Price(
        price_id=entry.price_id,
        mode=PRICE_MODE_TO_PB[entry.mode],
        tokens_per_unit=entry.tokens_per_unit,
        display_name=entry.display_name,
        product_id=entry.product_id,
        unit_amount=entry.unit_amount,
        currency=entry.currency,
        tokens_per_period=entry.tokens_per_period,
        rollover_max=entry.rollover_max,
    )

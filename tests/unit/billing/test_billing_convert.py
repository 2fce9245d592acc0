"""The domain enums map onto the proto enums one to one, in one place (billing_service/convert.py)."""

from __future__ import annotations

from billing_service import convert
from billing_service.domain.catalogue import PriceMode
from billing_service.domain.outcomes import FulfilmentOutcome
from tokens.billing.v1 import billing_service_pb2 as pb


def test_every_price_mode_maps_to_a_distinct_proto_value():
    assert set(convert.PRICE_MODE_TO_PB) == set(PriceMode)
    specified = {v.number for v in pb.PriceMode.DESCRIPTOR.values} - {pb.PRICE_MODE_UNSPECIFIED}
    assert set(convert.PRICE_MODE_TO_PB.values()) == specified
    assert {convert.PB_TO_PRICE_MODE[convert.PRICE_MODE_TO_PB[m]] for m in PriceMode} == set(PriceMode)


def test_every_fulfilment_outcome_maps_to_a_distinct_proto_value():
    assert set(convert.FULFILMENT_OUTCOME_TO_PB) == set(FulfilmentOutcome)
    specified = {v.number for v in pb.FulfillmentStatus.DESCRIPTOR.values} - {pb.FULFILLMENT_STATUS_UNSPECIFIED}
    assert set(convert.FULFILMENT_OUTCOME_TO_PB.values()) == specified

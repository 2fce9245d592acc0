"""/v1/prices: the catalogue, from billing."""

from __future__ import annotations

from fastapi import APIRouter

from gateway import convert
from gateway.deps import BillingClient, CurrentUser
from gateway.errors import AUTH_ERROR_RESPONSES, COMMON_ERROR_RESPONSES
from gateway.schemas import PriceList
from tokens.billing.v1 import billing_service_pb2 as pb

router = APIRouter(prefix="/v1/prices", tags=["prices"], responses={**COMMON_ERROR_RESPONSES, **AUTH_ERROR_RESPONSES})


@router.get("", response_model=PriceList, summary="What can be bought")
async def list_prices(_user: CurrentUser, billing: BillingClient) -> PriceList:
    reply = await billing.call(billing.stub.ListPrices, pb.ListPricesRequest())
    return PriceList(prices=[p for p in (convert.price(item) for item in reply.prices) if p is not None])

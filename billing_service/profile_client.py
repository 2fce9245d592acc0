"""The profile service as billing uses it: every call carries a deadline and the request metadata built
in one place (`_metadata`), and failures surface as ProfileCallError so error_mapping can pass the
profile service's code, reason and field through unchanged (UNAVAILABLE stays UNAVAILABLE)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import grpc
from google.protobuf import timestamp_pb2

from service_kit.request_context import outgoing_metadata
from service_kit.rich_errors import ErrorDetails, details_of
from tokens.profile.v1 import profile_service_pb2 as ppb
from tokens.profile.v1 import profile_service_pb2_grpc as ppb_grpc

MetadataPairs = tuple[tuple[str, str], ...]


class ProfileCallError(Exception):
    """A profile service call failed; `details` is what it answered (or the transport's code)."""

    def __init__(self, method: str, details: ErrorDetails) -> None:
        super().__init__(f"profile service {method}: {details.code.name}: {details.message}")
        self.method = method
        self.details = details

    @property
    def code(self) -> grpc.StatusCode:
        return self.details.code

    @property
    def reason(self) -> str:
        return self.details.reason


def _timestamp(value: datetime | int | float) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    if isinstance(value, datetime):
        ts.FromDatetime(value.astimezone(UTC))
    else:
        ts.FromSeconds(int(value))
    return ts


class ProfileClient:
    def __init__(
        self, channel: grpc.aio.Channel, timeout_s: float, extra_metadata: Callable[[], MetadataPairs] | None = None
    ) -> None:
        self._stub = ppb_grpc.ProfileServiceStub(channel)
        self._timeout_s = timeout_s
        self._extra_metadata = extra_metadata

    def _metadata(self) -> MetadataPairs:
        """The one place call metadata is built: request id now, a per-caller credential later."""
        return outgoing_metadata(self._extra_metadata() if self._extra_metadata else ())

    async def _call(self, method: str, request):
        try:
            return await getattr(self._stub, method)(request, timeout=self._timeout_s, metadata=self._metadata())
        except grpc.RpcError as exc:
            raise ProfileCallError(method, details_of(exc)) from exc

    async def get_profile(self, uid: str) -> ppb.UserProfile:
        return (await self._call("GetProfile", ppb.GetProfileRequest(uid=uid))).profile

    async def create_profile(self, uid: str, email: str = "") -> ppb.UserProfile:
        return (await self._call("CreateProfile", ppb.CreateProfileRequest(uid=uid, email=email))).profile

    async def link_stripe_customer(self, uid: str, customer_id: str) -> ppb.LinkStripeCustomerResponse:
        return await self._call("LinkStripeCustomer", ppb.LinkStripeCustomerRequest(uid=uid, customer_id=customer_id))

    async def grant_purchase(
        self, uid: str, amount: int, idempotency_key: str, source: dict[str, str]
    ) -> ppb.GrantTokensResponse:
        return await self._call(
            "GrantTokens",
            ppb.GrantTokensRequest(
                uid=uid,
                amount=amount,
                type=ppb.TOKEN_ENTRY_TYPE_PURCHASE,
                idempotency_key=idempotency_key,
                source=source,
            ),
        )

    async def revoke(
        self, uid: str, amount: int, idempotency_key: str, reason: str, source: dict[str, str]
    ) -> ppb.RevokeTokensResponse:
        return await self._call(
            "RevokeTokens",
            ppb.RevokeTokensRequest(
                uid=uid,
                amount=amount,
                idempotency_key=idempotency_key,
                reason=reason,
                source=source,
            ),
        )

    async def set_entitlements(
        self, uid: str, *, has_access: bool, status: str, current_period_end: int | None, source_event_time: int
    ) -> ppb.SetEntitlementsResponse:
        request = ppb.SetEntitlementsRequest(
            uid=uid,
            has_access=has_access,
            subscription_status=status,
            source_event_time=_timestamp(source_event_time),
        )
        if current_period_end:
            request.current_period_end.CopyFrom(_timestamp(current_period_end))
        return await self._call("SetEntitlements", request)

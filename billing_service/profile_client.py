"""The profile service as billing uses it, on service_kit's client: every call carries a deadline, the
request id and billing's credential, and failures surface as ProfileCallError (service_kit's RpcCallError)
so error_mapping can pass the profile service's code, reason and field through unchanged (UNAVAILABLE stays
UNAVAILABLE)."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

from service_kit.grpc_client import MetadataPairs, RpcCallError, ServiceClient
from service_kit.timestamps import to_timestamp
from tokens.profile.v1 import profile_service_pb2 as ppb
from tokens.profile.v1 import profile_service_pb2_grpc as ppb_grpc

__all__ = ["PROFILE_SERVICE", "MetadataPairs", "ProfileCallError", "ProfileClient"]

PROFILE_SERVICE = ppb.DESCRIPTOR.services_by_name["ProfileService"].full_name
# A failed profile call: .code, .reason, .field, .method, .details (service_kit.rich_errors.ErrorDetails).
ProfileCallError = RpcCallError


if TYPE_CHECKING:  # the async stub type exists in the generated .pyi only
    ProfileServiceClient: TypeAlias = ServiceClient[ppb_grpc.ProfileServiceAsyncStub]
else:
    ProfileServiceClient = ServiceClient[ppb_grpc.ProfileServiceStub]


class ProfileClient:
    def __init__(self, client: ProfileServiceClient) -> None:
        self._client = client
        self._stub = client.stub

    async def close(self) -> None:
        await self._client.close()

    async def get_profile(self, uid: str) -> ppb.UserProfile:
        return (await self._client.call(self._stub.GetProfile, ppb.GetProfileRequest(uid=uid))).profile

    async def create_profile(self, uid: str, email: str = "") -> ppb.UserProfile:
        reply = await self._client.call(self._stub.CreateProfile, ppb.CreateProfileRequest(uid=uid, email=email))
        return reply.profile

    async def link_stripe_customer(self, uid: str, customer_id: str) -> ppb.LinkStripeCustomerResponse:
        return await self._client.call(
            self._stub.LinkStripeCustomer, ppb.LinkStripeCustomerRequest(uid=uid, customer_id=customer_id)
        )

    async def _grant(
        self, entry_type: ppb.TokenEntryType.ValueType, uid: str, amount: int, key: str, source: dict[str, str]
    ) -> ppb.GrantTokensResponse:
        request = ppb.GrantTokensRequest(uid=uid, amount=amount, type=entry_type, idempotency_key=key, source=source)
        return await self._client.call(self._stub.GrantTokens, request)

    async def grant_purchase(
        self, uid: str, amount: int, idempotency_key: str, source: dict[str, str]
    ) -> ppb.GrantTokensResponse:
        return await self._grant(ppb.TOKEN_ENTRY_TYPE_PURCHASE, uid, amount, idempotency_key, source)

    async def grant_allowance(
        self,
        uid: str,
        amount: int,
        idempotency_key: str,
        source: dict[str, str],
        *,
        effective_at: int,
        expires_at: int,
        rollover_max: int,
    ) -> ppb.GrantTokensResponse:
        """A subscription period's allowance: effective from the period start, expiring at its end."""
        return await self._client.call(
            self._stub.GrantTokens,
            ppb.GrantTokensRequest(
                uid=uid,
                amount=amount,
                type=ppb.TOKEN_ENTRY_TYPE_ALLOWANCE,
                category=ppb.GRANT_CATEGORY_ALLOWANCE,
                idempotency_key=idempotency_key,
                source=source,
                effective_at=to_timestamp(effective_at),
                expires_at=to_timestamp(expires_at),
                rollover_max=rollover_max,
            ),
        )

    async def revoke(
        self, uid: str, amount: int, idempotency_key: str, reason: str, source: dict[str, str], grant_key: str
    ) -> ppb.RevokeTokensResponse:
        """Takes back `amount`, first from the grant made under `grant_key` (the purchase's), then in the
        spending order."""
        return await self._client.call(
            self._stub.RevokeTokens,
            ppb.RevokeTokensRequest(
                uid=uid,
                amount=amount,
                idempotency_key=idempotency_key,
                reason=reason,
                source=source,
                grant_idempotency_key=grant_key,
            ),
        )

    async def set_entitlements(
        self, uid: str, *, has_access: bool, status: str, current_period_end: int | None, source_event_time: int
    ) -> ppb.SetEntitlementsResponse:
        request = ppb.SetEntitlementsRequest(
            uid=uid,
            has_access=has_access,
            subscription_status=status,
            source_event_time=to_timestamp(source_event_time),
        )
        if current_period_end:
            request.current_period_end.CopyFrom(to_timestamp(current_period_end))
        return await self._client.call(self._stub.SetEntitlements, request)

    async def get_ledger_entry(self, uid: str, idempotency_key: str) -> ppb.TokenTransaction | None:
        """The entry stored under the key, or None (ENTRY_NOT_FOUND). A missing profile still raises."""
        try:
            reply = await self._client.call(
                self._stub.GetLedgerEntry, ppb.GetLedgerEntryRequest(uid=uid, idempotency_key=idempotency_key)
            )
        except ProfileCallError as exc:
            if exc.reason == "ENTRY_NOT_FOUND":
                return None
            raise
        return reply.entry

    async def grant_reversal(
        self, uid: str, amount: int, idempotency_key: str, source: dict[str, str]
    ) -> ppb.GrantTokensResponse:
        """Gives back what a revocation took (a refund that failed, a dispute won)."""
        return await self._grant(ppb.TOKEN_ENTRY_TYPE_REFUND_REVERSAL, uid, amount, idempotency_key, source)

    async def replace_stripe_customer(
        self, uid: str, customer_id: str, replaces_customer_id: str
    ) -> ppb.LinkStripeCustomerResponse:
        """Links customer_id only while the stored link is still replaces_customer_id (compare-and-set)."""
        return await self._client.call(
            self._stub.LinkStripeCustomer,
            ppb.LinkStripeCustomerRequest(uid=uid, customer_id=customer_id, replaces_customer_id=replaces_customer_id),
        )

"""ProfileService over gRPC: validates requests, runs domain rules through the store, shapes replies.
Errors are raised as domain errors; error_mapping.py turns them into statuses."""

from __future__ import annotations

import time
from typing import Any, TypeVar

import grpc

from profile_service import convert
from profile_service.domain import ledger, profiles, validation
from profile_service.domain.batch import WriteOp
from profile_service.domain.errors import InvalidArgument, ProfileNotFound
from profile_service.domain.ledger import ChangeKind, Decide
from profile_service.domain.model import GRANT_TYPES, EntryType, Profile
from profile_service.settings import ProfileSettings
from profile_service.store.base import ProfileStore
from profile_service.write_queue import WriteQueue
from tokens.profile.v1 import profile_service_pb2 as pb
from tokens.profile.v1 import profile_service_pb2_grpc as pb_grpc

T = TypeVar("T")
Context = grpc.aio.ServicerContext[Any, Any]


def _deadline(context: Context) -> float | None:
    """The caller's gRPC deadline as a time.monotonic() instant (None: the caller set none)."""
    remaining = context.time_remaining()
    return None if remaining is None else time.monotonic() + remaining


def _grant_type(value: int) -> EntryType:
    kind = convert.PB_TO_ENTRY_TYPE.get(pb.TokenEntryType.ValueType(value))
    if kind is None or kind not in GRANT_TYPES:
        allowed = ", ".join(pb.TokenEntryType.Name(convert.ENTRY_TYPE_TO_PB[t]) for t in sorted(GRANT_TYPES, key=str))
        raise InvalidArgument("type", f"must be one of {allowed}")
    return kind


class ProfileServicer(pb_grpc.ProfileServiceServicer):
    def __init__(self, store: ProfileStore, settings: ProfileSettings | None = None) -> None:
        settings = settings or ProfileSettings(_env_file=None)
        self._store = store
        # Every write goes through the user's queue (group commit); reads go to the store directly.
        self._writes = WriteQueue(
            store,
            enabled=settings.profile_write_queue,
            batch_max=settings.profile_write_batch_max,
            batch_wait_s=settings.profile_write_batch_wait_ms / 1000,
            write_timeout_s=settings.profile_write_timeout_s,
        )

    async def _write(self, context: Context, uid: str, entry_id: str | None, decide: Decide[T]) -> T:
        return await self._writes.submit(uid, WriteOp(entry_id, decide), _deadline(context))

    async def CreateProfile(self, request: pb.CreateProfileRequest, context: Context) -> pb.CreateProfileResponse:
        uid = validation.uid(request.uid)
        email = validation.email(request.email)
        profile, created = await self._write(
            context, uid, None, lambda existing, _e, now: profiles.create_profile(existing, uid, email, now)
        )
        return pb.CreateProfileResponse(profile=convert.profile_to_pb(profile), created=created)

    async def GetProfile(self, request: pb.GetProfileRequest, context: Context) -> pb.GetProfileResponse:
        return pb.GetProfileResponse(profile=convert.profile_to_pb(await self._require_profile(request.uid)))

    async def UpdateProfile(self, request: pb.UpdateProfileRequest, context: Context) -> pb.UpdateProfileResponse:
        uid = validation.uid(request.profile.uid, "profile.uid")
        paths = profiles.check_update_paths(list(request.update_mask.paths))
        changes: dict[str, object] = {}
        for path in paths:
            if path == "email":
                changes["email"] = validation.email(request.profile.email, "profile.email")
            elif path == "display_name":
                changes["display_name"] = validation.bounded_text(
                    request.profile.display_name, "profile.display_name", validation.MAX_DISPLAY_NAME_LEN
                )
            elif path == "last_login":
                if not request.profile.HasField("last_login"):
                    raise InvalidArgument("profile.last_login", "is required when named in update_mask")
                changes["last_login"] = convert.to_datetime(request.profile.last_login, "profile.last_login")
        updated = await self._write(
            context, uid, None, lambda existing, _e, _now: profiles.update_profile(existing, uid, changes)
        )
        return pb.UpdateProfileResponse(profile=convert.profile_to_pb(updated))

    async def _apply(self, context: Context, change: ledger.LedgerChange) -> ledger.LedgerResult:
        return await self._write(
            context,
            change.uid,
            change.entry_id,
            lambda profile, prior, now: ledger.apply_change(profile, prior, change, now),
        )

    async def GrantTokens(self, request: pb.GrantTokensRequest, context: Context) -> pb.GrantTokensResponse:
        change = ledger.LedgerChange(
            kind=ChangeKind.GRANT,
            uid=validation.uid(request.uid),
            amount=validation.amount(request.amount, validation.MAX_GRANT_AMOUNT),
            type=_grant_type(request.type),
            idempotency_key=validation.idempotency_key(request.idempotency_key),
            source=validation.source(dict(request.source)),
        )
        result = await self._apply(context, change)
        return pb.GrantTokensResponse(
            balance=result.balance, entry=convert.entry_to_pb(result.entry), already_applied=result.already_applied
        )

    async def SpendTokens(self, request: pb.SpendTokensRequest, context: Context) -> pb.SpendTokensResponse:
        change = ledger.LedgerChange(
            kind=ChangeKind.SPEND,
            uid=validation.uid(request.uid),
            amount=validation.amount(request.amount, validation.MAX_SPEND_AMOUNT),
            type=EntryType.SPEND,
            idempotency_key=validation.idempotency_key(request.idempotency_key),
            source={},
            reason=validation.bounded_text(request.reason, "reason", validation.MAX_REASON_LEN),
        )
        result = await self._apply(context, change)
        return pb.SpendTokensResponse(
            balance=result.balance, entry=convert.entry_to_pb(result.entry), already_applied=result.already_applied
        )

    async def RevokeTokens(self, request: pb.RevokeTokensRequest, context: Context) -> pb.RevokeTokensResponse:
        change = ledger.LedgerChange(
            kind=ChangeKind.REVOKE,
            uid=validation.uid(request.uid),
            amount=validation.amount(request.amount, validation.MAX_GRANT_AMOUNT),
            type=EntryType.REFUND,
            idempotency_key=validation.idempotency_key(request.idempotency_key),
            source=validation.source(dict(request.source)),
            reason=validation.bounded_text(request.reason, "reason", validation.MAX_REASON_LEN),
        )
        result = await self._apply(context, change)
        return pb.RevokeTokensResponse(
            balance=result.balance,
            entry=convert.entry_to_pb(result.entry),
            already_applied=result.already_applied,
            shortfall=result.shortfall,
        )

    async def ListTokenHistory(
        self, request: pb.ListTokenHistoryRequest, context: Context
    ) -> pb.ListTokenHistoryResponse:
        uid = validation.uid(request.uid)
        size = validation.page_size(request.page_size)
        before = convert.decode_page_token(uid, request.page_token)
        # One extra row tells whether another page exists without a second query.
        rows = await self._store.list_entries(uid, before, size + 1)
        if not rows and before is None:
            await self._require_profile(uid)
        page, more = rows[:size], len(rows) > size
        return pb.ListTokenHistoryResponse(
            entries=[convert.entry_to_pb(e) for e in page],
            next_page_token=convert.encode_page_token(uid, page[-1].seq) if more else "",
        )

    async def LinkStripeCustomer(
        self, request: pb.LinkStripeCustomerRequest, context: Context
    ) -> pb.LinkStripeCustomerResponse:
        uid = validation.uid(request.uid)
        customer_id = request.customer_id
        if not customer_id:
            raise InvalidArgument("customer_id", "is required")
        validation.bounded_text(customer_id, "customer_id", validation.MAX_CUSTOMER_ID_LEN)
        result = await self._write(
            context, uid, None, lambda existing, _e, _now: profiles.link_customer(existing, uid, customer_id)
        )
        return pb.LinkStripeCustomerResponse(customer_id=result.customer_id, linked=result.linked)

    async def SetEntitlements(self, request: pb.SetEntitlementsRequest, context: Context) -> pb.SetEntitlementsResponse:
        uid = validation.uid(request.uid)
        status = validation.bounded_text(request.subscription_status, "subscription_status", validation.MAX_STATUS_LEN)
        if not request.HasField("source_event_time"):
            raise InvalidArgument("source_event_time", "is required")
        event_time = convert.to_datetime(request.source_event_time, "source_event_time")
        period_end = (
            convert.to_datetime(request.current_period_end, "current_period_end")
            if request.HasField("current_period_end")
            else None
        )
        profile, applied = await self._write(
            context,
            uid,
            None,
            lambda existing, _e, _now: profiles.set_entitlements(
                existing, uid, request.has_access, status, period_end, event_time
            ),
        )
        return pb.SetEntitlementsResponse(profile=convert.profile_to_pb(profile), applied=applied)

    async def _require_profile(self, raw_uid: str) -> Profile:
        uid = validation.uid(raw_uid)
        profile = await self._store.get_profile(uid)
        if profile is None:
            raise ProfileNotFound(uid)
        return profile

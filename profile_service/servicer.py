"""ProfileService over gRPC: validates requests, runs domain rules through the store, shapes replies.
Errors are raised as domain errors; error_mapping.py turns them into statuses."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any, TypeVar

import grpc

from profile_service import convert
from profile_service.domain import holds, ledger, profiles, validation
from profile_service.domain.batch import WriteOp
from profile_service.domain.errors import EntryNotFound, InvalidArgument, ProfileNotFound
from profile_service.domain.keys import SIGNUP_BONUS_KEY, entry_id_for
from profile_service.domain.ledger import ChangeKind, Decide
from profile_service.domain.model import GRANT_TYPES, EntryType, Profile
from profile_service.error_mapping import to_rpc_error
from profile_service.metrics import ProfileMetrics
from profile_service.settings import ProfileSettings
from profile_service.store.base import ProfileStore
from profile_service.watch import ProfileWatch
from profile_service.write_queue import WriteQueue
from service_kit.rich_errors import to_status
from tokens import contract_rules as limits
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
    def __init__(
        self, store: ProfileStore, settings: ProfileSettings | None = None, metrics: ProfileMetrics | None = None
    ) -> None:
        settings = settings or ProfileSettings(_env_file=None)
        self._store = store
        self._shortfall_policy = settings.shortfall_policy
        self._signup_bonus = (
            profiles.SignupBonus(
                settings.signup_bonus_tokens,
                timedelta(days=settings.signup_bonus_ttl_days) if settings.signup_bonus_ttl_days else None,
            )
            if settings.signup_bonus_tokens
            else None
        )
        # Every write goes through the user's queue (group commit); reads go to the store directly.
        self._writes = WriteQueue(
            store,
            enabled=settings.profile_write_queue,
            batch_max=settings.profile_write_batch_max,
            batch_wait_s=settings.profile_write_batch_wait_ms / 1000,
            write_timeout_s=settings.profile_write_timeout_s,
            metrics=metrics,
        )
        self._watch = ProfileWatch(store, poll_s=settings.profile_watch_poll_s, feed=store.change_feed())

    async def _write(self, context: Context, uid: str, entry_id: str | None, decide: Decide[T]) -> T:
        try:
            return await self._writes.submit(uid, WriteOp(entry_id, decide), _deadline(context))
        finally:
            # After the commit (or whatever happened): this user's watchers re-read.
            self._watch.changed(uid)

    async def CreateProfile(self, request: pb.CreateProfileRequest, context: Context) -> pb.CreateProfileResponse:
        uid = validation.uid(request.uid)
        email = validation.email(request.email)
        bonus = self._signup_bonus
        # With a signup bonus, the transaction also reads the bonus entry: granted once per uid, ever.
        bonus_id = ledger.entry_id_for(uid, SIGNUP_BONUS_KEY) if bonus else None
        profile, created = await self._write(
            context,
            uid,
            bonus_id,
            lambda existing, prior, now: profiles.create_profile(existing, uid, email, now, bonus, prior),
        )
        return pb.CreateProfileResponse(profile=convert.profile_to_pb(profile, self._store.clock()), created=created)

    async def GetProfile(self, request: pb.GetProfileRequest, context: Context) -> pb.GetProfileResponse:
        return pb.GetProfileResponse(
            profile=convert.profile_to_pb(await self._require_profile(request.uid), self._store.clock())
        )

    async def UpdateProfile(self, request: pb.UpdateProfileRequest, context: Context) -> pb.UpdateProfileResponse:
        uid = validation.uid(request.profile.uid, "profile.uid")
        paths = profiles.check_update_paths(list(request.update_mask.paths))
        changes: dict[str, object] = {}
        for path in paths:
            if path == "email":
                changes["email"] = validation.email(request.profile.email, "profile.email")
            elif path == "display_name":
                changes["display_name"] = validation.bounded_text(
                    request.profile.display_name, "profile.display_name", limits.DISPLAY_NAME_MAX_LEN
                )
            elif path == "last_login":
                if not request.profile.HasField("last_login"):
                    raise InvalidArgument("profile.last_login", "is required when named in update_mask")
                changes["last_login"] = convert.to_datetime(request.profile.last_login, "profile.last_login")
        updated = await self._write(
            context, uid, None, lambda existing, _e, _now: profiles.update_profile(existing, uid, changes)
        )
        return pb.UpdateProfileResponse(profile=convert.profile_to_pb(updated, self._store.clock()))

    async def _apply(self, context: Context, change: ledger.LedgerChange) -> ledger.LedgerResult:
        return await self._write(
            context,
            change.uid,
            change.entry_id,
            lambda profile, prior, now: ledger.apply_change(profile, prior, change, now),
        )

    async def GrantTokens(self, request: pb.GrantTokensRequest, context: Context) -> pb.GrantTokensResponse:
        entry_type = _grant_type(request.type)
        change = ledger.LedgerChange(
            kind=ChangeKind.GRANT,
            uid=validation.uid(request.uid),
            amount=validation.amount(request.amount, limits.MAX_TOKEN_AMOUNT),
            type=entry_type,
            idempotency_key=validation.idempotency_key(request.idempotency_key),
            source=validation.source(dict(request.source)),
            terms=convert.grant_terms(request, self._store.clock()),
        )
        result = await self._apply(context, change)
        return pb.GrantTokensResponse(
            balance=result.balance, entry=convert.entry_to_pb(result.entry), already_applied=result.already_applied
        )

    async def SpendTokens(self, request: pb.SpendTokensRequest, context: Context) -> pb.SpendTokensResponse:
        change = ledger.LedgerChange(
            kind=ChangeKind.SPEND,
            uid=validation.uid(request.uid),
            amount=validation.amount(request.amount, limits.MAX_TOKEN_AMOUNT),
            type=EntryType.SPEND,
            idempotency_key=validation.idempotency_key(request.idempotency_key),
            source={},
            reason=validation.bounded_text(request.reason, "reason", limits.REASON_MAX_LEN),
        )
        result = await self._apply(context, change)
        return pb.SpendTokensResponse(
            balance=result.balance, entry=convert.entry_to_pb(result.entry), already_applied=result.already_applied
        )

    async def RevokeTokens(self, request: pb.RevokeTokensRequest, context: Context) -> pb.RevokeTokensResponse:
        uid = validation.uid(request.uid)
        change = ledger.LedgerChange(
            kind=ChangeKind.REVOKE,
            uid=uid,
            amount=validation.amount(request.amount, limits.MAX_TOKEN_AMOUNT),
            type=EntryType.REFUND,
            idempotency_key=validation.idempotency_key(request.idempotency_key),
            source=validation.source(dict(request.source)),
            reason=validation.bounded_text(request.reason, "reason", limits.REASON_MAX_LEN),
            shortfall_policy=self._shortfall_policy,
            from_grant_key=(
                validation.idempotency_key(request.grant_idempotency_key, "grant_idempotency_key")
                if request.grant_idempotency_key
                else ""
            ),
        )
        if change.from_grant_key:
            # Grant entries never change once written, so reading this one outside the transaction is safe; a
            # grant not written yet is looked for under its own id.
            granted = await self._store.get_entry(uid, entry_id_for(uid, change.from_grant_key))
            change = ledger.with_grant_holder(change, granted)
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
        validation.bounded_text(customer_id, "customer_id", limits.STRIPE_ID_MAX_LEN)
        replaces = validation.bounded_text(
            request.replaces_customer_id, "replaces_customer_id", limits.STRIPE_ID_MAX_LEN
        )
        result = await self._write(
            context,
            uid,
            None,
            lambda existing, _e, _now: profiles.link_customer(existing, uid, customer_id, replaces),
        )
        return pb.LinkStripeCustomerResponse(customer_id=result.customer_id, linked=result.linked)

    async def SetEntitlements(self, request: pb.SetEntitlementsRequest, context: Context) -> pb.SetEntitlementsResponse:
        uid = validation.uid(request.uid)
        status = validation.bounded_text(
            request.subscription_status, "subscription_status", limits.SUBSCRIPTION_STATUS_MAX_LEN
        )
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
        return pb.SetEntitlementsResponse(profile=convert.profile_to_pb(profile, self._store.clock()), applied=applied)

    async def GetLedgerEntry(self, request: pb.GetLedgerEntryRequest, context: Context) -> pb.GetLedgerEntryResponse:
        uid = validation.uid(request.uid)
        key = validation.idempotency_key(request.idempotency_key)
        entry = await self._store.get_entry(uid, ledger.entry_id_for(uid, key))
        if entry is None:
            await self._require_profile(uid)  # no profile at all is PROFILE_NOT_FOUND, not ENTRY_NOT_FOUND
            raise EntryNotFound(key)
        return pb.GetLedgerEntryResponse(entry=convert.entry_to_pb(entry))

    async def WatchProfile(
        self, request: pb.WatchProfileRequest, context: Context
    ) -> AsyncIterator[pb.WatchProfileResponse]:
        # Streams pass service_kit's error-mapping interceptor by, so domain errors are mapped here, by the
        # same table.
        try:
            uid = validation.uid(request.uid)
            last: pb.UserProfile | None = None
            async for profile in self._watch.watch(uid):
                message = convert.profile_to_pb(profile, self._store.clock())
                if message != last:  # internal fields (ledger_seq, ...) changed only
                    last = message
                    yield pb.WatchProfileResponse(profile=message)
        except Exception as exc:
            spec = to_rpc_error(exc)
            if spec is None:
                raise
            await context.abort_with_status(to_status(spec))

    async def ReserveTokens(self, request: pb.ReserveTokensRequest, context: Context) -> pb.ReserveTokensResponse:
        uid = validation.uid(request.uid)
        amount = validation.amount(request.amount, limits.MAX_TOKEN_AMOUNT)
        ttl = convert.hold_ttl(request)
        key = validation.idempotency_key(request.idempotency_key)
        reason = validation.bounded_text(request.reason, "reason", limits.REASON_MAX_LEN)
        result = await self._write(
            context,
            uid,
            ledger.entry_id_for(uid, key),
            lambda profile, prior, now: holds.reserve(profile, prior, uid, key, amount, ttl, reason, now),
        )
        return pb.ReserveTokensResponse(
            hold_id=result.hold_id,
            amount=result.amount,
            expires_at=convert.timestamp(result.expires_at),
            available_tokens=result.available,
            entry=convert.entry_to_pb(result.entry),
            already_applied=result.already_applied,
        )

    async def CaptureHold(self, request: pb.CaptureHoldRequest, context: Context) -> pb.CaptureHoldResponse:
        uid = validation.uid(request.uid)
        hold_id = convert.hold_id(request.hold_id)
        amount = validation.between(request.amount, 0, limits.MAX_TOKEN_AMOUNT, "amount")
        overage = convert.overage(request.overage)
        reason = validation.bounded_text(request.reason, "reason", limits.REASON_MAX_LEN)
        result = await self._write(
            context,
            uid,
            holds.settle_entry_id(uid, hold_id),
            lambda profile, prior, now: holds.capture(profile, prior, uid, hold_id, amount, overage, reason, now),
        )
        return pb.CaptureHoldResponse(
            balance=result.balance,
            captured=result.captured,
            released=result.released,
            entry=convert.entry_to_pb(result.entry),
            already_applied=result.already_applied,
        )

    async def ReleaseHold(self, request: pb.ReleaseHoldRequest, context: Context) -> pb.ReleaseHoldResponse:
        uid = validation.uid(request.uid)
        hold_id = convert.hold_id(request.hold_id)
        result = await self._write(
            context,
            uid,
            holds.settle_entry_id(uid, hold_id),
            lambda profile, prior, now: holds.release(profile, prior, uid, hold_id, now),
        )
        return pb.ReleaseHoldResponse(
            balance=result.balance,
            released=result.released,
            entry=convert.entry_to_pb(result.entry),
            already_applied=result.already_applied,
        )

    async def sweep_user(self, uid: str) -> int:
        """Writes what time did to one profile (expiries, rollovers, expired holds) through its write queue."""
        result: int = await self._writes.submit(uid, WriteOp(None, lambda profile, _e, now: holds.sweep(profile, now)))
        if result:
            self._watch.changed(uid)
        return result

    async def AdminGrantTokens(self, request: pb.GrantTokensRequest, context: Context) -> pb.GrantTokensResponse:
        """GrantTokens for operators (the admin caller only, see permissions.py): promotional grants and
        adjustments, nothing that looks like money paid."""
        if request.type not in (pb.TOKEN_ENTRY_TYPE_PROMOTIONAL, pb.TOKEN_ENTRY_TYPE_ADJUSTMENT):
            raise InvalidArgument("type", "must be TOKEN_ENTRY_TYPE_PROMOTIONAL or TOKEN_ENTRY_TYPE_ADJUSTMENT")
        if request.category not in (pb.GRANT_CATEGORY_UNSPECIFIED, pb.GRANT_CATEGORY_PROMOTIONAL):
            raise InvalidArgument("category", "must be GRANT_CATEGORY_PROMOTIONAL (or unset)")
        return await self.GrantTokens(request, context)

    async def _require_profile(self, raw_uid: str) -> Profile:
        uid = validation.uid(raw_uid)
        profile = await self._store.get_profile(uid)
        if profile is None:
            raise ProfileNotFound(uid)
        return profile

"""customer.subscription.* webhooks: the user's entitlements from all of the customer's subscriptions as
Stripe has them now. Nothing from the event decides: not its status, not its `created` time (1-second
resolution, and a payload may carry any time). Writes are stamped with the time billing read Stripe, so a
read overtaken by a newer one cannot overwrite it (SetEntitlements ignores older times)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from billing_service.domain.entitlements import Entitlements, from_subscriptions
from billing_service.domain.errors import Unattributable
from billing_service.use_cases.ports import ProfilePort, StripePort
from tokens.profile.v1 import profile_service_pb2 as ppb

log = logging.getLogger("billing")

LOCK_STRIPES = 64


def shown_on_profile(profile: ppb.UserProfile) -> Entitlements:
    period_end = profile.current_period_end.seconds if profile.HasField("current_period_end") else None
    return Entitlements(profile.has_access, profile.subscription_status, period_end or None)


class Subscriptions:
    def __init__(self, stripe_port: StripePort, profile: ProfilePort, clock: Callable[[], float] = time.time) -> None:
        self._stripe = stripe_port
        self._profile = profile
        self._clock = clock
        # Within this process, read-then-write of one user's entitlements is not interleaved, so two reads in
        # the same second (the stamp's resolution) are written in the order they were made. Striped by uid.
        self._locks = tuple(asyncio.Lock() for _ in range(LOCK_STRIPES))

    async def sync(self, subscription_id: str, *, only_if_changed: bool = False) -> tuple[str, bool]:
        """Returns (uid, applied); not applied when a newer read was written first, or (only_if_changed,
        reconciliation's way) when the profile already shows these entitlements."""
        subscription = await self._stripe.retrieve_subscription(subscription_id)
        uid = subscription.metadata_uid
        if not uid and subscription.customer_id:
            uid = (await self._stripe.retrieve_customer(subscription.customer_id)).uid
        if not uid:
            raise Unattributable(f"subscription {subscription_id}")
        async with self._locks[hash(uid) % LOCK_STRIPES]:
            read_at = self._clock()
            if subscription.customer_id:
                states = [s.state() for s in await self._stripe.list_subscriptions(subscription.customer_id)]
            else:
                states = [(await self._stripe.retrieve_subscription(subscription_id)).state()]
            entitlements = from_subscriptions(states)
            if only_if_changed and shown_on_profile(await self._profile.get_profile(uid)) == entitlements:
                return uid, False
            result = await self._profile.set_entitlements(
                uid,
                has_access=entitlements.has_access,
                status=entitlements.subscription_status,
                current_period_end=entitlements.current_period_end,
                source_event_time=int(read_at),
            )
        log.info(
            "entitlements",
            extra={
                "fields": {
                    "uid": uid,
                    "subscription": subscription_id,
                    "subscriptions": len(states),
                    "status": entitlements.subscription_status,
                    "has_access": entitlements.has_access,
                    "applied": result.applied,
                    "read_at": int(read_at),
                }
            },
        )
        return uid, result.applied

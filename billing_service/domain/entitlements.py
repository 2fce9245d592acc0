"""What a customer's subscriptions entitle its user to. Derived from all of them as Stripe has them now,
never from one event's payload: with two subscriptions, cancelling one leaves the other's access."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

ACCESS_STATUSES = frozenset({"active", "trialing"})
# A subscription in one of these is still running (past_due is retrying the payment): a second one would
# bill the customer twice.
RUNNING_STATUSES = frozenset({"active", "trialing", "past_due"})
# Which subscription's status the profile shows when there are several: the first in this order, then the
# one whose period ends last, then the newest.
_STATUS_RANK = {
    status: rank
    for rank, status in enumerate(
        ("active", "trialing", "past_due", "unpaid", "paused", "incomplete", "canceled", "incomplete_expired")
    )
}


@dataclass(frozen=True)
class Entitlements:
    has_access: bool
    subscription_status: str  # "" when the customer has no subscription at all
    current_period_end: int | None  # epoch seconds


@dataclass(frozen=True)
class SubscriptionState:
    status: str
    current_period_end: int | None = None
    created: int = 0


def from_subscription(status: str, current_period_end: int | None) -> Entitlements:
    return Entitlements(status in ACCESS_STATUSES, status, current_period_end or None)


def from_subscriptions(subscriptions: Iterable[SubscriptionState]) -> Entitlements:
    """Access if any subscription is active or trialing; the status and period end of the best one."""
    ranked = sorted(
        subscriptions,
        key=lambda s: (_STATUS_RANK.get(s.status, len(_STATUS_RANK)), -(s.current_period_end or 0), -s.created),
    )
    if not ranked:
        return Entitlements(False, "", None)
    best = ranked[0]
    return Entitlements(any(s.status in ACCESS_STATUSES for s in ranked), best.status, best.current_period_end or None)


def running_subscription(subscriptions: Iterable[SubscriptionState]) -> SubscriptionState | None:
    """A subscription that a new subscription checkout would duplicate, if any."""
    return next((s for s in subscriptions if s.status in RUNNING_STATUSES), None)

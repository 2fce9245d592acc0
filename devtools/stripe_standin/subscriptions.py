"""Subscriptions: cancel, update, status changes, listing."""

from __future__ import annotations

from typing import Any

from .errors import invalid
from .form import to_bool, to_str
from .runtime import SYSTEM, RequestInfo, Standin
from .values import metadata

SUBSCRIPTION_STATUSES = (
    "incomplete",
    "incomplete_expired",
    "trialing",
    "active",
    "past_due",
    "canceled",
    "unpaid",
    "paused",
)
_SUBSCRIPTION_UPDATABLE = {"metadata", "cancel_at_period_end", "description", "cancellation_details", "expand"}


def set_status(sd: Standin, sub: dict[str, Any], status: str, request: RequestInfo = SYSTEM) -> str:
    previous = {"status": sub["status"]}
    sub["status"] = status
    return sd.emit("customer.subscription.updated", sub, request, previous)


def cancel_subscription(
    sd: Standin, sub_id: str, params: dict[str, Any], request: RequestInfo
) -> tuple[dict[str, Any], str]:
    sub = sd.store.get("subscriptions", sub_id)
    if sub["status"] in ("canceled", "incomplete_expired"):
        raise invalid(None, f"Subscription {sub_id} is already {sub['status']} and cannot be canceled again.")
    details = params.get("cancellation_details") or {}
    now = sd.store.now()
    sub.update(
        status="canceled",
        canceled_at=now,
        ended_at=now,
        cancellation_details={
            "comment": details.get("comment") if isinstance(details, dict) else None,
            "feedback": details.get("feedback") if isinstance(details, dict) else None,
            "reason": "cancellation_requested",
        },
    )
    return sub, sd.emit("customer.subscription.deleted", sub, request)


def update_subscription(
    sd: Standin, sub_id: str, params: dict[str, Any], request: RequestInfo
) -> tuple[dict[str, Any], list[str]]:
    sub = sd.store.get("subscriptions", sub_id)
    for key in params:
        if key not in _SUBSCRIPTION_UPDATABLE:
            # Valid for Stripe but not modelled here: say so rather than silently ignoring it.
            raise invalid(key, f"The Stripe stand-in does not implement updating `{key}` on subscriptions.")
    if sub["status"] == "canceled" and set(params) - {"metadata", "cancellation_details", "expand"}:
        raise invalid(None, "A canceled subscription can only update its cancellation_details and metadata.")
    previous: dict[str, Any] = {}
    if "metadata" in params:
        new = metadata(params["metadata"], existing=sub["metadata"])
        if new != sub["metadata"]:
            previous["metadata"] = sub["metadata"]
            sub["metadata"] = new
    if "cancel_at_period_end" in params:
        flag = to_bool(params["cancel_at_period_end"], "cancel_at_period_end")
        if flag != sub["cancel_at_period_end"]:
            previous.update(cancel_at_period_end=sub["cancel_at_period_end"], cancel_at=sub["cancel_at"])
            sub["cancel_at_period_end"] = flag
            sub["cancel_at"] = sub["current_period_end"] if flag else None
    if "description" in params:
        text = to_str(params["description"], "description") or None
        if text != sub["description"]:
            previous["description"] = sub["description"]
            sub["description"] = text
    if isinstance(params.get("cancellation_details"), dict):
        details = dict(sub["cancellation_details"] or {})
        for key in ("comment", "feedback"):
            if key in params["cancellation_details"]:
                details[key] = params["cancellation_details"][key] or None
        if details != sub["cancellation_details"]:
            previous["cancellation_details"] = sub["cancellation_details"]
            sub["cancellation_details"] = details
    events = [sd.emit("customer.subscription.updated", sub, request, previous)] if previous else []
    return sub, events


def set_subscription_state(
    sd: Standin, sub_id: str, status: str | None, cancel_at_period_end: bool | None
) -> tuple[dict[str, Any], list[str]]:
    """Control route: what Stripe's billing engine would do on its own (dunning, renewals, …)."""
    sub = sd.store.get("subscriptions", sub_id)
    if status is not None and status not in SUBSCRIPTION_STATUSES:
        raise invalid("status", f"status must be one of {', '.join(SUBSCRIPTION_STATUSES)}")
    if status == "canceled":
        sub, event_id = cancel_subscription(sd, sub_id, {}, SYSTEM)
        return sub, [event_id]
    previous: dict[str, Any] = {}
    if status is not None and status != sub["status"]:
        previous["status"] = sub["status"]
        sub["status"] = status
    if cancel_at_period_end is not None and cancel_at_period_end != sub["cancel_at_period_end"]:
        previous.update(cancel_at_period_end=sub["cancel_at_period_end"], cancel_at=sub["cancel_at"])
        sub["cancel_at_period_end"] = cancel_at_period_end
        sub["cancel_at"] = sub["current_period_end"] if cancel_at_period_end else None
    events = [sd.emit("customer.subscription.updated", sub, SYSTEM, previous)] if previous else []
    return sub, events


def list_subscriptions(sd: Standin, params: dict[str, Any]) -> list[dict[str, Any]]:
    items = list(sd.store.subscriptions.values())
    status = params.get("status")
    if status is None:
        items = [s for s in items if s["status"] != "canceled"]  # Stripe's default hides canceled ones
    elif status != "all":
        items = [s for s in items if s["status"] == status]
    if "customer" in params:
        items = [s for s in items if s["customer"] == params["customer"]]
    if "price" in params:
        items = [s for s in items if any(i["price"]["id"] == params["price"] for i in s["items"]["data"])]
    return items

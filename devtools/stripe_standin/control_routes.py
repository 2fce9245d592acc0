"""/_standin control routes (no auth): drive what a customer or Stripe itself would do, inspect state,
inject faults. JSON in, JSON out; errors use Stripe's error shape."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import checkout, disputes, invoices, refunds, subscriptions
from .errors import StripeError, invalid
from .responses import error_response, stripe_json
from .runtime import SYSTEM, Standin
from .webhooks import sign

FAULT_MODES = ("500", "timeout", "drop")


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise invalid(None, "Request body must be JSON.") from None
    if not isinstance(body, dict):
        raise invalid(None, "Request body must be a JSON object.")
    return body


def _flag(body: dict[str, Any], key: str, default: bool = False) -> bool:
    value = body.get(key, default)
    if not isinstance(value, bool):
        raise invalid(key, f"{key} must be a boolean")
    return value


async def _with_events(sd: Standin, body: dict[str, Any], result: dict[str, Any]) -> Response:
    """Attach delivery results when the caller asked to wait for the webhooks."""
    if _flag(body, "wait"):
        result["deliveries"] = await sd.webhooks.wait(result["events"], sd.settings.wait_timeout_s)
    return stripe_json(result)


def control(handler: Any) -> Any:
    async def route(request: Request) -> Response:
        sd: Standin = request.app.state.standin
        try:
            return await handler(sd, request, await _body(request) if request.method != "GET" else {})
        except StripeError as err:
            return error_response(err)

    return route


async def complete_session(sd: Standin, request: Request, body: dict[str, Any]) -> Response:
    outcome = body.get("outcome", "paid")
    email = body.get("email")
    result = checkout.complete_session(sd, request.path_params["id"], str(outcome), email)
    return await _with_events(sd, body, result)


async def refund_charge(sd: Standin, request: Request, body: dict[str, Any]) -> Response:
    params: dict[str, Any] = {"charge": request.path_params["id"]}
    if body.get("amount") is not None:
        params["amount"] = body["amount"]
    if body.get("reason") is not None:
        params["reason"] = body["reason"]
    refund, events = refunds.create_refund(sd, params, SYSTEM)
    charge = sd.store.charges[refund["charge"]]
    return await _with_events(sd, body, {"refund": refund, "charge": charge, "events": events})


async def fail_refund(sd: Standin, request: Request, body: dict[str, Any]) -> Response:
    refund, events = refunds.fail_refund(sd, request.path_params["id"], body)
    return await _with_events(sd, body, {"refund": refund, "events": events})


async def dispute_charge(sd: Standin, request: Request, body: dict[str, Any]) -> Response:
    dispute, events = disputes.open_dispute(sd, request.path_params["id"], body)
    return await _with_events(sd, body, {"dispute": dispute, "events": events})


async def close_dispute(sd: Standin, request: Request, body: dict[str, Any]) -> Response:
    dispute, events = disputes.close_dispute(sd, request.path_params["id"], body)
    return await _with_events(sd, body, {"dispute": dispute, "events": events})


async def cancel_subscription(sd: Standin, request: Request, body: dict[str, Any]) -> Response:
    sub, event_id = subscriptions.cancel_subscription(sd, request.path_params["id"], {}, SYSTEM)
    return await _with_events(sd, body, {"subscription": sub, "events": [event_id]})


async def update_subscription(sd: Standin, request: Request, body: dict[str, Any]) -> Response:
    cancel_flag = body.get("cancel_at_period_end")
    if cancel_flag is not None and not isinstance(cancel_flag, bool):
        raise invalid("cancel_at_period_end", "cancel_at_period_end must be a boolean")
    sub, events = subscriptions.set_subscription_state(sd, request.path_params["id"], body.get("status"), cancel_flag)
    return await _with_events(sd, body, {"subscription": sub, "events": events})


async def renew_subscription(sd: Standin, request: Request, body: dict[str, Any]) -> Response:
    sub, invoice, events = invoices.renew_subscription(sd, request.path_params["id"])
    return await _with_events(sd, body, {"subscription": sub, "invoice": invoice, "events": events})


async def list_events(sd: Standin, _request: Request, _body: dict[str, Any]) -> Response:
    # Oldest first: the order things happened, which is what assertions usually want.
    data = [{**event, "delivery": sd.webhooks.summary(event["id"])} for event in sd.store.events.values()]
    return stripe_json({"object": "list", "data": data})


async def redeliver_event(sd: Standin, request: Request, body: dict[str, Any]) -> Response:
    event = sd.store.get("events", request.path_params["id"])
    sd.webhooks.enqueue(event["id"])
    return await _with_events(sd, body, {"events": [event["id"]]})


async def signed_event(sd: Standin, request: Request, _body: dict[str, Any]) -> Response:
    event = sd.store.get("events", request.path_params["id"])
    payload = sd.store.event_payloads[event["id"]]
    return stripe_json({"payload": payload, "signature_header": sign(payload, sd.webhooks.config.secret)})


async def add_fault(sd: Standin, _request: Request, body: dict[str, Any]) -> Response:
    match = body.get("match")
    if not isinstance(match, str) or not match.strip():
        raise invalid("match", 'match is required, e.g. "POST /v1/checkout/sessions"')
    mode = str(body.get("mode", "500"))
    if mode not in FAULT_MODES:
        raise invalid("mode", f"mode must be one of {', '.join(FAULT_MODES)}")
    times = body.get("times", 1)
    if not isinstance(times, int) or times < 1:
        raise invalid("times", "times must be a positive integer")
    seconds = body.get("seconds", sd.settings.fault_timeout_s)
    if not isinstance(seconds, (int, float)) or seconds < 0:
        raise invalid("seconds", "seconds must be a non-negative number")
    fault = sd.faults.add(match, mode, times, _flag(body, "after_effect"), float(seconds))  # type: ignore[arg-type]
    return stripe_json({"fault": fault.__dict__, "faults": sd.faults.describe()})


async def clear_faults(sd: Standin, _request: Request, _body: dict[str, Any]) -> Response:
    sd.faults.clear()
    return stripe_json({"faults": []})


async def list_faults(sd: Standin, _request: Request, _body: dict[str, Any]) -> Response:
    return stripe_json({"faults": sd.faults.describe()})


def _state(sd: Standin) -> dict[str, Any]:
    statuses: dict[str, int] = {}
    for delivery in sd.webhooks.deliveries.values():
        statuses[delivery.status] = statuses.get(delivery.status, 0) + 1
    return {
        "counts": sd.store.counts(),
        "idempotency_keys": len(sd.idempotency),
        "faults": sd.faults.describe(),
        "webhooks": {"url": sd.webhooks.config.url, "deliveries": statuses},
        "public_url": sd.public_url,
        "now": sd.store.now(),
    }


async def state(sd: Standin, _request: Request, _body: dict[str, Any]) -> Response:
    return stripe_json(_state(sd))


async def reset(sd: Standin, _request: Request, _body: dict[str, Any]) -> Response:
    sd.reset()
    return stripe_json(_state(sd))


async def configure(sd: Standin, _request: Request, body: dict[str, Any]) -> Response:
    """Change webhook target/secret/delay at runtime (e.g. a receiver started after the stand-in)."""
    cfg = sd.webhooks.config
    if "webhook_url" in body:
        cfg.url = str(body["webhook_url"] or "")
    if "webhook_secret" in body:
        cfg.secret = str(body["webhook_secret"])
    if "webhook_delay_ms" in body:
        cfg.delay_ms = int(body["webhook_delay_ms"])
    return stripe_json({"webhook_url": cfg.url, "webhook_delay_ms": cfg.delay_ms})


async def advance_clock(sd: Standin, _request: Request, body: dict[str, Any]) -> Response:
    """Move the stand-in's clock forward (e.g. past a session's expires_at)."""
    seconds = body.get("seconds")
    if not isinstance(seconds, int) or seconds < 0:
        raise invalid("seconds", "seconds must be a non-negative integer")
    sd.store.clock_offset += seconds
    return stripe_json({"now": sd.store.now()})


BACKDATABLE = ("refunds", "disputes")


async def backdate(sd: Standin, request: Request, body: dict[str, Any]) -> Response:
    """Move a refund or dispute, and the events about it so far, `seconds` into the past, as if made then
    (e.g. a dispute opened weeks before it is closed). Payloads already signed for delivery keep their bytes."""
    seconds = body.get("seconds")
    if not isinstance(seconds, int) or isinstance(seconds, bool) or seconds < 0:
        raise invalid("seconds", "seconds must be a non-negative integer")
    obj_id = request.path_params["id"]
    name = next((n for n in BACKDATABLE if obj_id in sd.store.collection(n)), BACKDATABLE[0])
    obj = sd.store.get(name, obj_id)
    obj["created"] -= seconds
    events = [e for e in sd.store.events.values() if (e["data"]["object"] or {}).get("id") == obj_id]
    for event in events:
        event["created"] -= seconds
        event["data"]["object"]["created"] = obj["created"]
    return stripe_json({"object": obj, "events": [e["id"] for e in events]})


def control_routes() -> list[Route]:
    def r(path: str, method: str, handler: Any) -> Route:
        return Route("/_standin" + path, control(handler), methods=[method])

    return [
        r("/checkout/sessions/{id}/complete", "POST", complete_session),
        r("/charges/{id}/refund", "POST", refund_charge),
        r("/refunds/{id}/fail", "POST", fail_refund),
        r("/charges/{id}/dispute", "POST", dispute_charge),
        r("/disputes/{id}/close", "POST", close_dispute),
        r("/subscriptions/{id}/cancel", "POST", cancel_subscription),
        r("/subscriptions/{id}/update", "POST", update_subscription),
        r("/subscriptions/{id}/renew", "POST", renew_subscription),
        r("/events", "GET", list_events),
        r("/events/{id}/redeliver", "POST", redeliver_event),
        r("/events/{id}/signed", "GET", signed_event),
        r("/faults", "POST", add_fault),
        r("/faults", "DELETE", clear_faults),
        r("/faults", "GET", list_faults),
        r("/state", "GET", state),
        r("/reset", "POST", reset),
        r("/config", "POST", configure),
        r("/clock/advance", "POST", advance_clock),
        r("/objects/{id}/backdate", "POST", backdate),
    ]

"""Checkout sessions and the Stripe webhook through the gateway, against the real billing service and the
Stripe stand-in."""

from __future__ import annotations

import json
import time

import pytest

from devtools.stripe_standin import sign_webhook_payload
from tests.gateway.conftest import FullStack
from tests.support.billing_server import STANDIN_WEBHOOK_SECRET
from tokens.profile.v1 import profile_service_pb2 as pb

ONE_TIME = {"price_id": "price_onetime_5_tokens", "mode": "payment"}
SUBSCRIPTION = {"price_id": "price_subscription_monthly", "mode": "subscription"}


async def _balance(stack: FullStack, uid: str) -> int:
    return (await stack.profile.stub.GetProfile(pb.GetProfileRequest(uid=uid))).profile.tokens


async def test_checkout_creates_the_profile_and_honours_idempotency_keys(full_stack: FullStack, uid: str) -> None:
    stack = full_stack
    other = uid + "-other"
    # No sign-up first: checkout makes sure the profile exists.
    first = await stack.client.post(
        "/v1/checkout-sessions",
        json=ONE_TIME,
        headers={**stack.auth(uid, email="a@example.com"), "Idempotency-Key": "k-1"},
    )
    assert first.status_code == 201, first.text
    assert (await stack.profile.stub.GetProfile(pb.GetProfileRequest(uid=uid))).profile.email == "a@example.com"

    replay = await stack.client.post(
        "/v1/checkout-sessions", json=ONE_TIME, headers={**stack.auth(uid), "Idempotency-Key": "k-1"}
    )
    assert replay.status_code == 201 and replay.json() == first.json()
    fresh = await stack.client.post(
        "/v1/checkout-sessions", json=ONE_TIME, headers={**stack.auth(uid), "Idempotency-Key": "k-2"}
    )
    assert fresh.json()["id"] != first.json()["id"]
    # The same key from another user is another user's request: never their session.
    theirs = await stack.client.post(
        "/v1/checkout-sessions", json=ONE_TIME, headers={**stack.auth(other), "Idempotency-Key": "k-1"}
    )
    assert theirs.status_code == 201 and theirs.json()["id"] != first.json()["id"]
    # Without a key every call is a new session.
    a = await stack.client.post("/v1/checkout-sessions", json=ONE_TIME, headers=stack.auth(uid))
    b = await stack.client.post("/v1/checkout-sessions", json=ONE_TIME, headers=stack.auth(uid))
    assert a.json()["id"] != b.json()["id"]


async def test_another_users_session_is_403_and_grants_nothing(full_stack: FullStack, uid: str) -> None:
    stack = full_stack
    thief = uid + "-thief"
    await stack.client.post("/v1/profile", headers=stack.auth(thief))
    session = (await stack.client.post("/v1/checkout-sessions", json=ONE_TIME, headers=stack.auth(uid))).json()
    # Paid, but the webhook does not arrive (yet): only the success page call could grant.
    await stack.standin.configure(webhook_url="")
    await stack.standin.complete_session(session["id"], "paid", wait=False)

    stolen = await stack.client.get(f"/v1/checkout-sessions/{session['id']}", headers=stack.auth(thief))
    assert stolen.status_code == 403
    assert stolen.json()["error"]["code"] == "PERMISSION_DENIED"
    assert await _balance(stack, uid) == 0 and await _balance(stack, thief) == 0

    own = await stack.client.get(f"/v1/checkout-sessions/{session['id']}", headers=stack.auth(uid))
    assert own.status_code == 200
    assert own.json() == {
        "id": session["id"],
        "status": "fulfilled",
        "payment_status": "paid",
        "tokens_granted": 5,
        "balance": 5,
    }
    again = await stack.client.get(f"/v1/checkout-sessions/{session['id']}", headers=stack.auth(uid))
    assert again.json()["balance"] == 5 and await _balance(stack, uid) == 5


async def test_unknown_session_is_404(full_stack: FullStack, uid: str) -> None:
    response = await full_stack.client.get("/v1/checkout-sessions/cs_test_does_not_exist", headers=full_stack.auth(uid))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"


async def test_subscription_checkout(full_stack: FullStack, uid: str) -> None:
    stack = full_stack
    created = await stack.client.post("/v1/checkout-sessions", json=SUBSCRIPTION, headers=stack.auth(uid))
    assert created.status_code == 201, created.text
    status = await stack.client.get(f"/v1/checkout-sessions/{created.json()['id']}", headers=stack.auth(uid))
    assert status.status_code == 200 and status.json()["status"] == "subscription"
    assert status.json()["tokens_granted"] == 0


@pytest.mark.parametrize(
    "body, status, reason, field",
    [
        ({"price_id": "price_nope", "mode": "payment"}, 400, "UNKNOWN_PRICE", "price_id"),
        ({"price_id": "price_onetime_5_tokens", "mode": "subscription"}, 400, "MODE_MISMATCH", "mode"),
        ({**SUBSCRIPTION, "quantity": 2}, 422, "INVALID_FIELD", "quantity"),
        ({**ONE_TIME, "quantity": 101}, 422, "INVALID_FIELD", "quantity"),
        ({**ONE_TIME, "quantity": 0}, 422, "INVALID_FIELD", "quantity"),
        ({**ONE_TIME, "mode": "gift"}, 422, "INVALID_FIELD", "mode"),
        ({**ONE_TIME, "success_url": "https://evil.example"}, 422, "REDIRECT_NOT_ALLOWED", "success_url"),
        ({**ONE_TIME, "success_url_typo": "http://127.0.0.1:8080/"}, 422, "UNKNOWN_FIELD", "success_url_typo"),
        ({"price_id": "price with spaces", "mode": "payment"}, 422, "INVALID_FIELD", "price_id"),
        ({"mode": "payment"}, 422, "MISSING_FIELD", "price_id"),
    ],
)
async def test_checkout_validation(full_stack: FullStack, uid: str, body, status, reason, field) -> None:
    response = await full_stack.client.post("/v1/checkout-sessions", json=body, headers=full_stack.auth(uid))
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["reason"] == reason and error.get("field") == field


async def test_idempotency_key_header_is_validated(full_stack: FullStack, uid: str) -> None:
    response = await full_stack.client.post(
        "/v1/checkout-sessions", json=ONE_TIME, headers={**full_stack.auth(uid), "Idempotency-Key": "x" * 201}
    )
    assert response.status_code == 422 and response.json()["error"]["field"] == "Idempotency-Key"


# --- webhook ---------------------------------------------------------------------------------------------


def _event(event_type: str = "product.created", obj: dict | None = None, padding: str = "") -> str:
    """A Stripe-shaped event, written with unusual (but valid) JSON formatting on purpose."""
    body = {
        "id": f"evt_test_{time.time_ns()}",
        "object": "event",
        "type": event_type,
        "created": int(time.time()),
        "api_version": "2026-10-28",
        "livemode": False,
        "data": {"object": obj or {"id": "prod_x", "object": "product", "name": "Caf\u00e9 \u2615"}},
    }
    if padding:
        body["padding"] = padding
    # Non-ASCII escaped, spaced separators, a trailing newline: re-serialising would break the signature.
    return json.dumps(body, indent=3, ensure_ascii=True, separators=(" ,", " :  ")) + "\n"


def _signed(payload: str, secret: str = STANDIN_WEBHOOK_SECRET, timestamp: int | None = None) -> dict[str, str]:
    return {
        "Stripe-Signature": sign_webhook_payload(payload, secret, timestamp),
        "Content-Type": "application/json; charset=utf-8",
    }


async def test_webhook_passes_the_raw_bytes_and_acknowledges_recorded_events(full_stack: FullStack) -> None:
    payload = _event()
    response = await full_stack.client.post("/v1/stripe/webhook", content=payload.encode(), headers=_signed(payload))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["received"] is True and body["event_type"] == "product.created" and body["action"]
    assert body["event_id"].startswith("evt_test_")


@pytest.mark.parametrize(
    "headers_for, reason",
    [
        (lambda p: {"Content-Type": "application/json"}, "MISSING_SIGNATURE"),
        (lambda p: _signed(p, secret="whsec_wrong"), "INVALID_SIGNATURE"),
        (lambda p: _signed(p, timestamp=int(time.time()) - 3600), "INVALID_SIGNATURE"),
        (lambda p: {"Stripe-Signature": "garbage", "Content-Type": "application/json"}, "INVALID_SIGNATURE"),
    ],
)
async def test_webhook_bad_signatures_are_400(full_stack: FullStack, headers_for, reason: str) -> None:
    payload = _event()
    response = await full_stack.client.post(
        "/v1/stripe/webhook", content=payload.encode(), headers=headers_for(payload)
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["reason"] == reason


async def test_webhook_tampered_body_is_400(full_stack: FullStack) -> None:
    payload = _event()
    headers = _signed(payload)
    tampered = payload.replace('"product.created"', '"checkout.session.completed"')
    response = await full_stack.client.post("/v1/stripe/webhook", content=tampered.encode(), headers=headers)
    assert response.status_code == 400


async def test_webhook_failures_other_than_signature_are_5xx(full_stack: FullStack) -> None:
    # Signed and well-formed, but about a session Stripe does not know: not recorded, so Stripe must retry.
    payload = _event("checkout.session.completed", {"id": "cs_test_unknown", "object": "checkout.session"})
    response = await full_stack.client.post("/v1/stripe/webhook", content=payload.encode(), headers=_signed(payload))
    assert response.status_code >= 500, response.text
    assert response.json()["error"]["code"] == "NOT_FOUND"


async def test_webhook_has_its_own_body_limit(full_stack: FullStack) -> None:
    limit = full_stack.settings.max_body_bytes
    payload = _event(padding="p" * (limit * 2))
    accepted = await full_stack.client.post("/v1/stripe/webhook", content=payload.encode(), headers=_signed(payload))
    assert accepted.status_code == 200, accepted.text
    huge = _event(padding="p" * (full_stack.settings.webhook_max_body_bytes + 1))
    refused = await full_stack.client.post("/v1/stripe/webhook", content=huge.encode(), headers=_signed(huge))
    assert refused.status_code == 413


async def test_oversized_uploads_get_a_readable_413_over_real_http(full_stack: FullStack, uid: str) -> None:
    limit = full_stack.settings.max_body_bytes
    headers = {**full_stack.auth(uid), "Content-Type": "application/json"}
    declared = await full_stack.client.patch("/v1/profile", content=b" " * (limit * 3), headers=headers)
    assert declared.status_code == 413 and declared.json()["error"]["reason"] == "PAYLOAD_TOO_LARGE"

    async def chunks():
        for _ in range(limit // 4096 * 3):
            yield b" " * 4096

    streamed = await full_stack.client.patch("/v1/profile", content=chunks(), headers=headers)
    assert streamed.status_code == 413 and streamed.json()["error"]["reason"] == "PAYLOAD_TOO_LARGE"
    # The server is still fine afterwards.
    assert (await full_stack.client.get("/healthz")).status_code == 200

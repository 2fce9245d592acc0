"""HandleStripeWebhook verifies the signature on the raw bytes first: forged, tampered, stale, future-dated or
missing signatures are INVALID_ARGUMENT and nothing else happens."""

from __future__ import annotations

import json
import time

import grpc
import pytest
import stripe

from tests.billing.conftest import WEBHOOK_SECRET, Standin, checkout, deliver, get_profile, history, new_user
from tests.support.billing_server import RunningBilling
from tests.support.grpc_errors import raises_rpc
from tests.support.profile_server import RunningProfile


def _sign(payload: bytes, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    return stripe.WebhookSignature.generate_signature_header(payload.decode(), secret, timestamp=timestamp)


@pytest.fixture
async def paid_event(billing: RunningBilling, standin: Standin, sqlite_profile: RunningProfile, uid: str):
    """A genuine checkout.session.completed for a paid session, not delivered yet."""
    await new_user(sqlite_profile, uid)
    session = await checkout(billing, uid)
    await standin.ctl.complete_session(session.session_id, "paid", wait=False)
    (event,) = await standin.events("checkout.session.completed", id=session.session_id)
    return await standin.signed(event["id"])


def _tampered(payload: bytes) -> bytes:
    event = json.loads(payload)
    event["data"]["object"]["amount_total"] = 1
    return json.dumps(event).encode()


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda p, s: (p, _sign(p, secret="whsec_attacker")), id="forged-other-secret"),
        pytest.param(lambda p, s: (_tampered(p), s), id="tampered-body"),
        pytest.param(lambda p, s: (p + b" ", s), id="tampered-trailing-space"),
        pytest.param(lambda p, s: (p, _sign(p, timestamp=int(time.time()) - 600)), id="ten-minutes-old"),
        pytest.param(lambda p, s: (p, _sign(p, timestamp=int(time.time()) + 600)), id="ten-minutes-ahead"),
        pytest.param(lambda p, s: (p, _sign(p, timestamp=int(time.time()) + 10 * 365 * 86400)), id="ten-years-ahead"),
        pytest.param(lambda p, s: (p, ""), id="missing-header"),
        pytest.param(lambda p, s: (p, "t=abc,v1=00"), id="garbled-header"),
        pytest.param(lambda p, s: (p, s.split(",")[0] + ",v0=" + s.split("v1=")[1]), id="wrong-scheme"),
    ],
)
async def test_bad_signatures_are_rejected_and_change_nothing(
    forge, paid_event, billing: RunningBilling, sqlite_profile: RunningProfile, uid: str
):
    payload, signature = paid_event
    bad_payload, bad_signature = forge(payload, signature)
    async with raises_rpc(grpc.StatusCode.INVALID_ARGUMENT, reason="INVALID_SIGNATURE", field="signature_header"):
        await deliver(billing, bad_payload, bad_signature)
    assert (await get_profile(sqlite_profile, uid)).tokens == 0
    assert await history(sqlite_profile, uid) == []

    # The genuine delivery still works afterwards.
    assert (await deliver(billing, payload, signature)).action == "fulfilled"
    assert (await get_profile(sqlite_profile, uid)).tokens == 5


async def test_small_clock_skew_either_way_is_accepted(paid_event, billing: RunningBilling):
    payload, _ = paid_event
    assert (await deliver(billing, payload, _sign(payload, timestamp=int(time.time()) + 60))).action == "fulfilled"
    assert (await deliver(billing, payload, _sign(payload, timestamp=int(time.time()) - 60))).action == "fulfilled"


@pytest.mark.parametrize("payload", [b"not json", b"[]", b'{"object": "event"}', b"\xff\xfe"])
async def test_signed_but_malformed_payloads_are_rejected(payload: bytes, billing: RunningBilling):
    signature = _sign(payload) if payload != b"\xff\xfe" else "t=1,v1=00"
    async with raises_rpc(grpc.StatusCode.INVALID_ARGUMENT) as raised:
        await deliver(billing, payload, signature)
    assert raised.details.reason in ("MALFORMED_PAYLOAD", "INVALID_SIGNATURE")


async def test_unhandled_event_types_are_acknowledged(billing: RunningBilling):
    payload = json.dumps(
        {
            "id": "evt_1",
            "object": "event",
            "type": "invoice.paid",
            "created": int(time.time()),
            "data": {"object": {"id": "in_1", "object": "invoice"}},
        }
    ).encode()
    reply = await deliver(billing, payload, _sign(payload))
    assert (reply.event_id, reply.event_type, reply.action) == ("evt_1", "invoice.paid", "ignored")


async def test_payload_contents_are_not_trusted(
    billing: RunningBilling, standin: Standin, sqlite_profile: RunningProfile, uid: str
):
    """Even a correctly signed event claiming `paid` grants nothing while Stripe says the session is unpaid."""
    await new_user(sqlite_profile, uid)
    session = await checkout(billing, uid)
    payload = json.dumps(
        {
            "id": "evt_fake",
            "object": "event",
            "type": "checkout.session.completed",
            "created": int(time.time()),
            "data": {
                "object": {
                    "id": session.session_id,
                    "object": "checkout.session",
                    "payment_status": "paid",
                    "client_reference_id": uid,
                }
            },
        }
    ).encode()
    assert (await deliver(billing, payload, _sign(payload))).action == "pending"
    assert (await get_profile(sqlite_profile, uid)).tokens == 0

"""CreateBillingPortalSession: a portal link for the user's linked Stripe customer, where the customer can
cancel (and billing hears of it through the subscription webhooks); refusals name the field and create
nothing at Stripe."""

from __future__ import annotations

import grpc
import httpx

from tests.billing.conftest import MONTHLY, Standin, checkout, eventually, get_profile, new_user
from tests.support.billing_server import RunningBilling, WebhookRelay
from tests.support.grpc_errors import raises_rpc
from tests.support.profile_server import RunningProfile
from tokens.billing.v1 import billing_service_pb2 as bpb

RETURN_URL = "http://localhost:8080/account"


async def _portal(billing: RunningBilling, uid: str, return_url: str = RETURN_URL) -> str:
    reply = await billing.stub.CreateBillingPortalSession(
        bpb.CreateBillingPortalSessionRequest(uid=uid, return_url=return_url)
    )
    return reply.url


async def _portal_sessions(standin: Standin) -> int:
    return int((await standin.state())["counts"]["billing_portal_sessions"])


async def test_portal_is_for_the_users_customer_and_cancels_the_subscription(
    billing: RunningBilling, relay: WebhookRelay, standin: Standin, sqlite_profile: RunningProfile, uid: str
):
    await new_user(sqlite_profile, uid)
    done = await standin.ctl.complete_session((await checkout(billing, uid, price_id=MONTHLY)).session_id, "paid")
    sub_id = done["subscription"]
    assert (await get_profile(sqlite_profile, uid)).has_access

    url = await _portal(billing, uid)
    assert url.startswith(f"{standin.url}/portal/bps_")
    portal_id = url.rsplit("/", 1)[-1]
    async with httpx.AsyncClient(trust_env=False) as http:
        page = await http.get(url)
        assert page.status_code == 200
        # The portal is the user's own customer's: it lists their subscription and links back.
        assert f'id="{sub_id}"' in page.text and f'href="{RETURN_URL}"' in page.text
        cancelled = await http.post(f"{standin.url}/portal/{portal_id}/subscriptions/{sub_id}/cancel")
        assert cancelled.status_code == 303

    async def access_removed() -> bool:
        return not (await get_profile(sqlite_profile, uid)).has_access

    await eventually(access_removed)
    assert (await get_profile(sqlite_profile, uid)).subscription_status == "canceled"


async def test_portal_needs_a_linked_stripe_customer(
    billing: RunningBilling, standin: Standin, sqlite_profile: RunningProfile, uid: str
):
    await new_user(sqlite_profile, uid)
    async with raises_rpc(grpc.StatusCode.FAILED_PRECONDITION, reason="NO_STRIPE_CUSTOMER", field="uid"):
        await _portal(billing, uid)
    # A user without a profile has no customer either (and none is created for them).
    async with raises_rpc(grpc.StatusCode.FAILED_PRECONDITION, reason="NO_STRIPE_CUSTOMER"):
        await _portal(billing, uid + "-unknown")
    counts = (await standin.state())["counts"]
    assert (counts["customers"], counts["billing_portal_sessions"]) == (0, 0)


async def test_return_url_must_be_under_an_allowed_origin(
    billing: RunningBilling, standin: Standin, sqlite_profile: RunningProfile, uid: str
):
    await new_user(sqlite_profile, uid)
    await checkout(billing, uid)  # links a Stripe customer
    for bad, reason in (
        ("https://evil.example/account", "REDIRECT_NOT_ALLOWED"),
        ("http://localhost:9999/account", "REDIRECT_NOT_ALLOWED"),
        ("javascript:alert(1)", "INVALID_FIELD"),
        ("", "INVALID_FIELD"),
    ):
        async with raises_rpc(grpc.StatusCode.INVALID_ARGUMENT, reason=reason, field="return_url"):
            await _portal(billing, uid, return_url=bad)
    async with raises_rpc(grpc.StatusCode.INVALID_ARGUMENT, field="uid"):
        await _portal(billing, "")
    assert await _portal_sessions(standin) == 0
    assert (await _portal(billing, uid, "http://127.0.0.1:8080/account?tab=billing")).startswith(standin.url)
    assert await _portal_sessions(standin) == 1

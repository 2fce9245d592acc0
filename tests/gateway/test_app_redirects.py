"""The frontend's own pages as Stripe's destinations: Checkout back to the app (success_url / cancel_url) and
the billing portal (POST /v1/billing-portal-sessions), against the real billing service and the stand-in, with
a Next.js app on http://localhost:3000 allowed as the README shows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx
import pytest

from tests.gateway.conftest import FullStack
from tests.support.firebase_tokens import FirebaseTestIssuer
from tests.support.profile_server import RunningProfile

APP = "http://localhost:3000"
ORIGINS = ["http://127.0.0.1:8080", "http://localhost:8080", APP]
ONE_TIME = {"price_id": "price_onetime_5_tokens", "mode": "payment"}


@pytest.fixture
async def app_stack(sqlite_profile: RunningProfile, firebase: FirebaseTestIssuer) -> AsyncIterator[FullStack]:
    """full_stack, with ALLOWED_REDIRECT_ORIGINS naming the app for billing and the gateway alike."""
    from devtools.stripe_standin import StandinControl, StandinSettings, run_standin
    from tests.gateway.harness import gateway_test_settings, serve_gateway
    from tests.support.billing_server import STANDIN_WEBHOOK_SECRET, billing_test_settings, run_billing_service

    async with (
        run_standin(StandinSettings(webhook_url="", webhook_secret=STANDIN_WEBHOOK_SECRET)) as standin_url,
        run_billing_service(
            billing_test_settings(allowed_redirect_origins=ORIGINS),
            profile_target=sqlite_profile.target,
            standin_url=standin_url,
        ) as billing,
    ):
        settings = gateway_test_settings(
            firebase,
            profile_target=sqlite_profile.target,
            billing_target=billing.target,
            downstream_timeout_s=15.0,
            allowed_redirect_origins=ORIGINS,
            billing_portal_return_url=f"{APP}/account",
        )
        async with serve_gateway(settings) as served:
            control = StandinControl(standin_url)
            await control.configure(webhook_url=f"{served.url}/v1/stripe/webhook")
            try:
                async with httpx.AsyncClient(base_url=served.url, timeout=30, trust_env=False) as client:
                    yield FullStack(
                        served.url, client, settings, sqlite_profile, billing, standin_url, control, firebase
                    )
            finally:
                await control.aclose()


async def test_checkout_sends_the_buyer_back_to_the_app(app_stack: FullStack, uid: str) -> None:
    stack = app_stack
    created = await stack.client.post(
        "/v1/checkout-sessions",
        json={**ONE_TIME, "success_url": f"{APP}/paid?session_id={{CHECKOUT_SESSION_ID}}", "cancel_url": f"{APP}/"},
        headers=stack.auth(uid),
    )
    assert created.status_code == 201, created.text
    session = created.json()
    async with httpx.AsyncClient(timeout=30, trust_env=False) as browser:
        page = await browser.get(session["url"])
        assert page.status_code == 200 and f'href="{APP}/"' in page.text  # the Cancel link
        paid = await browser.post(f"{session['url']}/pay", data={"email": "buyer@example.com"})
    assert paid.status_code == 303
    assert paid.headers["location"] == f"{APP}/paid?session_id={session['id']}"
    # The app's success page then asks the gateway, as the gateway's own page does.
    status = await stack.client.get(f"/v1/checkout-sessions/{session['id']}", headers=stack.auth(uid))
    assert status.json()["status"] == "fulfilled" and status.json()["balance"] == 5


@pytest.mark.parametrize(
    "field, url, reason",
    [
        ("success_url", "https://evil.example/paid", "REDIRECT_NOT_ALLOWED"),
        ("cancel_url", "http://localhost:3001/", "REDIRECT_NOT_ALLOWED"),
        ("success_url", "https://localhost:3000/", "REDIRECT_NOT_ALLOWED"),  # scheme is part of the origin
        ("cancel_url", "http://user:pw@localhost:3000/", "INVALID_FIELD"),
        ("success_url", "/paid", "INVALID_FIELD"),
        ("success_url", "javascript:alert(1)", "INVALID_FIELD"),
    ],
)
async def test_checkout_refuses_redirects_outside_the_allowed_origins(
    app_stack: FullStack, uid: str, field: str, url: str, reason: str
) -> None:
    response = await app_stack.client.post(
        "/v1/checkout-sessions", json={**ONE_TIME, field: url}, headers=app_stack.auth(uid)
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert (error["field"], error["reason"], error["code"]) == (field, reason, "INVALID_ARGUMENT")
    assert field in error["message"]
    # Refused before anything was created: not even the profile.
    assert (await app_stack.client.get("/v1/profile", headers=app_stack.auth(uid))).status_code == 404


async def test_billing_portal_opens_the_stand_in_portal_and_returns_to_the_app(app_stack: FullStack, uid: str) -> None:
    stack = app_stack
    # A Stripe customer exists once the user has started a checkout.
    assert (await stack.client.post("/v1/checkout-sessions", json=ONE_TIME, headers=stack.auth(uid))).status_code == 201

    explicit = await stack.client.post(
        "/v1/billing-portal-sessions", json={"return_url": f"{APP}/settings"}, headers=stack.auth(uid)
    )
    assert explicit.status_code == 201, explicit.text
    assert set(explicit.json()) == {"url"}
    defaulted = await stack.client.post("/v1/billing-portal-sessions", headers=stack.auth(uid))
    assert defaulted.status_code == 201, defaulted.text

    async with httpx.AsyncClient(timeout=30, trust_env=False) as browser:
        for response, back in ((explicit, f"{APP}/settings"), (defaulted, f"{APP}/account")):
            url = response.json()["url"]
            assert urlsplit(url).netloc == urlsplit(stack.standin_url).netloc
            page = await browser.get(url)
            assert page.status_code == 200 and "Billing portal" in page.text
            assert f'id="return" href="{back}"' in page.text


async def test_billing_portal_without_a_stripe_customer_is_409(app_stack: FullStack, uid: str) -> None:
    await app_stack.client.post("/v1/profile", headers=app_stack.auth(uid))
    response = await app_stack.client.post("/v1/billing-portal-sessions", json={}, headers=app_stack.auth(uid))
    assert response.status_code == 409, response.text
    error = response.json()["error"]
    assert (error["code"], error["reason"]) == ("FAILED_PRECONDITION", "NO_STRIPE_CUSTOMER")


@pytest.mark.parametrize(
    "body, status, reason, field",
    [
        ({"return_url": "https://evil.example/"}, 422, "REDIRECT_NOT_ALLOWED", "return_url"),
        ({"return_url": "not a url"}, 422, "INVALID_FIELD", "return_url"),
        ({"url": f"{APP}/"}, 422, "UNKNOWN_FIELD", "url"),
    ],
)
async def test_billing_portal_validation(app_stack: FullStack, uid: str, body, status, reason, field) -> None:
    response = await app_stack.client.post("/v1/billing-portal-sessions", json=body, headers=app_stack.auth(uid))
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert (error["reason"], error.get("field")) == (reason, field)


async def test_billing_portal_needs_a_signed_in_user(app_stack: FullStack) -> None:
    response = await app_stack.client.post("/v1/billing-portal-sessions")
    assert response.status_code == 401
    assert response.json()["error"]["reason"] == "MISSING_CREDENTIALS"


async def test_the_default_settings_allow_the_gateways_own_pages_only(full_stack: FullStack, uid: str) -> None:
    # Without ALLOWED_REDIRECT_ORIGINS naming the app, the app is refused by the gateway (billing agrees).
    response = await full_stack.client.post(
        "/v1/checkout-sessions", json={**ONE_TIME, "success_url": f"{APP}/paid"}, headers=full_stack.auth(uid)
    )
    assert response.status_code == 422 and response.json()["error"]["reason"] == "REDIRECT_NOT_ALLOWED"
    ok = await full_stack.client.post(
        "/v1/checkout-sessions",
        json={**ONE_TIME, "success_url": "http://127.0.0.1:8080/success", "cancel_url": "http://localhost:8080/"},
        headers=full_stack.auth(uid),
    )
    assert ok.status_code == 201, ok.text

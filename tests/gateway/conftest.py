"""Gateway fixtures. The gateway always runs against the REAL profile service (and, where a test needs
them, the real billing service and the Stripe stand-in); only the Firebase certificate URL is the test's
own (tests/support/firebase_tokens.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx
import pytest
from fastapi import FastAPI

from gateway.settings import GatewaySettings
from tests.gateway.harness import gateway_client, gateway_test_settings
from tests.support.firebase_tokens import FirebaseTestIssuer, firebase_issuer
from tests.support.profile_server import RunningProfile

if TYPE_CHECKING:
    from devtools.stripe_standin import StandinControl
    from tests.support.billing_server import RunningBilling


# Lines tests want printed at the end of the run (e.g. the schemathesis figures).
SUMMARY_KEY = pytest.StashKey[list]()


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    lines = config.stash.get(SUMMARY_KEY, [])
    if lines:
        terminalreporter.section("gateway")
        for line in lines:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def firebase() -> Iterator[FirebaseTestIssuer]:
    """One signing key + local certificate URL for the whole session (RSA key generation is slow-ish)."""
    with firebase_issuer() as issuer:
        yield issuer


@dataclass
class ProfileGateway:
    app: FastAPI
    client: httpx.AsyncClient
    settings: GatewaySettings
    profile: RunningProfile
    issuer: FirebaseTestIssuer

    def auth(self, uid: str, **options: object) -> dict[str, str]:
        return self.issuer.auth_headers(uid, **options)


@pytest.fixture
async def profile_gateway(
    sqlite_profile: RunningProfile, firebase: FirebaseTestIssuer
) -> AsyncIterator[ProfileGateway]:
    """The gateway (ASGI) in front of the real profile service; billing is not running."""
    settings = gateway_test_settings(firebase, profile_target=sqlite_profile.target)
    async with gateway_client(settings) as (app, client):
        yield ProfileGateway(app, client, settings, sqlite_profile, firebase)


@dataclass
class FullStack:
    """Profile + billing + Stripe stand-in + the gateway served by uvicorn, with the stand-in's webhooks
    pointed at the gateway's /v1/stripe/webhook."""

    url: str
    client: httpx.AsyncClient
    settings: GatewaySettings
    profile: RunningProfile
    billing: RunningBilling
    standin_url: str
    standin: StandinControl
    issuer: FirebaseTestIssuer

    def auth(self, uid: str, **options: object) -> dict[str, str]:
        return self.issuer.auth_headers(uid, **options)


@pytest.fixture
async def full_stack(sqlite_profile: RunningProfile, firebase: FirebaseTestIssuer) -> AsyncIterator[FullStack]:
    from devtools.stripe_standin import StandinControl, StandinSettings, run_standin
    from tests.gateway.harness import serve_gateway
    from tests.support.billing_server import STANDIN_WEBHOOK_SECRET, run_billing_service

    standin_settings = StandinSettings(webhook_url="", webhook_secret=STANDIN_WEBHOOK_SECRET)
    async with (
        run_standin(standin_settings) as standin_url,
        run_billing_service(profile_target=sqlite_profile.target, standin_url=standin_url) as billing,
    ):
        settings = gateway_test_settings(
            firebase, profile_target=sqlite_profile.target, billing_target=billing.target, downstream_timeout_s=15.0
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

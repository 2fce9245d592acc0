"""The whole stack in this process (profile on SQLite, billing, the Stripe stand-in, the gateway served by
uvicorn), with each service's ServingServer at hand so tests can serve and scrape its metrics registry, and
built when the test asks (after it set up tracing)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx

from devtools.stripe_standin import StandinControl, StandinSettings, run_standin
from gateway.settings import GatewaySettings
from profile_service.server import create_server
from profile_service.settings import ProfileSettings
from profile_service.store.sqlite_store import SqliteStore
from service_kit.grpc_server import ServingServer
from tests.gateway.harness import ServedGateway, gateway_test_settings, serve_gateway
from tests.support.billing_server import STANDIN_WEBHOOK_SECRET, RunningBilling, run_billing_service
from tests.support.firebase_tokens import FirebaseTestIssuer
from tokens.profile.v1 import profile_service_pb2_grpc as pb_grpc


@dataclass
class ObservedStack:
    gateway: ServedGateway
    client: httpx.AsyncClient
    settings: GatewaySettings
    profile: ServingServer
    profile_stub: pb_grpc.ProfileServiceStub
    billing: RunningBilling
    standin: StandinControl
    issuer: FirebaseTestIssuer

    def auth(self, uid: str, **options: object) -> dict[str, str]:
        return self.issuer.auth_headers(uid, **options)


@contextlib.asynccontextmanager
async def observed_stack(tmp_path: Path, issuer: FirebaseTestIssuer, **gateway: object) -> AsyncIterator[ObservedStack]:
    store = SqliteStore(tmp_path / "profile.sqlite3")
    await store.start()
    profile, port = create_server(ProfileSettings(_env_file=None), store, "127.0.0.1:0")
    await profile.start()
    target = f"127.0.0.1:{port}"
    channel = grpc.aio.insecure_channel(target)
    try:
        async with (
            run_standin(StandinSettings(webhook_url="", webhook_secret=STANDIN_WEBHOOK_SECRET)) as standin_url,
            run_billing_service(profile_target=target, standin_url=standin_url) as billing,
        ):
            settings = gateway_test_settings(
                issuer, profile_target=target, billing_target=billing.target, downstream_timeout_s=15.0, **gateway
            )
            async with serve_gateway(settings) as served, StandinControl(standin_url) as control:
                await control.configure(webhook_url=f"{served.url}/v1/stripe/webhook")
                async with httpx.AsyncClient(base_url=served.url, timeout=30, trust_env=False) as client:
                    yield ObservedStack(
                        served, client, settings, profile, pb_grpc.ProfileServiceStub(channel), billing, control, issuer
                    )
    finally:
        await channel.close()
        await profile.stop(0)
        await store.close()

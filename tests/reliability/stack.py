"""The webhook path as Stripe sees it, for fault scenarios: the stand-in delivers signed events to the
real gateway (uvicorn on 127.0.0.1), which passes them to billing, which grants through the profile
service (SQLite). Billing runs in-process or as a real subprocess that a scenario can SIGKILL."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc

from devtools.stripe_standin import StandinControl, StandinSettings, run_standin
from profile_service.store.sqlite_store import SqliteStore
from tests.gateway.harness import gateway_test_settings, serve_gateway
from tests.support.billing_server import STANDIN_SECRET_KEY, STANDIN_WEBHOOK_SECRET, run_billing_service
from tests.support.firebase_tokens import firebase_issuer
from tests.support.processes import ServiceProcess, free_port, service_env
from tests.support.profile_server import RunningProfile, run_profile_service
from tokens.billing.v1 import billing_service_pb2 as bpb
from tokens.billing.v1 import billing_service_pb2_grpc as bpb_grpc
from tokens.profile.v1 import profile_service_pb2 as ppb


@dataclass
class WebhookStack:
    profile: RunningProfile
    standin_url: str
    control: StandinControl
    billing_target: str
    billing: bpb_grpc.BillingServiceStub
    gateway_url: str
    billing_process: ServiceProcess | None

    async def paid_sessions(self, users: list[str], per_user: int) -> list[tuple[str, str]]:
        """Creates checkout sessions through billing and pays them at the stand-in without delivering
        any webhook yet. Returns (uid, session_id) pairs."""
        sessions = []
        for uid in users:
            await self.profile.stub.CreateProfile(ppb.CreateProfileRequest(uid=uid, email=f"{uid}@example.com"))
            for i in range(per_user):
                created = await self.billing.CreateCheckoutSession(
                    bpb.CreateCheckoutSessionRequest(
                        uid=uid,
                        price_id="price_onetime_5_tokens",
                        mode=bpb.PRICE_MODE_PAYMENT,
                        quantity=1,
                        request_id=f"{uid}-{i}",
                    ),
                    timeout=30,
                )
                sessions.append((uid, created.session_id))
        return sessions

    async def completed_event_ids(self) -> dict[str, str]:
        """session id -> id of its checkout.session.completed event."""
        found = {}
        for event in await self.control.events():
            if event["type"] == "checkout.session.completed":
                found[event["data"]["object"]["id"]] = event["id"]
        return found

    async def balance(self, uid: str) -> int:
        return (await self.profile.stub.GetProfile(ppb.GetProfileRequest(uid=uid))).profile.tokens

    async def ledger_keys(self, uid: str) -> list[str]:
        reply = await self.profile.stub.ListTokenHistory(ppb.ListTokenHistoryRequest(uid=uid, page_size=100))
        return [e.idempotency_key for e in reply.entries]


@contextlib.asynccontextmanager
async def webhook_stack(
    tmp_path: Path, *, billing_subprocess: bool = False, deliver_automatically: bool = True
) -> AsyncIterator[WebhookStack]:
    with firebase_issuer() as issuer:
        async with contextlib.AsyncExitStack() as stack:
            profile = await stack.enter_async_context(run_profile_service(SqliteStore(tmp_path / "profile.sqlite3")))
            standin_url = await stack.enter_async_context(
                run_standin(StandinSettings(webhook_url="", webhook_secret=STANDIN_WEBHOOK_SECRET))
            )
            process = None
            if billing_subprocess:
                port = free_port()
                env = service_env(
                    BILLING_LISTEN=f"127.0.0.1:{port}",
                    PROFILE_TARGET=profile.target,
                    STRIPE_API_BASE=standin_url,
                    STRIPE_SECRET_KEY=STANDIN_SECRET_KEY,
                    STRIPE_WEBHOOK_SECRET=STANDIN_WEBHOOK_SECRET,
                    STRIPE_TIMEOUT_S="10",
                )
                process = ServiceProcess("billing_service", env, f"127.0.0.1:{port}", tmp_path / "billing.log").start()
                stack.callback(process.terminate)
                await process.wait_serving()
                billing_target = process.target
            else:
                running = await stack.enter_async_context(
                    run_billing_service(profile_target=profile.target, standin_url=standin_url)
                )
                billing_target = running.target
            settings = gateway_test_settings(issuer, profile_target=profile.target, billing_target=billing_target)
            served = await stack.enter_async_context(serve_gateway(settings))
            control = await stack.enter_async_context(StandinControl(standin_url))
            if deliver_automatically:
                await control.configure(webhook_url=f"{served.url}/v1/stripe/webhook")
            channel = await stack.enter_async_context(grpc.aio.insecure_channel(billing_target))
            yield WebhookStack(
                profile, standin_url, control, billing_target, bpb_grpc.BillingServiceStub(channel), served.url, process
            )

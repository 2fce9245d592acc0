"""The profile service is down while Stripe delivers: billing answers UNAVAILABLE (so the gateway answers
non-2xx and Stripe redelivers); after a restart on the same SQLite file, redelivery grants exactly +5."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import grpc

from profile_service.server import create_server as create_profile_server
from profile_service.settings import ProfileSettings
from profile_service.store.sqlite_store import SqliteStore
from tests.billing.conftest import API_KEY, WEBHOOK_SECRET, Standin, checkout, deliver, eventually
from tests.support.billing_server import billing_test_settings, run_billing_service, run_webhook_relay
from tests.support.grpc_errors import raises_rpc
from tokens.profile.v1 import profile_service_pb2 as ppb
from tokens.profile.v1 import profile_service_pb2_grpc as ppb_grpc


@contextlib.asynccontextmanager
async def profile_on(db: Path, address: str) -> AsyncIterator[int]:
    store = SqliteStore(db)
    await store.start()
    serving, port = create_profile_server(ProfileSettings(_env_file=None), store, address)
    await serving.start()
    try:
        yield port
    finally:
        await serving.stop(0)
        await store.close()


async def _balance(target: str, uid: str) -> int:
    async with grpc.aio.insecure_channel(target) as channel:
        reply = await ppb_grpc.ProfileServiceStub(channel).GetProfile(ppb.GetProfileRequest(uid=uid), timeout=5)
        return reply.profile.tokens


async def test_profile_down_during_delivery_then_redelivery_grants_exactly_once(
    standin: Standin, tmp_path: Path, uid: str
):
    db = tmp_path / "profile.sqlite3"
    async with contextlib.AsyncExitStack() as stack:
        first_profile = contextlib.AsyncExitStack()
        stack.push_async_callback(first_profile.aclose)
        port = await first_profile.enter_async_context(profile_on(db, "127.0.0.1:0"))
        target = f"127.0.0.1:{port}"
        settings = billing_test_settings(
            stripe_secret_key=API_KEY, stripe_webhook_secret=WEBHOOK_SECRET, profile_timeout_s=2
        )
        billing = await stack.enter_async_context(run_billing_service(settings, target, standin.url))
        relay = await stack.enter_async_context(run_webhook_relay(billing.stub))
        await standin.ctl.configure(webhook_url=relay.url)

        async with grpc.aio.insecure_channel(target) as channel:
            await ppb_grpc.ProfileServiceStub(channel).CreateProfile(ppb.CreateProfileRequest(uid=uid))
        session = await checkout(billing, uid)

        # The profile service goes away; then the customer pays and Stripe delivers.
        await first_profile.aclose()
        done = await standin.ctl.complete_session(session.session_id, "paid", wait=False)
        (event_id,) = done["events"]

        async def failed_once() -> bool:
            (event,) = await standin.events("checkout.session.completed", id=session.session_id)
            return any(a["status_code"] == 503 for a in event["delivery"]["attempts"])

        await eventually(failed_once)
        payload, signature = await standin.signed(event_id)
        async with raises_rpc(grpc.StatusCode.UNAVAILABLE):
            await deliver(billing, payload, signature)

        # Restart on the same SQLite file and address; Stripe's retries get through.
        await stack.enter_async_context(profile_on(db, target))

        async def delivered() -> bool:
            (event,) = await standin.events("checkout.session.completed", id=session.session_id)
            return event["delivery"]["status"] == "delivered"

        await eventually(delivered, timeout_s=30)
        assert await _balance(target, uid) == 5

        # Any number of further redeliveries change nothing.
        await standin.ctl.redeliver(event_id)
        assert (await deliver(billing, payload, signature)).action == "fulfilled"
        assert await _balance(target, uid) == 5
        assert [status for _, status in relay.deliveries][0] == 503  # the gateway's view: non-2xx first
        async with grpc.aio.insecure_channel(target) as channel:
            entries = (
                await ppb_grpc.ProfileServiceStub(channel).ListTokenHistory(
                    ppb.ListTokenHistoryRequest(uid=uid), timeout=5
                )
            ).entries
        assert [e.amount for e in entries] == [5]

"""Runs the real billing service in-process on 127.0.0.1:0, talking to a given profile service and to the
Stripe stand-in (or real Stripe), plus a minimal HTTP webhook relay (what the gateway does: raw body +
Stripe-Signature -> HandleStripeWebhook, 2xx only on OK) so the stand-in can deliver events itself."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import grpc
import stripe

from billing_service.server import create_server
from billing_service.settings import BillingSettings
from service_kit.grpc_server import ServingServer
from service_kit.rich_errors import details_of
from tokens.billing.v1 import billing_service_pb2 as pb
from tokens.billing.v1 import billing_service_pb2_grpc as pb_grpc

STANDIN_SECRET_KEY = "sk_test_local_standin"
STANDIN_WEBHOOK_SECRET = "whsec_local_standin_secret"


def billing_test_settings(**overrides: object) -> BillingSettings:
    """Settings for tests: every Stripe-related field explicit, so nothing leaks in from the environment."""
    values: dict[str, object] = dict(
        app_env="local",
        stripe_secret_key=STANDIN_SECRET_KEY,
        stripe_webhook_secret=STANDIN_WEBHOOK_SECRET,
        stripe_api_base="",
        stripe_onetime_price_id="price_onetime_5_tokens",
        stripe_onetime_product_id="prod_token_pack",
        stripe_onetime_tokens=5,
        stripe_subscription_price_id="price_subscription_monthly",
        stripe_subscription_product_id="prod_subscription",
        billing_catalogue="",
        allowed_redirect_origins=["http://127.0.0.1:8080", "http://localhost:8080"],
        stripe_timeout_s=10.0,
        stripe_max_network_retries=2,
        profile_timeout_s=5.0,
    )
    values.update(overrides)
    return BillingSettings(_env_file=None, **values)


@dataclass
class RunningBilling:
    target: str
    port: int
    settings: BillingSettings
    server: ServingServer
    channel: grpc.aio.Channel
    stub: pb_grpc.BillingServiceStub


@contextlib.asynccontextmanager
async def run_billing_service(
    settings: BillingSettings | None = None,
    profile_target: str | None = None,
    standin_url: str | None = None,
    *,
    stripe_client: stripe.StripeClient | None = None,
    extra_interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
) -> AsyncIterator[RunningBilling]:
    """The billing service on 127.0.0.1:0. `standin_url` (e.g. http://127.0.0.1:12111) points the Stripe SDK
    at the stand-in; `profile_target` defaults to settings.profile_target."""
    settings = settings or billing_test_settings()
    if standin_url is not None:
        settings = settings.model_copy(update={"stripe_api_base": standin_url.rstrip("/")})
    serving, port = create_server(
        settings,
        profile_target=profile_target,
        stripe_client=stripe_client,
        address="127.0.0.1:0",
        extra_interceptors=extra_interceptors,
    )
    await serving.start()
    target = f"127.0.0.1:{port}"
    channel = grpc.aio.insecure_channel(target)
    try:
        yield RunningBilling(target, port, settings, serving, channel, pb_grpc.BillingServiceStub(channel))
    finally:
        await channel.close()
        await serving.stop(0)


# --- webhook relay -------------------------------------------------------------------------------

_HTTP_STATUS = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.FAILED_PRECONDITION: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}


@dataclass
class WebhookRelay:
    url: str
    # (event_type or "", http status) for every delivery, in arrival order.
    deliveries: list[tuple[str, int]]


def _relay_app(stub: pb_grpc.BillingServiceStub, deliveries: list[tuple[str, int]]):
    async def app(scope, receive, send):  # a bare ASGI app: no framework needed for one route
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        status, text, event_type = 200, b"ok", ""
        try:
            reply = await stub.HandleStripeWebhook(
                pb.HandleStripeWebhookRequest(payload=body, signature_header=headers.get("stripe-signature", "")),
                timeout=30,
            )
            event_type = reply.event_type
            text = reply.action.encode()
        except grpc.RpcError as exc:
            details = details_of(exc)
            status = _HTTP_STATUS.get(details.code, 500)
            text = f"{details.code.name} {details.reason}".encode()
        deliveries.append((event_type, status))
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(text)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": text})

    return app


@contextlib.asynccontextmanager
async def run_webhook_relay(stub: pb_grpc.BillingServiceStub) -> AsyncIterator[WebhookRelay]:
    """An HTTP endpoint on 127.0.0.1 that hands each POST to HandleStripeWebhook, answering 2xx only when
    billing answered OK (the gateway's contract). Point the stand-in's webhook URL at `relay.url`."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    deliveries: list[tuple[str, int]] = []

    class _Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self):  # embedded: leave Ctrl-C to pytest / the host program
            yield

    config = uvicorn.Config(_relay_app(stub, deliveries), log_level="warning", lifespan="off", access_log=False)
    server = _Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        for _ in range(500):
            if server.started:
                break
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        yield WebhookRelay(f"http://127.0.0.1:{port}/webhooks/stripe", deliveries)
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 10)
        sock.close()

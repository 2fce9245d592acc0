"""create_server(settings, ...) -> (ServingServer, port). Tests bind to 127.0.0.1:0 and pass the profile
target and a Stripe client pointed at the stand-in."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import grpc
import stripe

from billing_service.billing import Billing
from billing_service.catalogue import build_catalogue
from billing_service.error_mapping import to_rpc_error
from billing_service.permissions import PERMISSIONS
from billing_service.profile_client import MetadataPairs, ProfileClient
from billing_service.servicer import BillingServicer
from billing_service.settings import BillingSettings
from billing_service.stripe_gateway import StripeGateway, build_stripe_client
from billing_service.webhooks import WebhookHandler
from service_kit.auth import ServiceAuthInterceptor
from service_kit.channels import auth_metadata, open_channel, server_credentials
from service_kit.grpc_server import ServingServer, build_server
from service_kit.interceptors import ErrorMappingInterceptor, RequestLogInterceptor
from tokens.billing.v1 import billing_service_pb2 as pb
from tokens.billing.v1 import billing_service_pb2_grpc as pb_grpc

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["BillingService"].full_name


class BillingServingServer(ServingServer):
    """A ServingServer that also closes what billing opened (profile channel, Stripe HTTP client)."""

    def __init__(self, serving: ServingServer, closers: Sequence[Callable[[], Awaitable[object]]]) -> None:
        super().__init__(serving.server, serving.health, serving.service_names, serving.port)
        self._closers = list(closers)

    async def stop(self, grace: float) -> None:
        try:
            await super().stop(grace)
        finally:
            for close in self._closers:
                await close()
            self._closers.clear()


def create_server(
    settings: BillingSettings,
    *,
    profile_channel: grpc.aio.Channel | None = None,
    profile_target: str | None = None,
    stripe_client: stripe.StripeClient | None = None,
    address: str | None = None,
    extra_interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
    profile_metadata: Callable[[], MetadataPairs] | None = None,
) -> tuple[ServingServer, int]:
    """Builds (does not start) the billing server. Without `profile_channel` it opens a channel to
    `profile_target` (default settings.profile_target) carrying billing's own credential (and TLS when
    configured); without `stripe_client` it builds one from settings. Whatever it opened is closed by the
    returned server's stop()."""
    closers: list[Callable[[], Awaitable[object]]] = []
    if profile_channel is None:
        profile_channel = open_channel(profile_target or settings.profile_target, settings)
        closers.append(profile_channel.close)
    gateway = StripeGateway(stripe_client or build_stripe_client(settings), owns_client=stripe_client is None)
    closers.append(gateway.close)

    if profile_metadata is None:
        credential = auth_metadata(settings.auth_token_billing.get_secret_value())
        profile_metadata = lambda: credential  # noqa: E731 - billing's own credential on every call
    profile = ProfileClient(profile_channel, settings.profile_timeout_s, extra_metadata=profile_metadata)
    billing = Billing(settings, build_catalogue(settings), gateway, profile)
    webhooks = WebhookHandler(billing, settings.stripe_webhook_secret, settings.webhook_tolerance_s)
    servicer = BillingServicer(billing, webhooks, profile)
    auth = [ServiceAuthInterceptor(settings.caller_tokens(), PERMISSIONS)] if settings.service_auth_enabled else []
    serving = build_server(
        address=address or settings.billing_listen,
        register=lambda server: pb_grpc.add_BillingServiceServicer_to_server(servicer, server),
        service_names=[SERVICE_NAME],
        # Order: log first (sees the final code), then auth, then error mapping.
        interceptors=[RequestLogInterceptor(), *auth, *extra_interceptors, ErrorMappingInterceptor(to_rpc_error)],
        reflection_enabled=settings.grpc_reflection,
        server_credentials=server_credentials(settings),
    )
    wrapped = BillingServingServer(serving, closers)
    return wrapped, wrapped.port

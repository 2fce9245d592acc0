"""create_server(settings, ...) -> (ServingServer, port). Tests bind to 127.0.0.1:0 and pass the profile
target and a Stripe client pointed at the stand-in."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import grpc
import stripe
from prometheus_client import CollectorRegistry

from billing_service.billing import Billing
from billing_service.catalogue import catalogue_from_settings
from billing_service.error_mapping import to_rpc_error
from billing_service.observability import BillingMetrics
from billing_service.permissions import PERMISSIONS
from billing_service.profile_client import PROFILE_SERVICE, ProfileClient
from billing_service.servicer import BillingServicer
from billing_service.settings import BillingSettings
from billing_service.stripe_gateway import StripeGateway, build_stripe_client
from billing_service.webhooks import WebhookHandler
from service_kit.channels import auth_metadata, open_channel
from service_kit.grpc_client import MetadataPairs, ServiceClient
from service_kit.grpc_server import ServingServer, build_service_server
from tokens.billing.v1 import billing_service_pb2 as pb
from tokens.billing.v1 import billing_service_pb2_grpc as pb_grpc
from tokens.profile.v1 import profile_service_pb2_grpc as ppb_grpc

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["BillingService"].full_name


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
    credential = auth_metadata(settings.auth_token_billing.get_secret_value())
    owns_channel = profile_channel is None
    channel = profile_channel or open_channel(profile_target or settings.profile_target, settings)
    profile = ProfileClient(
        ServiceClient(
            "profile",
            PROFILE_SERVICE,
            channel,
            ppb_grpc.ProfileServiceStub(channel),
            timeout_s=settings.profile_timeout_s,
            credential=credential,
            extra_metadata=profile_metadata,
            owns_channel=owns_channel,
        )
    )
    registry = CollectorRegistry(auto_describe=True)  # gRPC series (service_kit) + webhook and Stripe series
    metrics = BillingMetrics(registry)
    gateway = StripeGateway(stripe_client or build_stripe_client(settings, metrics), owns_client=stripe_client is None)
    billing = Billing(settings, catalogue_from_settings(settings), gateway, profile)
    webhooks = WebhookHandler(billing, settings.stripe_webhook_secret, settings.webhook_tolerance_s, metrics)
    servicer = BillingServicer(billing, webhooks, profile)
    serving = build_service_server(
        settings,
        address=address or settings.billing_listen,
        register=lambda server: pb_grpc.add_BillingServiceServicer_to_server(servicer, server),
        service_names=[SERVICE_NAME],
        permissions=PERMISSIONS,
        error_mapper=to_rpc_error,
        extra_interceptors=extra_interceptors,
        listen_setting="BILLING_LISTEN",
        closers=[profile.close, gateway.close],
        registry=registry,
    )
    return serving, serving.port

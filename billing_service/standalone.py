"""Billing's use cases outside the gRPC server (the `reconcile` command, the background reconciler): the
same catalogue, Stripe client and profile service client the server builds from the settings, with
billing's own credential towards the profile service."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import stripe

from billing_service.billing import Billing
from billing_service.catalogue import catalogue_from_settings
from billing_service.profile_client import PROFILE_SERVICE, ProfileClient
from billing_service.settings import BillingSettings
from billing_service.stripe_gateway import StripeGateway, build_stripe_client
from service_kit.grpc_client import ServiceClient
from tokens.profile.v1 import profile_service_pb2_grpc as ppb_grpc


@contextlib.asynccontextmanager
async def open_billing(
    settings: BillingSettings, *, stripe_client: stripe.StripeClient | None = None
) -> AsyncIterator[Billing]:
    """A Billing on its own profile channel (TLS per settings) and Stripe client; both closed on exit."""
    catalogue = catalogue_from_settings(settings)
    profile = ProfileClient(
        ServiceClient.open(
            "profile",
            PROFILE_SERVICE,
            settings.profile_target,
            settings,
            ppb_grpc.ProfileServiceStub,
            timeout_s=settings.profile_timeout_s,
            caller_token=settings.auth_token_billing.get_secret_value(),
        )
    )
    gateway = StripeGateway(stripe_client or build_stripe_client(settings), owns_client=stripe_client is None)
    try:
        yield Billing(settings, catalogue, gateway, profile)
    finally:
        try:
            await gateway.close()
        finally:
            await profile.close()

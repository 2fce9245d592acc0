"""The one place where errors raised while serving billing RPCs become gRPC statuses: billing's own
errors, Stripe's (stripe_errors.py), and the profile service's, whose code, reason and field pass through
unchanged (profile UNAVAILABLE stays UNAVAILABLE, so a webhook is redelivered)."""

from __future__ import annotations

import grpc

from billing_service.domain import errors
from billing_service.profile_client import ProfileCallError
from billing_service.stripe_errors import stripe_to_rpc_error
from service_kit.rich_errors import RpcErrorSpec


def to_rpc_error(exc: Exception) -> RpcErrorSpec | None:
    match exc:
        case errors.InvalidArgument() | errors.InvalidWebhook():
            return RpcErrorSpec(grpc.StatusCode.INVALID_ARGUMENT, exc.message, exc.reason, exc.field)
        case errors.NotYourSession():
            return RpcErrorSpec(grpc.StatusCode.PERMISSION_DENIED, exc.message, exc.reason, exc.field)
        case errors.AlreadySubscribed() | errors.NoStripeCustomer():
            return RpcErrorSpec(grpc.StatusCode.FAILED_PRECONDITION, exc.message, exc.reason, exc.field)
        case errors.Unattributable() | errors.AllowanceOutOfRange():
            return RpcErrorSpec(grpc.StatusCode.FAILED_PRECONDITION, exc.message, exc.reason)
        case ProfileCallError():
            details = exc.details
            return RpcErrorSpec(
                details.code, f"profile service {exc.method}: {details.message}", details.reason, details.field
            )
    return stripe_to_rpc_error(exc)

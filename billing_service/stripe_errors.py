"""The one place where Stripe SDK errors become gRPC statuses.

| Stripe error                         | gRPC code           | reason                         | why |
| ------------------------------------ | ------------------- | ------------------------------ | --- |
| CardError (402)                      | FAILED_PRECONDITION | STRIPE_CARD_ERROR              | the card was declined; retrying the same call will not help |
| RateLimitError (429)                 | RESOURCE_EXHAUSTED  | STRIPE_RATE_LIMITED            | back off and retry |
| APIConnectionError (network/timeout) | UNAVAILABLE         | STRIPE_UNAVAILABLE             | transient; the SDK already retried |
| APIError 5xx (or no status)          | UNAVAILABLE         | STRIPE_UNAVAILABLE             | transient on Stripe's side |
| APIError 409 (conflict/lock)         | ABORTED             | STRIPE_CONFLICT                | a concurrent request; retry |
| APIError other                       | INTERNAL            | STRIPE_API_ERROR               | |
| InvalidRequestError 404 / resource_missing | NOT_FOUND     | STRIPE_RESOURCE_MISSING        | e.g. an unknown session id |
| InvalidRequestError (other 400)      | INVALID_ARGUMENT    | STRIPE_INVALID_REQUEST         | field = Stripe's `param` |
| IdempotencyError                     | ALREADY_EXISTS      | IDEMPOTENCY_KEY_REUSED         | same key, other parameters (as the profile service) |
| AuthenticationError (401)            | INTERNAL            | STRIPE_MISCONFIGURED           | our key is wrong; not the caller's fault, no detail leaked |
| PermissionError (403)                | INTERNAL            | STRIPE_MISCONFIGURED           | our key lacks a permission |
| SignatureVerificationError           | INVALID_ARGUMENT    | INVALID_SIGNATURE              | field signature_header |
| any other StripeError                | INTERNAL            | STRIPE_ERROR                   | |

Every code other than OK makes the gateway answer a webhook non-2xx, so Stripe redelivers it.
"""

from __future__ import annotations

import grpc
import stripe

from service_kit.rich_errors import RpcErrorSpec


def _message(exc: stripe.StripeError) -> str:
    return f"stripe: {exc.user_message or type(exc).__name__}"


def stripe_to_rpc_error(exc: Exception) -> RpcErrorSpec | None:
    if not isinstance(exc, stripe.StripeError):
        return None
    code = grpc.StatusCode
    match exc:
        case stripe.CardError():
            return RpcErrorSpec(code.FAILED_PRECONDITION, _message(exc), "STRIPE_CARD_ERROR", exc.param or None)
        case stripe.RateLimitError():
            return RpcErrorSpec(code.RESOURCE_EXHAUSTED, _message(exc), "STRIPE_RATE_LIMITED")
        case stripe.APIConnectionError():
            return RpcErrorSpec(code.UNAVAILABLE, "stripe could not be reached", "STRIPE_UNAVAILABLE")
        case stripe.IdempotencyError():
            return RpcErrorSpec(code.ALREADY_EXISTS, _message(exc), "IDEMPOTENCY_KEY_REUSED", "request_id")
        case stripe.InvalidRequestError():
            if exc.http_status == 404 or exc.code == "resource_missing":
                return RpcErrorSpec(code.NOT_FOUND, _message(exc), "STRIPE_RESOURCE_MISSING", exc.param or None)
            return RpcErrorSpec(code.INVALID_ARGUMENT, _message(exc), "STRIPE_INVALID_REQUEST", exc.param or None)
        case stripe.AuthenticationError() | stripe.PermissionError():
            return RpcErrorSpec(
                code.INTERNAL, "billing is misconfigured (Stripe refused the API key)", "STRIPE_MISCONFIGURED"
            )
        case stripe.SignatureVerificationError():
            return RpcErrorSpec(code.INVALID_ARGUMENT, _message(exc), "INVALID_SIGNATURE", "signature_header")
        case stripe.APIError():
            status = exc.http_status
            if status is None or status >= 500:
                return RpcErrorSpec(code.UNAVAILABLE, _message(exc), "STRIPE_UNAVAILABLE")
            if status == 409:
                return RpcErrorSpec(code.ABORTED, _message(exc), "STRIPE_CONFLICT")
            return RpcErrorSpec(code.INTERNAL, _message(exc), "STRIPE_API_ERROR")
    return RpcErrorSpec(code.INTERNAL, _message(exc), "STRIPE_ERROR")

"""Typed errors: what a worker may conclude from each (see README "What a caller may conclude")."""

from __future__ import annotations

import grpc

from service_kit.grpc_client import RpcCallError


class TokenClientError(Exception):
    """A call failed. `code`/`reason`/`field` are the service's answer (google.rpc.ErrorInfo, BadRequest)."""

    def __init__(self, error: RpcCallError) -> None:
        super().__init__(str(error))
        self.code: grpc.StatusCode = error.code
        self.reason: str = error.reason
        self.field: str | None = error.field
        self.detail: str = error.message


class InsufficientTokens(TokenClientError):
    """Nothing changed: the available tokens do not cover the amount."""


class HoldAlreadySettled(TokenClientError):
    """The hold was captured (with another amount) or released before: nothing changed."""


class HoldExpired(TokenClientError):
    """The hold expired before the capture: nothing was spent, its tokens are available again."""


class HoldAmountExceeded(TokenClientError):
    """A capture above the held amount with Overage.REJECT: nothing was captured, the hold is still open."""


class InvalidRequest(TokenClientError):
    """The request is wrong (`field` names what): nothing changed, and a retry will not help."""


class NotFound(TokenClientError):
    """No such profile or hold: nothing changed."""


class NotAllowed(TokenClientError):
    """UNAUTHENTICATED or PERMISSION_DENIED: the worker's credential or certificate is not accepted."""


class OutcomeUnknown(TokenClientError):
    """Every attempt ended without a known outcome (the retry budget ran out). The change may or may not have
    happened: call again with the same idempotency key (or hold id) later; that is always safe."""


_BY_REASON: dict[str, type[TokenClientError]] = {
    "INSUFFICIENT_TOKENS": InsufficientTokens,
    "HOLD_ALREADY_SETTLED": HoldAlreadySettled,
    "HOLD_EXPIRED": HoldExpired,
    "HOLD_AMOUNT_EXCEEDED": HoldAmountExceeded,
}
_BY_CODE: dict[grpc.StatusCode, type[TokenClientError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidRequest,
    grpc.StatusCode.ALREADY_EXISTS: InvalidRequest,  # the key was used with other parameters
    grpc.StatusCode.OUT_OF_RANGE: InvalidRequest,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.UNAUTHENTICATED: NotAllowed,
    grpc.StatusCode.PERMISSION_DENIED: NotAllowed,
}


def typed(error: RpcCallError, *, outcome_unknown: bool = False) -> TokenClientError:
    """The typed error for a final answer; `outcome_unknown` when retries ran out on an unknown outcome."""
    if outcome_unknown:
        return OutcomeUnknown(error)
    kind = _BY_REASON.get(error.reason) or _BY_CODE.get(error.code) or TokenClientError
    return kind(error)

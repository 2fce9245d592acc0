"""The one place where the profile service's domain errors become gRPC statuses."""

from __future__ import annotations

import grpc

from profile_service.domain import errors
from service_kit.rich_errors import RpcErrorSpec


def to_rpc_error(exc: Exception) -> RpcErrorSpec | None:
    match exc:
        case errors.InvalidArgument():
            return RpcErrorSpec(grpc.StatusCode.INVALID_ARGUMENT, exc.message, exc.reason, exc.field)
        case errors.ProfileNotFound():
            return RpcErrorSpec(grpc.StatusCode.NOT_FOUND, exc.message, "PROFILE_NOT_FOUND", exc.field)
        case errors.EntryNotFound():
            return RpcErrorSpec(grpc.StatusCode.NOT_FOUND, exc.message, "ENTRY_NOT_FOUND", exc.field)
        case errors.InsufficientTokens():
            return RpcErrorSpec(grpc.StatusCode.FAILED_PRECONDITION, exc.message, "INSUFFICIENT_TOKENS", exc.field)
        case errors.IdempotencyKeyReused():
            return RpcErrorSpec(grpc.StatusCode.ALREADY_EXISTS, exc.message, "IDEMPOTENCY_KEY_REUSED", exc.field)
        case errors.HoldNotFound():
            return RpcErrorSpec(grpc.StatusCode.NOT_FOUND, exc.message, "HOLD_NOT_FOUND", exc.field)
        case errors.HoldAlreadySettled():
            return RpcErrorSpec(grpc.StatusCode.FAILED_PRECONDITION, exc.message, "HOLD_ALREADY_SETTLED", exc.field)
        case errors.HoldExpired():
            return RpcErrorSpec(grpc.StatusCode.FAILED_PRECONDITION, exc.message, "HOLD_EXPIRED", exc.field)
        case errors.HoldAmountExceeded():
            return RpcErrorSpec(grpc.StatusCode.FAILED_PRECONDITION, exc.message, "HOLD_AMOUNT_EXCEEDED", exc.field)
        case errors.TooManyHolds():
            return RpcErrorSpec(grpc.StatusCode.FAILED_PRECONDITION, exc.message, "TOO_MANY_HOLDS", exc.field)
        case errors.TooManyGrants():
            return RpcErrorSpec(grpc.StatusCode.FAILED_PRECONDITION, exc.message, "TOO_MANY_GRANTS", exc.field)
        case errors.OutcomeUnknown():
            return RpcErrorSpec(grpc.StatusCode.UNAVAILABLE, exc.message, "OUTCOME_UNKNOWN")
        case errors.StoreUnavailable():
            return RpcErrorSpec(grpc.StatusCode.UNAVAILABLE, exc.message, "STORE_UNAVAILABLE")
        case errors.WriteDeadlineExceeded():
            return RpcErrorSpec(grpc.StatusCode.DEADLINE_EXCEEDED, exc.message, "DEADLINE_EXCEEDED_WHILE_QUEUED")
    return None

"""google.rpc rich error details: every error carries ErrorInfo{reason} and, when a field is to blame,
BadRequest.FieldViolation naming it. Servers build them here; clients read them back here."""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

ERROR_DOMAIN = "tokens.dev"
# Error text travels in trailers, which gRPC caps (8 KiB by default): never echo unbounded input.
MAX_MESSAGE_CHARS = 500
MAX_FIELD_CHARS = 100


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class RpcErrorSpec:
    """What a service-level error becomes on the wire."""

    code: grpc.StatusCode
    message: str
    reason: str
    field: str | None = None


def to_status(spec: RpcErrorSpec) -> grpc.Status:
    spec = RpcErrorSpec(
        spec.code,
        _clip(spec.message, MAX_MESSAGE_CHARS),
        spec.reason,
        _clip(spec.field, MAX_FIELD_CHARS) if spec.field else None,
    )
    details: list[any_pb2.Any] = []
    info = error_details_pb2.ErrorInfo(reason=spec.reason, domain=ERROR_DOMAIN)
    if spec.field:
        info.metadata["field"] = spec.field
    packed = any_pb2.Any()
    packed.Pack(info)
    details.append(packed)
    if spec.field:
        bad = error_details_pb2.BadRequest(
            field_violations=[error_details_pb2.BadRequest.FieldViolation(field=spec.field, description=spec.message)]
        )
        packed = any_pb2.Any()
        packed.Pack(bad)
        details.append(packed)
    status = status_pb2.Status(code=getattr(code_pb2, spec.code.name), message=spec.message, details=details)
    return rpc_status.to_status(status)


@dataclass(frozen=True)
class ErrorDetails:
    code: grpc.StatusCode
    message: str
    reason: str
    field: str | None


def details_of(error: grpc.RpcError) -> ErrorDetails:
    """Reads code, message, ErrorInfo.reason and the offending field from a client-side RpcError."""
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    message = error.details() if hasattr(error, "details") else str(error)
    reason, field = code.name, None
    try:
        status = rpc_status.from_call(error)  # type: ignore[arg-type]
    except Exception:  # a malformed trailer must not hide the original error
        status = None
    if status is not None:
        for detail in status.details:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                reason = info.reason or reason
                field = info.metadata.get("field") or field
            elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR) and field is None:
                bad = error_details_pb2.BadRequest()
                detail.Unpack(bad)
                if bad.field_violations:
                    field = bad.field_violations[0].field
    return ErrorDetails(code=code, message=message or "", reason=reason, field=field)

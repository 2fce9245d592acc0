"""Rich error round trip (service_kit.rich_errors) and the client's one typed exception (RpcCallError): no server."""

from __future__ import annotations

import collections

import grpc
import pytest
from google.rpc import code_pb2, status_pb2
from grpc_status import rpc_status

from service_kit.grpc_client import RpcCallError, method_name
from service_kit.rich_errors import MAX_FIELD_CHARS, MAX_MESSAGE_CHARS, RpcErrorSpec, details_of, to_status


class _Status(collections.namedtuple("_Status", ("code", "details", "trailing_metadata")), grpc.Status):
    pass


class StatusError(grpc.RpcError):
    """A client-side RpcError carrying a status, as grpc.aio raises them."""

    def __init__(self, status: grpc.Status) -> None:
        self._status = status

    def code(self) -> grpc.StatusCode:
        return self._status.code

    def details(self) -> str:
        return self._status.details

    def trailing_metadata(self):
        return self._status.trailing_metadata


def test_reason_and_field_survive_the_wire() -> None:
    spec = RpcErrorSpec(grpc.StatusCode.FAILED_PRECONDITION, "balance 1 < 5", "INSUFFICIENT_TOKENS", "amount")
    error = RpcCallError.from_rpc_error("profile", "SpendTokens", StatusError(to_status(spec)))
    assert (error.code, error.message, error.reason, error.field) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "balance 1 < 5",
        "INSUFFICIENT_TOKENS",
        "amount",
    )
    assert (error.service, error.method) == ("profile", "SpendTokens")
    assert "profile service SpendTokens: FAILED_PRECONDITION" in str(error)


def test_without_a_field_there_is_none() -> None:
    status = to_status(RpcErrorSpec(grpc.StatusCode.NOT_FOUND, "no profile", "PROFILE_NOT_FOUND"))
    details = details_of(StatusError(status))
    assert (details.reason, details.field) == ("PROFILE_NOT_FOUND", None)


def test_a_bare_status_reason_defaults_to_the_code_name() -> None:
    """A transport failure (no rich details at all) still decodes: the reason is the code's name."""
    bare = StatusError(_Status(grpc.StatusCode.UNAVAILABLE, "connection refused", ()))
    details = details_of(bare)
    assert (details.code, details.reason, details.field, details.message) == (
        grpc.StatusCode.UNAVAILABLE,
        "UNAVAILABLE",
        None,
        "connection refused",
    )


def test_bad_request_field_is_read_when_error_info_has_none() -> None:
    from google.protobuf import any_pb2
    from google.rpc import error_details_pb2

    bad = error_details_pb2.BadRequest(
        field_violations=[error_details_pb2.BadRequest.FieldViolation(field="uid", description="too long")]
    )
    packed = any_pb2.Any()
    packed.Pack(bad)
    status = rpc_status.to_status(
        status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message="uid too long", details=[packed])
    )
    assert details_of(StatusError(status)).field == "uid"


def test_a_malformed_status_trailer_does_not_hide_the_error() -> None:
    broken = StatusError(
        _Status(grpc.StatusCode.INTERNAL, "boom", (("grpc-status-details-bin", b"\xff not a status"),))
    )
    details = details_of(broken)
    assert (details.code, details.reason) == (grpc.StatusCode.INTERNAL, "INTERNAL")


def test_long_messages_and_fields_are_clipped_for_the_trailer() -> None:
    spec = RpcErrorSpec(grpc.StatusCode.INVALID_ARGUMENT, "m" * 10_000, "TOO_LONG", "f" * 10_000)
    details = details_of(StatusError(to_status(spec)))
    assert len(details.message) == MAX_MESSAGE_CHARS and details.message.endswith("…")
    assert details.field is not None and len(details.field) == MAX_FIELD_CHARS


@pytest.mark.parametrize(
    "method,expected",
    [(type("M", (), {"_method": b"/tokens.profile.v1.ProfileService/GetProfile"})(), "GetProfile"), (object(), "?")],
)
def test_method_name_of_a_multicallable(method: object, expected: str) -> None:
    assert method_name(method) == expected

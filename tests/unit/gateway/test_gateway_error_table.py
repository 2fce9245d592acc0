"""The one gRPC -> HTTP table (gateway/errors.py), read through real google.rpc rich statuses (no server)."""

from __future__ import annotations

import grpc
import pytest

from gateway.errors import GRPC_TO_HTTP, from_rpc_error
from service_kit.rich_errors import RpcErrorSpec, to_status


class StatusError(grpc.RpcError):
    """Test-only: a client-side RpcError carrying a status built by service_kit.rich_errors.to_status."""

    def __init__(self, status: grpc.Status) -> None:
        self._status = status

    def code(self) -> grpc.StatusCode:
        return self._status.code

    def details(self) -> str:
        return self._status.details

    def trailing_metadata(self):
        return self._status.trailing_metadata


EXPECTED = {
    "INVALID_ARGUMENT": 400,
    "OUT_OF_RANGE": 400,
    "UNAUTHENTICATED": 502,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "FAILED_PRECONDITION": 409,
    "ABORTED": 409,
    "RESOURCE_EXHAUSTED": 429,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 503,
    "CANCELLED": 503,
    "UNIMPLEMENTED": 502,
    "INTERNAL": 502,
    "UNKNOWN": 502,
    "DATA_LOSS": 502,
}


def test_every_status_code_is_in_the_table() -> None:
    assert {code.name for code in GRPC_TO_HTTP} == {code.name for code in grpc.StatusCode} - {"OK"}
    assert {code.name: status for code, status in GRPC_TO_HTTP.items()} == EXPECTED


@pytest.mark.parametrize("code", [c for c in grpc.StatusCode if c is not grpc.StatusCode.OK], ids=lambda c: c.name)
def test_translation_keeps_reason_and_field_and_hides_internals(code: grpc.StatusCode) -> None:
    error = StatusError(to_status(RpcErrorSpec(code, "secret detail: db at 10.0.0.7", "SOME_REASON", "amount")))
    api = from_rpc_error(error, retry_after_s=7, service="profile")
    assert api.status == EXPECTED[code.name]
    assert api.code == code.name and api.reason == "SOME_REASON" and api.field == "amount"
    if api.status >= 500:
        assert "secret" not in api.message and "profile" in api.message
    else:
        assert api.message == "secret detail: db at 10.0.0.7"
    assert (api.headers.get("Retry-After") == "7") == (api.status in (429, 503))


def test_insufficient_tokens_is_409_with_its_reason() -> None:
    error = StatusError(
        to_status(
            RpcErrorSpec(
                grpc.StatusCode.FAILED_PRECONDITION,
                "balance 1 is less than the 5 tokens requested",
                "INSUFFICIENT_TOKENS",
                "amount",
            )
        )
    )
    api = from_rpc_error(error, retry_after_s=1, service="profile")
    assert (api.status, api.code, api.reason) == (409, "FAILED_PRECONDITION", "INSUFFICIENT_TOKENS")


def test_a_decoded_call_error_translates_like_the_raw_rpc_error() -> None:
    """The gateway's clients raise service_kit's RpcCallError; its translation names the failing service."""
    from service_kit.grpc_client import RpcCallError

    raw = StatusError(to_status(RpcErrorSpec(grpc.StatusCode.UNAVAILABLE, "db down at 10.0.0.7", "STORE_UNAVAILABLE")))
    api = from_rpc_error(RpcCallError.from_rpc_error("billing", "ListPrices", raw), retry_after_s=3)
    assert (api.status, api.code, api.reason) == (503, "UNAVAILABLE", "STORE_UNAVAILABLE")
    assert "billing" in api.message and "10.0.0.7" not in api.message
    assert api.headers == {"Retry-After": "3"}

"""ServiceClient's call rules without a server: deadline, metadata, typed errors, the metrics observer."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from service_kit.auth import identify
from service_kit.channels import auth_metadata
from service_kit.grpc_client import RpcCallError, ServiceClient
from service_kit.grpc_server import service_interceptors
from service_kit.interceptors import ErrorMappingInterceptor, RequestLogInterceptor
from service_kit.request_context import request_id_var
from service_kit.rich_errors import RpcErrorSpec, to_status
from service_kit.settings import CommonSettings
from tests.unit.service_kit.test_service_kit_errors import StatusError


class FakeMethod:
    """Stands in for a grpc.aio multi-callable: records the call, answers or raises."""

    _method = b"/tokens.profile.v1.ProfileService/GetProfile"

    def __init__(self, outcome: Any) -> None:
        self.outcome = outcome
        self.calls: list[dict[str, Any]] = []

    async def __call__(self, request: Any, **kwargs: Any) -> Any:
        self.calls.append({"request": request, **kwargs})
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


def client(observed: list[tuple[str, str, str]]) -> ServiceClient[None]:
    return ServiceClient(
        "profile",
        "tokens.profile.v1.ProfileService",
        channel=None,  # type: ignore[arg-type]
        stub=None,
        timeout_s=2.5,
        credential=auth_metadata("secret-1"),
        observer=lambda service, method, code, _s: observed.append((service, method, code)),
    )


async def test_a_call_carries_deadline_request_id_and_credential() -> None:
    observed: list[tuple[str, str, str]] = []
    method = FakeMethod("reply")
    reset = request_id_var.set("req-7")
    try:
        assert await client(observed).call(method, "request") == "reply"  # type: ignore[arg-type]
    finally:
        request_id_var.reset(reset)
    (call,) = method.calls
    assert call["timeout"] == 2.5
    assert call["metadata"] == (("x-request-id", "req-7"), ("authorization", "Bearer secret-1"))
    assert observed == [("profile", "GetProfile", "OK")]


async def test_a_failure_is_one_typed_error_with_reason_and_field() -> None:
    observed: list[tuple[str, str, str]] = []
    spec = RpcErrorSpec(grpc.StatusCode.FAILED_PRECONDITION, "too few", "INSUFFICIENT_TOKENS", "amount")
    method = FakeMethod(StatusError(to_status(spec)))
    with pytest.raises(RpcCallError) as info:
        await client(observed).call(method, "request", timeout_s=0.5)  # type: ignore[arg-type]
    assert (info.value.service, info.value.method, info.value.reason, info.value.field) == (
        "profile",
        "GetProfile",
        "INSUFFICIENT_TOKENS",
        "amount",
    )
    assert method.calls[0]["timeout"] == 0.5
    assert observed == [("profile", "GetProfile", "FAILED_PRECONDITION")]


def test_no_token_no_credential_metadata() -> None:
    assert auth_metadata("") == ()


def test_identify_finds_the_caller_by_its_token() -> None:
    callers = {"gateway": "g-secret", "billing": "b-secret", "backend": ""}
    assert identify("b-secret", callers) == "billing"
    assert identify("", callers) is None
    assert identify("g-secre", callers) is None


def test_the_interceptor_chain_is_log_auth_extras_errors() -> None:
    class Extra(grpc.aio.ServerInterceptor):
        async def intercept_service(self, continuation, handler_call_details):  # type: ignore[no-untyped-def]
            return await continuation(handler_call_details)

    extra = Extra()
    open_chain = service_interceptors(CommonSettings(_env_file=None), {}, lambda _exc: None, [extra])
    assert [type(i) for i in open_chain] == [RequestLogInterceptor, Extra, ErrorMappingInterceptor]
    guarded = service_interceptors(
        CommonSettings(_env_file=None, auth_token_gateway="g-secret"), {}, lambda _exc: None, [extra]
    )
    assert [type(i).__name__ for i in guarded] == [
        "RequestLogInterceptor",
        "ServiceAuthInterceptor",
        "Extra",
        "ErrorMappingInterceptor",
    ]

"""service_kit.reflection answers every symbol kind, methods included (grpc/grpc#34743), without a server."""

from __future__ import annotations

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_reflection.v1alpha import reflection_pb2 as rpb

from service_kit.reflection import REFLECTION_SERVICE, ReflectionServicer, file_containing_symbol
from tokens.billing.v1 import billing_service_pb2
from tokens.profile.v1 import profile_service_pb2

PROFILE_FILE = profile_service_pb2.DESCRIPTOR.name
BILLING_FILE = billing_service_pb2.DESCRIPTOR.name
POOL = descriptor_pool.Default()


def test_the_default_pool_cannot_find_methods() -> None:
    """The upstream defect this module exists for; if it is ever fixed, the fallback is simply unused."""
    with pytest.raises(KeyError):
        POOL.FindFileContainingSymbol("tokens.profile.v1.ProfileService.GetProfile")


@pytest.mark.parametrize(
    "symbol,file",
    [
        ("tokens.profile.v1.ProfileService", PROFILE_FILE),
        ("tokens.profile.v1.ProfileService.GetProfile", PROFILE_FILE),
        ("tokens.profile.v1.GetProfileRequest", PROFILE_FILE),
        ("tokens.billing.v1.BillingService.HandleStripeWebhook", BILLING_FILE),
        ("tokens.billing.v1.Price", BILLING_FILE),
    ],
)
def test_symbols_resolve_to_their_file(symbol: str, file: str) -> None:
    assert file_containing_symbol(POOL, symbol).name == file


@pytest.mark.parametrize(
    "symbol", ["tokens.profile.v1.ProfileService.NoSuchMethod", "tokens.nothing.Service.Method", "x", ""]
)
def test_unknown_symbols_are_not_found(symbol: str) -> None:
    with pytest.raises(KeyError):
        file_containing_symbol(POOL, symbol)
    reply = ReflectionServicer([]).answer(rpb.ServerReflectionRequest(file_containing_symbol=symbol))
    assert reply.WhichOneof("message_response") == "error_response"
    assert reply.error_response.error_code == 5  # NOT_FOUND


def test_a_method_answers_its_file_with_the_dependencies() -> None:
    request = rpb.ServerReflectionRequest(file_containing_symbol="tokens.profile.v1.ProfileService.SpendTokens")
    reply = ReflectionServicer([]).answer(request)
    names = []
    for raw in reply.file_descriptor_response.file_descriptor_proto:
        proto = descriptor_pb2.FileDescriptorProto()
        proto.ParseFromString(raw)
        names.append(proto.name)
    assert names[0] == PROFILE_FILE
    assert "google/protobuf/timestamp.proto" in names
    assert reply.original_request == request


def test_list_services_names_the_given_services_and_reflection() -> None:
    reply = ReflectionServicer(["tokens.profile.v1.ProfileService", "grpc.health.v1.Health"]).answer(
        rpb.ServerReflectionRequest(list_services="")
    )
    assert [s.name for s in reply.list_services_response.service] == sorted(
        ["tokens.profile.v1.ProfileService", "grpc.health.v1.Health", REFLECTION_SERVICE]
    )


def test_file_by_name_and_an_empty_request() -> None:
    servicer = ReflectionServicer([])
    by_name = servicer.answer(rpb.ServerReflectionRequest(file_by_filename=BILLING_FILE))
    assert len(by_name.file_descriptor_response.file_descriptor_proto) >= 1
    assert servicer.answer(rpb.ServerReflectionRequest()).error_response.error_code == 3  # INVALID_ARGUMENT

"""Internal RPCs are closed to anyone but the right service (least privilege), optionally over mTLS."""

from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from profile_service.settings import ProfileSettings
from profile_service.store.sqlite_store import SqliteStore
from service_kit.dev_credentials import dev_tokens, write_dev_tls
from service_kit.settings import CommonSettings
from tests.support.grpc_errors import raises_rpc
from tests.support.profile_server import run_profile_service
from tests.support.service_channel import channel_as
from tokens.profile.v1 import profile_service_pb2 as pb
from tokens.profile.v1 import profile_service_pb2_grpc as pb_grpc

TOKENS = dev_tokens()


def auth_settings(**extra) -> ProfileSettings:
    return ProfileSettings(
        _env_file=None,
        auth_token_gateway=TOKENS["gateway"],
        auth_token_billing=TOKENS["billing"],
        auth_token_backend=TOKENS["backend"],
        **extra,
    )


@pytest.fixture
async def guarded(tmp_path):
    async with run_profile_service(SqliteStore(tmp_path / "p.sqlite3"), auth_settings()) as running:
        yield running


def stub_as(
    target: str, token: str, settings: CommonSettings | None = None
) -> tuple[grpc.aio.Channel, pb_grpc.ProfileServiceStub]:
    channel = channel_as(target, token, settings)
    return channel, pb_grpc.ProfileServiceStub(channel)


GRANT = pb.GrantTokensRequest(uid="victim", amount=1000, type=pb.TOKEN_ENTRY_TYPE_PROMOTIONAL, idempotency_key="steal")


async def balance_of(target: str, uid: str) -> int:
    channel, stub = stub_as(target, TOKENS["gateway"])
    async with channel:
        return (await stub.GetProfile(pb.GetProfileRequest(uid=uid))).profile.tokens


@pytest.mark.parametrize("token", ["", "Bearer-less-garbage", "local-gateway-forged"])
async def test_unknown_or_missing_credential_is_unauthenticated(guarded, token):
    channel, stub = stub_as(guarded.target, TOKENS["gateway"])
    async with channel:
        await stub.CreateProfile(pb.CreateProfileRequest(uid="victim", email="v@example.com"))
    channel, stub = stub_as(guarded.target, token)
    async with channel, raises_rpc(grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED"):
        await stub.GrantTokens(GRANT)
    assert await balance_of(guarded.target, "victim") == 0


@pytest.mark.parametrize(
    "caller,method,request_msg",
    [
        ("gateway", "GrantTokens", GRANT),
        ("gateway", "SpendTokens", pb.SpendTokensRequest(uid="victim", amount=1, idempotency_key="s")),
        ("backend", "GrantTokens", GRANT),
        ("billing", "SpendTokens", pb.SpendTokensRequest(uid="victim", amount=1, idempotency_key="s")),
        ("billing", "UpdateProfile", pb.UpdateProfileRequest()),
        ("backend", "SetEntitlements", pb.SetEntitlementsRequest(uid="victim", has_access=True)),
    ],
)
async def test_known_caller_outside_its_rights_is_denied(guarded, caller, method, request_msg):
    channel, stub = stub_as(guarded.target, TOKENS["gateway"])
    async with channel:
        await stub.CreateProfile(pb.CreateProfileRequest(uid="victim", email="v@example.com"))
    channel, stub = stub_as(guarded.target, TOKENS[caller])
    async with channel, raises_rpc(grpc.StatusCode.PERMISSION_DENIED, "PERMISSION_DENIED"):
        await getattr(stub, method)(request_msg)
    assert await balance_of(guarded.target, "victim") == 0


async def test_each_caller_reaches_what_it_may(guarded):
    channel, stub = stub_as(guarded.target, TOKENS["gateway"])
    async with channel:
        await stub.CreateProfile(pb.CreateProfileRequest(uid="u", email="u@example.com"))
    channel, stub = stub_as(guarded.target, TOKENS["billing"])
    async with channel:
        granted = await stub.GrantTokens(
            pb.GrantTokensRequest(uid="u", amount=5, type=pb.TOKEN_ENTRY_TYPE_PURCHASE, idempotency_key="checkout:cs")
        )
        assert granted.balance == 5
    channel, stub = stub_as(guarded.target, TOKENS["backend"])
    async with channel:
        spent = await stub.SpendTokens(pb.SpendTokensRequest(uid="u", amount=2, idempotency_key="s"))
        assert spent.balance == 3


async def test_health_stays_open_without_credentials(guarded):
    async with grpc.aio.insecure_channel(guarded.target) as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_reflection_can_be_switched_off(tmp_path):
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    settings = auth_settings(grpc_reflection=False)
    async with run_profile_service(SqliteStore(tmp_path / "p.sqlite3"), settings) as running:
        async with grpc.aio.insecure_channel(running.target) as channel:
            stub = reflection_pb2_grpc.ServerReflectionStub(channel)
            with pytest.raises(grpc.RpcError) as info:
                async for _ in stub.ServerReflectionInfo(
                    iter([reflection_pb2.ServerReflectionRequest(list_services="")])
                ):
                    pass
            assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_production_refuses_placeholder_or_missing_credentials():
    with pytest.raises(ValueError, match="AUTH_TOKEN_GATEWAY"):
        ProfileSettings(_env_file=None, app_env="production")
    with pytest.raises(ValueError, match="placeholder"):
        ProfileSettings(
            _env_file=None,
            app_env="production",
            auth_token_gateway=TOKENS["gateway"],
            auth_token_billing=TOKENS["billing"],
        )


async def test_mtls_requires_a_client_certificate(tmp_path):
    tls = write_dev_tls(tmp_path / "tls")
    server_settings = auth_settings(
        tls_cert_file=str(tls.server_cert), tls_key_file=str(tls.server_key), tls_client_ca_file=str(tls.ca_cert)
    )
    async with run_profile_service(SqliteStore(tmp_path / "p.sqlite3"), server_settings) as running:
        cert, key = tls.client_certs["gateway"]
        with_cert = CommonSettings(
            _env_file=None,
            tls_ca_file=str(tls.ca_cert),
            tls_client_cert_file=str(cert),
            tls_client_key_file=str(key),
            tls_server_name="localhost",
        )
        channel, stub = stub_as(running.target, TOKENS["gateway"], with_cert)
        async with channel:
            created = await stub.CreateProfile(pb.CreateProfileRequest(uid="m", email="m@example.com"), timeout=10)
            assert created.created
        without_cert = CommonSettings(_env_file=None, tls_ca_file=str(tls.ca_cert), tls_server_name="localhost")
        channel, stub = stub_as(running.target, TOKENS["gateway"], without_cert)
        async with channel:
            with pytest.raises(grpc.RpcError) as info:
                await stub.GetProfile(pb.GetProfileRequest(uid="m"), timeout=5)
            assert info.value.code() == grpc.StatusCode.UNAVAILABLE

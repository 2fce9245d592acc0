"""Internal RPCs are closed to anyone but the right service (least privilege), optionally over mTLS."""

from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from pydantic import SecretStr

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
    async with (
        run_profile_service(SqliteStore(tmp_path / "p.sqlite3"), settings) as running,
        grpc.aio.insecure_channel(running.target) as channel,
    ):
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        with pytest.raises(grpc.RpcError) as info:
            async for _ in stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")])):
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


def as_caller(tls, caller: str) -> CommonSettings:
    """Client TLS settings presenting `caller`'s certificate (as devtools/devstack gives each process)."""
    cert, key = tls.client_certs[caller]
    return CommonSettings(
        _env_file=None,
        tls_ca_file=str(tls.ca_cert),
        tls_client_cert_file=str(cert),
        tls_client_key_file=str(key),
        tls_server_name="localhost",
    )


def mtls_server_settings(tls, **extra) -> ProfileSettings:
    return auth_settings(
        tls_cert_file=str(tls.server_cert),
        tls_key_file=str(tls.server_key),
        tls_client_ca_file=str(tls.ca_cert),
        **extra,
    )


async def test_a_token_is_accepted_only_over_its_own_callers_certificate(tmp_path):
    tls = write_dev_tls(tmp_path / "tls")
    async with run_profile_service(SqliteStore(tmp_path / "p.sqlite3"), mtls_server_settings(tls)) as running:
        channel, stub = stub_as(running.target, TOKENS["gateway"], as_caller(tls, "gateway"))
        async with channel:
            assert (await stub.CreateProfile(pb.CreateProfileRequest(uid="victim"), timeout=10)).created
            stolen_channel, stolen = stub_as(running.target, TOKENS["billing"], as_caller(tls, "gateway"))
            async with stolen_channel:
                # Billing may grant, but not with the gateway's certificate: nothing is written.
                async with raises_rpc(grpc.StatusCode.UNAUTHENTICATED, "CREDENTIAL_CERTIFICATE_MISMATCH"):
                    await stolen.GrantTokens(GRANT, timeout=10)
                # Outside billing's rights too, the wrong certificate learns only UNAUTHENTICATED.
                async with raises_rpc(grpc.StatusCode.UNAUTHENTICATED, "CREDENTIAL_CERTIFICATE_MISMATCH"):
                    await stolen.SpendTokens(pb.SpendTokensRequest(uid="victim", amount=1, idempotency_key="s"))
            assert (await stub.GetProfile(pb.GetProfileRequest(uid="victim"), timeout=10)).profile.tokens == 0

        for token_of, cert_of in [("gateway", "backend"), ("backend", "billing")]:
            channel, stub = stub_as(running.target, TOKENS[token_of], as_caller(tls, cert_of))
            async with channel, raises_rpc(grpc.StatusCode.UNAUTHENTICATED, "CREDENTIAL_CERTIFICATE_MISMATCH"):
                await stub.GetProfile(pb.GetProfileRequest(uid="victim"), timeout=10)

        # The rightful owner: billing's token over billing's certificate.
        channel, stub = stub_as(running.target, TOKENS["billing"], as_caller(tls, "billing"))
        async with channel:
            assert (await stub.GrantTokens(GRANT, timeout=10)).balance == 1000


async def test_two_tokens_per_caller_while_rotating(tmp_path):
    """The README's rotation: servers accept AUTH_TOKEN_<CALLER> and AUTH_TOKEN_<CALLER>_NEXT, the caller
    switches to the new token, then the servers drop the old one."""
    tls = write_dev_tls(tmp_path / "tls")
    old, new = TOKENS["billing"], "local-billing-rotated-token"
    store_path = tmp_path / "p.sqlite3"
    billing_cert = as_caller(tls, "billing")

    async def grant(target: str, token: str, key: str) -> int:
        channel, stub = stub_as(target, token, billing_cert)
        async with channel:
            request = pb.GrantTokensRequest(uid="u", amount=1, type=pb.TOKEN_ENTRY_TYPE_PURCHASE, idempotency_key=key)
            return (await stub.GrantTokens(request, timeout=10)).balance

    during = mtls_server_settings(tls, auth_token_billing_next=new)
    async with run_profile_service(SqliteStore(store_path), during) as running:
        channel, stub = stub_as(running.target, TOKENS["gateway"], as_caller(tls, "gateway"))
        async with channel:
            await stub.CreateProfile(pb.CreateProfileRequest(uid="u"), timeout=10)
        assert await grant(running.target, old, "before-switch") == 1
        assert await grant(running.target, new, "after-switch") == 2
        async with raises_rpc(grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED"):
            await grant(running.target, "local-billing-guessed", "never")

    after = mtls_server_settings(tls).model_copy(update={"auth_token_billing": SecretStr(new)})
    async with run_profile_service(SqliteStore(store_path), after) as running:
        async with raises_rpc(grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED"):
            await grant(running.target, old, "old-token-retired")
        assert await grant(running.target, new, "new-token-only") == 3


def test_production_refuses_a_placeholder_next_token():
    real = {"auth_token_gateway": "g-4d8b0c6f2a", "auth_token_billing": "b-9f2c1e7a3d"}
    assert ProfileSettings(_env_file=None, app_env="production", **real).accepted_tokens()["billing"] == (
        "b-9f2c1e7a3d",
    )
    with pytest.raises(ValueError, match="AUTH_TOKEN_BILLING_NEXT"):
        ProfileSettings(_env_file=None, app_env="production", auth_token_billing_next="changeme", **real)

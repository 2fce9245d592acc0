"""The admin caller (python -m profile_service.admin) may make promotional grants and adjustments only, and
holds are for backend callers: the permission table, through the real server with per-caller tokens."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf import duration_pb2
from pydantic import SecretStr

from profile_service import admin
from profile_service.settings import ProfileSettings
from profile_service.store.sqlite_store import SqliteStore
from service_kit.dev_credentials import dev_tokens
from tests.support.grpc_errors import raises_rpc
from tests.support.profile_server import run_profile_service
from tests.support.service_channel import channel_as
from tokens.profile.v1 import profile_service_pb2 as pb
from tokens.profile.v1 import profile_service_pb2_grpc as pb_grpc

TOKENS = dev_tokens()
DENIED = grpc.StatusCode.PERMISSION_DENIED


@pytest.fixture
async def guarded(tmp_path):
    settings = ProfileSettings(_env_file=None, **{f"auth_token_{c}": t for c, t in TOKENS.items()})
    async with run_profile_service(SqliteStore(tmp_path / "p.sqlite3"), settings) as running:
        yield running


def stub_as(target: str, caller: str) -> tuple[grpc.aio.Channel, pb_grpc.ProfileServiceStub]:
    channel = channel_as(target, TOKENS[caller])
    return channel, pb_grpc.ProfileServiceStub(channel)


def args(**overrides) -> argparse.Namespace:
    values = dict(
        uid="u", amount=25, reason="apology for the outage", expires_in=7.0, expires_at=None, key="", adjustment=False
    )
    values.update(overrides)
    return argparse.Namespace(**values)


async def test_admin_tool_grants_an_expiring_promotion_exactly_once(guarded):
    channel, billing = stub_as(guarded.target, "billing")
    async with channel:
        await billing.CreateProfile(pb.CreateProfileRequest(uid="u", email="u@example.com"))
    settings = admin.AdminSettings(
        _env_file=None, profile_target=guarded.target, auth_token_admin=SecretStr(TOKENS["admin"])
    )
    now = datetime.now(UTC)
    request = admin.grant_request(args(key="admin-grant:1"), now)
    first = await admin.grant(settings, request)
    assert (first["balance"], first["already_applied"]) == (25, False)
    assert datetime.fromisoformat(first["expires_at"]) == (now + timedelta(days=7)).replace(microsecond=0)
    # A retry with the printed key and expiry replays.
    retry = admin.grant_request(
        args(key="admin-grant:1", expires_in=None, expires_at=request.expires_at.ToDatetime(UTC)), now
    )
    assert (await admin.grant(settings, retry))["already_applied"]
    channel, backend = stub_as(guarded.target, "backend")
    async with channel:
        got = (await backend.GetProfile(pb.GetProfileRequest(uid="u"))).profile
    assert (got.tokens, got.next_expiry_amount) == (25, 25)


async def test_admin_may_not_grant_purchases_or_call_anything_else(guarded):
    channel, stub = stub_as(guarded.target, "admin")
    async with channel:
        purchase = pb.GrantTokensRequest(uid="u", amount=5, type=pb.TOKEN_ENTRY_TYPE_PURCHASE, idempotency_key="k")
        async with raises_rpc(DENIED, "PERMISSION_DENIED"):
            await stub.GrantTokens(purchase)
        async with raises_rpc(DENIED, "PERMISSION_DENIED"):
            await stub.SpendTokens(pb.SpendTokensRequest(uid="u", amount=1, idempotency_key="s"))
        async with raises_rpc(grpc.StatusCode.INVALID_ARGUMENT, field="type"):
            await stub.AdminGrantTokens(purchase)
    for caller in ("gateway", "billing", "backend"):
        channel, stub = stub_as(guarded.target, caller)
        async with channel, raises_rpc(DENIED, "PERMISSION_DENIED"):
            await stub.AdminGrantTokens(
                pb.GrantTokensRequest(uid="u", amount=5, type=pb.TOKEN_ENTRY_TYPE_PROMOTIONAL, idempotency_key="a")
            )


async def test_holds_are_for_backend_callers(guarded):
    reserve = pb.ReserveTokensRequest(uid="u", amount=1, ttl=duration_pb2.Duration(seconds=60), idempotency_key="r")
    for caller in ("gateway", "billing", "admin"):
        channel, stub = stub_as(guarded.target, caller)
        async with channel:
            async with raises_rpc(DENIED, "PERMISSION_DENIED"):
                await stub.ReserveTokens(reserve)
            async with raises_rpc(DENIED, "PERMISSION_DENIED"):
                await stub.CaptureHold(pb.CaptureHoldRequest(uid="u", hold_id="ab" * 16, amount=1))
            async with raises_rpc(DENIED, "PERMISSION_DENIED"):
                await stub.ReleaseHold(pb.ReleaseHoldRequest(uid="u", hold_id="ab" * 16))
    channel, backend = stub_as(guarded.target, "backend")
    async with channel, raises_rpc(grpc.StatusCode.NOT_FOUND, "PROFILE_NOT_FOUND"):
        await backend.ReserveTokens(reserve)

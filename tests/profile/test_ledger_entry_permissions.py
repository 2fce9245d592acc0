"""GetLedgerEntry and the customer-link replacement are billing's alone (least privilege): a gateway or a
backend worker can neither read another user's ledger entries by key nor swap a Stripe customer."""

from __future__ import annotations

import grpc
import pytest

from profile_service.settings import ProfileSettings
from profile_service.store.sqlite_store import SqliteStore
from service_kit.dev_credentials import dev_tokens
from tests.support.grpc_errors import raises_rpc
from tests.support.profile_server import run_profile_service
from tests.support.service_channel import channel_as
from tokens.profile.v1 import profile_service_pb2 as pb
from tokens.profile.v1 import profile_service_pb2_grpc as pb_grpc

TOKENS = dev_tokens()


@pytest.fixture
async def guarded(tmp_path):
    settings = ProfileSettings(
        _env_file=None,
        auth_token_gateway=TOKENS["gateway"],
        auth_token_billing=TOKENS["billing"],
        auth_token_backend=TOKENS["backend"],
    )
    async with run_profile_service(SqliteStore(tmp_path / "p.sqlite3"), settings) as running:
        yield running


def stub_as(target: str, caller: str) -> tuple[grpc.aio.Channel, pb_grpc.ProfileServiceStub]:
    channel = channel_as(target, TOKENS[caller])
    return channel, pb_grpc.ProfileServiceStub(channel)


async def test_only_billing_reads_ledger_entries_by_key_or_replaces_a_customer(guarded):
    channel, billing = stub_as(guarded.target, "billing")
    async with channel:
        await billing.CreateProfile(pb.CreateProfileRequest(uid="u", email="u@example.com"))
        await billing.GrantTokens(
            pb.GrantTokensRequest(uid="u", amount=5, type=pb.TOKEN_ENTRY_TYPE_PURCHASE, idempotency_key="checkout:cs")
        )
        await billing.LinkStripeCustomer(pb.LinkStripeCustomerRequest(uid="u", customer_id="cus_a"))
        entry = await billing.GetLedgerEntry(pb.GetLedgerEntryRequest(uid="u", idempotency_key="checkout:cs"))
        assert entry.entry.amount == 5
    for caller in ("gateway", "backend"):
        channel, stub = stub_as(guarded.target, caller)
        async with channel:
            async with raises_rpc(grpc.StatusCode.PERMISSION_DENIED, "PERMISSION_DENIED"):
                await stub.GetLedgerEntry(pb.GetLedgerEntryRequest(uid="u", idempotency_key="checkout:cs"))
            async with raises_rpc(grpc.StatusCode.PERMISSION_DENIED, "PERMISSION_DENIED"):
                await stub.LinkStripeCustomer(
                    pb.LinkStripeCustomerRequest(uid="u", customer_id="cus_evil", replaces_customer_id="cus_a")
                )

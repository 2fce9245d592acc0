"""Bad input gets INVALID_ARGUMENT naming the field, and nothing is written."""

from __future__ import annotations

import grpc
import pytest

from tests.support.grpc_errors import raises_rpc
from tokens.profile.v1 import profile_service_pb2 as pb

UID = "bad-input-user"
OK_GRANT = dict(uid=UID, amount=5, type=pb.TOKEN_ENTRY_TYPE_PURCHASE, idempotency_key="k")

CASES = [
    ("GrantTokens", pb.GrantTokensRequest(**{**OK_GRANT, "uid": ""}), "uid"),
    ("GrantTokens", pb.GrantTokensRequest(**{**OK_GRANT, "uid": "u" * 129}), "uid"),
    ("GrantTokens", pb.GrantTokensRequest(**{**OK_GRANT, "uid": "a/b"}), "uid"),
    ("GrantTokens", pb.GrantTokensRequest(**{**OK_GRANT, "idempotency_key": ""}), "idempotency_key"),
    ("GrantTokens", pb.GrantTokensRequest(**{**OK_GRANT, "idempotency_key": "k" * 256}), "idempotency_key"),
    ("GrantTokens", pb.GrantTokensRequest(**{**OK_GRANT, "amount": 0}), "amount"),
    ("GrantTokens", pb.GrantTokensRequest(**{**OK_GRANT, "amount": -5}), "amount"),
    ("GrantTokens", pb.GrantTokensRequest(**{**OK_GRANT, "amount": 1_000_001}), "amount"),
    ("GrantTokens", pb.GrantTokensRequest(**{**OK_GRANT, "amount": 2**63 - 1}), "amount"),
    ("GrantTokens", pb.GrantTokensRequest(**{**OK_GRANT, "type": 0}), "type"),
    ("GrantTokens", pb.GrantTokensRequest(**{**OK_GRANT, "type": 99}), "type"),
    ("GrantTokens", pb.GrantTokensRequest(**{**OK_GRANT, "type": pb.TOKEN_ENTRY_TYPE_SPEND}), "type"),
    ("GrantTokens", pb.GrantTokensRequest(**OK_GRANT, source={f"k{i}": "v" for i in range(17)}), "source"),
    ("SpendTokens", pb.SpendTokensRequest(uid=UID, amount=0, idempotency_key="s"), "amount"),
    ("SpendTokens", pb.SpendTokensRequest(uid=UID, amount=1, idempotency_key=""), "idempotency_key"),
    ("SpendTokens", pb.SpendTokensRequest(uid=UID, amount=1, idempotency_key="s", reason="r" * 501), "reason"),
    ("RevokeTokens", pb.RevokeTokensRequest(uid=UID, amount=-1, idempotency_key="r"), "amount"),
    ("ListTokenHistory", pb.ListTokenHistoryRequest(uid=UID, page_size=101), "page_size"),
    ("ListTokenHistory", pb.ListTokenHistoryRequest(uid=UID, page_size=-1), "page_size"),
    ("ListTokenHistory", pb.ListTokenHistoryRequest(uid=UID, page_token="garbage!!"), "page_token"),
    ("ListTokenHistory", pb.ListTokenHistoryRequest(uid=UID, page_token="eyJ2IjoxfQ"), "page_token"),
    ("CreateProfile", pb.CreateProfileRequest(uid="", email="a@b.c"), "uid"),
    ("CreateProfile", pb.CreateProfileRequest(uid="x", email="not-an-email"), "email"),
    ("LinkStripeCustomer", pb.LinkStripeCustomerRequest(uid=UID, customer_id=""), "customer_id"),
    ("SetEntitlements", pb.SetEntitlementsRequest(uid=UID, has_access=True), "source_event_time"),
    ("UpdateProfile", pb.UpdateProfileRequest(profile=pb.UserProfile(uid=UID)), "update_mask"),
]


@pytest.mark.parametrize("method,request_msg,field", CASES, ids=[f"{m}-{f}-{i}" for i, (m, _, f) in enumerate(CASES)])
async def test_bad_input_is_invalid_argument_and_writes_nothing(sqlite_profile, method, request_msg, field):
    stub = sqlite_profile.stub
    await stub.CreateProfile(pb.CreateProfileRequest(uid=UID, email="a@example.com"))
    await stub.GrantTokens(
        pb.GrantTokensRequest(uid=UID, amount=2, type=pb.TOKEN_ENTRY_TYPE_PROMOTIONAL, idempotency_key="seed")
    )
    before = await stub.GetProfile(pb.GetProfileRequest(uid=UID))
    async with raises_rpc(grpc.StatusCode.INVALID_ARGUMENT, field=field) as raised:
        await getattr(stub, method)(request_msg)
    assert field.split(".")[0] in raised.details.message
    after = await stub.GetProfile(pb.GetProfileRequest(uid=UID))
    assert after == before
    entries = (await stub.ListTokenHistory(pb.ListTokenHistoryRequest(uid=UID))).entries
    assert len(entries) == 1


async def test_undecodable_request_is_invalid_argument(sqlite_profile):
    raw = sqlite_profile.channel.unary_unary(
        "/tokens.profile.v1.ProfileService/GrantTokens",
        request_serializer=lambda b: b,
        response_deserializer=lambda b: b,
    )
    # Field 1 (uid) with invalid UTF-8: protobuf refuses to parse it.
    async with raises_rpc(grpc.StatusCode.INVALID_ARGUMENT, "MALFORMED_REQUEST"):
        await raw(b"\x0a\x02\xff\xfe")


async def test_error_for_huge_input_stays_within_trailer_limits(sqlite_profile):
    """An unknown 50,000-character mask path must still come back as INVALID_ARGUMENT, not as
    RESOURCE_EXHAUSTED from an oversized error trailer."""
    from google.protobuf import field_mask_pb2

    async with raises_rpc(grpc.StatusCode.INVALID_ARGUMENT, "UNKNOWN_FIELD", "update_mask") as raised:
        await sqlite_profile.stub.UpdateProfile(
            pb.UpdateProfileRequest(
                profile=pb.UserProfile(uid=UID), update_mask=field_mask_pb2.FieldMask(paths=["x" * 50_000])
            )
        )
    assert len(raised.details.message) <= 500

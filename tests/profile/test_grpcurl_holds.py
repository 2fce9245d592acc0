"""The real grpcurl, through reflection, sees the hold RPCs and the new fields, and runs the README's
reserve-capture session and an expiring promotional grant."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.profile.test_grpcurl import GRPCURL, grpcurl
from tokens.profile.v1 import profile_service_pb2 as pb

SERVICE = "tokens.profile.v1.ProfileService"


@pytest.mark.skipif(GRPCURL is None, reason="grpcurl binary not installed (make install provides it)")
async def test_grpcurl_reserve_capture_and_expiring_promotion(sqlite_profile, uid):
    target = sqlite_profile.target
    await sqlite_profile.stub.CreateProfile(pb.CreateProfileRequest(uid=uid, email="g@example.com"))
    methods = await grpcurl(target, "list", SERVICE)
    for rpc in ("ReserveTokens", "CaptureHold", "ReleaseHold", "AdminGrantTokens"):
        assert f"{SERVICE}.{rpc}" in methods
    described = await grpcurl(target, "describe", "tokens.profile.v1.UserProfile")
    for field in ("available_tokens", "held_tokens", "next_expiry_amount", "next_expiry_time"):
        assert field in described

    async def call(method: str, body: dict) -> dict:
        return json.loads(await grpcurl("-d", json.dumps(body), target, f"{SERVICE}/{method}"))

    expires = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    await call(
        "AdminGrantTokens",
        {
            "uid": uid,
            "amount": 20,
            "type": "TOKEN_ENTRY_TYPE_PROMOTIONAL",
            "idempotency_key": "promo",
            "expires_at": expires,
        },
    )
    await call(
        "GrantTokens", {"uid": uid, "amount": 100, "type": "TOKEN_ENTRY_TYPE_PURCHASE", "idempotency_key": "buy"}
    )
    hold = await call("ReserveTokens", {"uid": uid, "amount": 50, "ttl": "600s", "idempotency_key": "job-7"})
    profile = (await call("GetProfile", {"uid": uid}))["profile"]
    assert (profile["tokens"], profile["held_tokens"], profile["available_tokens"]) == ("120", "50", "70")
    assert (profile["next_expiry_amount"], profile["next_expiry_time"]) == ("20", expires)
    captured = await call(
        "CaptureHold", {"uid": uid, "hold_id": hold["hold_id"], "amount": 37, "overage": "OVERAGE_CAP"}
    )
    assert (captured["captured"], captured["released"], captured["balance"]) == ("37", "13", "83")
    assert captured["entry"]["allocations"][0]["amount"] == "20"  # the expiring promotion first

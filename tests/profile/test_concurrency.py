"""Real concurrency through the gRPC server: many calls in flight at once on one channel, on every store
(Firestore: Google's emulator, which isolates transactions with locks). Every call gets a generous deadline, so
a store that crawls under contention fails here instead of hanging the run."""

from __future__ import annotations

import asyncio

import grpc

from profile_service.audit import run_audit
from service_kit.rich_errors import details_of
from tokens.profile.v1 import profile_service_pb2 as pb

DEADLINE_S = 60  # generous: with one writer per user the whole test takes seconds


async def test_200_concurrent_grants_with_one_key_make_one_entry(profile, uid):
    await profile.stub.CreateProfile(pb.CreateProfileRequest(uid=uid, email="c@example.com"))
    request = pb.GrantTokensRequest(
        uid=uid, amount=5, type=pb.TOKEN_ENTRY_TYPE_PURCHASE, idempotency_key="checkout:cs_same"
    )
    results = await asyncio.gather(*(profile.stub.GrantTokens(request, timeout=DEADLINE_S) for _ in range(200)))
    assert sum(not r.already_applied for r in results) == 1
    assert {r.entry.entry_id for r in results} == {results[0].entry.entry_id}
    assert {r.balance for r in results} == {5}
    listed = await profile.stub.ListTokenHistory(pb.ListTokenHistoryRequest(uid=uid, page_size=100))
    assert len(listed.entries) == 1
    assert (await profile.stub.GetProfile(pb.GetProfileRequest(uid=uid))).profile.tokens == 5


async def test_1000_concurrent_spends_against_500_leave_zero(profile, uid):
    await profile.stub.CreateProfile(pb.CreateProfileRequest(uid=uid, email="c@example.com"))
    await profile.stub.GrantTokens(
        pb.GrantTokensRequest(uid=uid, amount=500, type=pb.TOKEN_ENTRY_TYPE_PROMOTIONAL, idempotency_key="seed")
    )

    async def spend(i: int) -> str:
        try:
            await profile.stub.SpendTokens(
                pb.SpendTokensRequest(uid=uid, amount=1, idempotency_key=f"spend-{i}"), timeout=DEADLINE_S
            )
            return "ok"
        except grpc.aio.AioRpcError as exc:
            return details_of(exc).reason or exc.code().name

    outcomes = await asyncio.gather(*(spend(i) for i in range(1000)))
    counts = {outcome: outcomes.count(outcome) for outcome in set(outcomes)}
    assert counts == {"ok": 500, "INSUFFICIENT_TOKENS": 500}
    assert (await profile.stub.GetProfile(pb.GetProfileRequest(uid=uid))).profile.tokens == 0
    assert await run_audit(profile.store) == 0

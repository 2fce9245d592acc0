"""Grants, expiry, allowances and holds through the real gRPC server, on every store (SQLite and Firestore on
Google's emulator), with the store's clock under the test's control."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf import duration_pb2, timestamp_pb2

from profile_service.audit import run_audit
from profile_service.domain.keys import entry_id_for, expiry_key, hold_settle_key, rollover_key
from profile_service.settings import ProfileSettings
from profile_service.sweep import sweep
from service_kit.rich_errors import details_of
from tests.support.grpc_errors import raises_rpc
from tests.support.profile_server import run_profile_service
from tests.unit.profile.clock import FakeClock
from tokens.profile.v1 import profile_service_pb2 as pb

FAILED = grpc.StatusCode.FAILED_PRECONDITION
INVALID = grpc.StatusCode.INVALID_ARGUMENT
DEADLINE_S = 60


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
async def svc(make_store, clock):
    store = make_store()
    store.clock = clock
    async with run_profile_service(store) as running:
        yield running


def ts(value: datetime) -> timestamp_pb2.Timestamp:
    out = timestamp_pb2.Timestamp()
    out.FromDatetime(value)
    return out


def seconds(n: float) -> duration_pb2.Duration:
    return duration_pb2.Duration(seconds=int(n))


async def create(svc, uid):
    await svc.stub.CreateProfile(pb.CreateProfileRequest(uid=uid, email="g@example.com"))


async def grant(svc, uid, amount, key, type_=pb.TOKEN_ENTRY_TYPE_PURCHASE, **fields):
    return await svc.stub.GrantTokens(
        pb.GrantTokensRequest(uid=uid, amount=amount, type=type_, idempotency_key=key, **fields)
    )


async def spend(svc, uid, amount, key):
    return await svc.stub.SpendTokens(pb.SpendTokensRequest(uid=uid, amount=amount, idempotency_key=key))


async def get(svc, uid) -> pb.UserProfile:
    return (await svc.stub.GetProfile(pb.GetProfileRequest(uid=uid))).profile


async def entries(svc, uid) -> list[pb.TokenTransaction]:
    return list((await svc.stub.ListTokenHistory(pb.ListTokenHistoryRequest(uid=uid, page_size=100))).entries)


async def reserve(svc, uid, amount, key, ttl_s=60):
    return await svc.stub.ReserveTokens(
        pb.ReserveTokensRequest(uid=uid, amount=amount, ttl=seconds(ttl_s), idempotency_key=key, reason="job")
    )


async def capture(svc, uid, hold_id, amount, overage=pb.OVERAGE_REJECT):
    return await svc.stub.CaptureHold(
        pb.CaptureHoldRequest(uid=uid, hold_id=hold_id, amount=amount, overage=overage), timeout=DEADLINE_S
    )


async def release(svc, uid, hold_id):
    return await svc.stub.ReleaseHold(pb.ReleaseHoldRequest(uid=uid, hold_id=hold_id))


async def test_promotional_grant_expiring_in_seconds_is_spent_first_then_expires_exactly_once(svc, uid, clock):
    await create(svc, uid)
    await grant(svc, uid, 10, "checkout:cs_1")
    promo = await grant(
        svc, uid, 5, "promo", pb.TOKEN_ENTRY_TYPE_PROMOTIONAL, expires_at=ts(clock() + timedelta(seconds=3))
    )
    got = await get(svc, uid)
    assert (got.tokens, got.available_tokens, got.next_expiry_amount) == (15, 15, 5)
    assert got.next_expiry_time.ToDatetime(UTC) == clock() + timedelta(seconds=3)
    spent = await spend(svc, uid, 2, "s1")
    assert [(a.grant_id, a.amount) for a in spent.entry.allocations] == [(promo.entry.entry_id, 2)]

    clock.advance(seconds=3)
    got = await get(svc, uid)  # as of now, before anything was written
    assert (got.tokens, got.available_tokens, got.next_expiry_amount) == (10, 10, 0)
    assert not got.HasField("next_expiry_time")
    assert await run_audit(svc.store) == 0  # the stored balance still equals its entries
    async with raises_rpc(FAILED, "INSUFFICIENT_TOKENS", "amount"):
        await spend(svc, uid, 11, "s2")

    report = await sweep(svc.store)
    assert (report.users, report.entries) == (1, 1)
    assert (await sweep(svc.store)).entries == 0
    await spend(svc, uid, 1, "s3")
    expiries = [e for e in await entries(svc, uid) if e.type == pb.TOKEN_ENTRY_TYPE_EXPIRY]
    assert len(expiries) == 1
    assert (expiries[0].amount, expiries[0].idempotency_key) == (-3, expiry_key(promo.entry.entry_id))
    assert (await get(svc, uid)).tokens == 9
    assert sum(e.amount for e in await entries(svc, uid)) == 9
    assert await run_audit(svc.store) == 0


async def test_the_first_write_after_an_expiry_writes_it(svc, uid, clock):
    await create(svc, uid)
    await grant(svc, uid, 4, "promo", pb.TOKEN_ENTRY_TYPE_PROMOTIONAL, expires_at=ts(clock() + timedelta(minutes=1)))
    await grant(svc, uid, 6, "paid")
    clock.advance(minutes=1)
    spent = await spend(svc, uid, 6, "s")
    assert spent.balance == 0
    listed = await entries(svc, uid)
    assert [e.type for e in listed[:2]] == [pb.TOKEN_ENTRY_TYPE_SPEND, pb.TOKEN_ENTRY_TYPE_EXPIRY]
    assert (await sweep(svc.store)).entries == 0


async def test_allowance_renewal_keeps_bought_tokens_and_rolls_over_at_most_rollover_max(svc, uid, clock):
    await create(svc, uid)
    start = clock()
    pack = await grant(svc, uid, 50, "checkout:cs_pack")
    period = timedelta(days=30)

    async def allowance(key, begins):
        return await grant(
            svc,
            uid,
            100,
            key,
            pb.TOKEN_ENTRY_TYPE_ALLOWANCE,
            category=pb.GRANT_CATEGORY_ALLOWANCE,
            effective_at=ts(begins),
            expires_at=ts(begins + period),
            rollover_max=30,
        )

    first = await allowance("invoice:in_1", start)
    spent = await spend(svc, uid, 40, "s1")
    assert [a.grant_id for a in spent.entry.allocations] == [first.entry.entry_id]  # allowance before the pack
    clock.advance(days=30)
    await allowance("invoice:in_2", start + period)
    got = await get(svc, uid)
    assert got.tokens == 50 + 30 + 100
    by_key = {e.idempotency_key: e for e in await entries(svc, uid)}
    assert by_key[expiry_key(first.entry.entry_id)].amount == -60
    rolled = by_key[rollover_key(first.entry.entry_id)]
    assert (rolled.amount, rolled.type) == (30, pb.TOKEN_ENTRY_TYPE_ALLOWANCE)
    assert rolled.expires_at.ToDatetime(UTC) == start + 2 * period
    spent = await spend(svc, uid, 130, "s2")  # the allowances go first: the bought pack is untouched
    assert pack.entry.entry_id not in [a.grant_id for a in spent.entry.allocations]
    assert (await get(svc, uid)).tokens == 50
    assert await run_audit(svc.store) == 0


async def test_200_concurrent_reserves_against_a_balance_covering_100_leave_exactly_100_holds(svc, uid):
    await create(svc, uid)
    await grant(svc, uid, 100, "seed")

    async def one(i: int) -> str:
        try:
            await svc.stub.ReserveTokens(
                pb.ReserveTokensRequest(uid=uid, amount=1, ttl=seconds(600), idempotency_key=f"job-{i}"),
                timeout=DEADLINE_S,
            )
            return "ok"
        except grpc.aio.AioRpcError as exc:
            return details_of(exc).reason or exc.code().name

    outcomes = await asyncio.gather(*(one(i) for i in range(200)))
    assert {o: outcomes.count(o) for o in set(outcomes)} == {"ok": 100, "INSUFFICIENT_TOKENS": 100}
    got = await get(svc, uid)
    assert (got.tokens, got.held_tokens, got.available_tokens) == (100, 100, 0)
    holds = [e for e in await entries(svc, uid) if e.type == pb.TOKEN_ENTRY_TYPE_HOLD]
    assert len(holds) == 100 and len({e.hold_id for e in holds}) == 100
    async with raises_rpc(FAILED, "INSUFFICIENT_TOKENS"):
        await spend(svc, uid, 1, "spend")
    assert await run_audit(svc.store) == 0


async def test_capture_release_and_expiry_each_settle_a_hold_once(svc, uid, clock):
    await create(svc, uid)
    await grant(svc, uid, 100, "seed")
    a = await reserve(svc, uid, 10, "a")
    b = await reserve(svc, uid, 10, "b")
    c = await reserve(svc, uid, 10, "c", ttl_s=30)
    assert (a.amount, a.available_tokens, a.expires_at.ToDatetime(UTC)) == (10, 90, clock() + timedelta(seconds=60))
    again = await reserve(svc, uid, 10, "a")
    assert again.already_applied and again.hold_id == a.hold_id

    # Capture: concurrent repeats settle once.
    captures = await asyncio.gather(*(capture(svc, uid, a.hold_id, 7) for _ in range(5)))
    assert sum(not r.already_applied for r in captures) == 1
    assert {(r.captured, r.released, r.entry.entry_id) for r in captures} == {(7, 3, captures[0].entry.entry_id)}
    async with raises_rpc(FAILED, "HOLD_ALREADY_SETTLED", "hold_id"):
        await capture(svc, uid, a.hold_id, 8)
    async with raises_rpc(FAILED, "HOLD_ALREADY_SETTLED"):
        await release(svc, uid, a.hold_id)

    # Release: once; a capture after it is refused.
    first = await release(svc, uid, b.hold_id)
    assert (first.released, first.already_applied) == (10, False)
    assert (await release(svc, uid, b.hold_id)).already_applied
    async with raises_rpc(FAILED, "HOLD_ALREADY_SETTLED"):
        await capture(svc, uid, b.hold_id, 1)

    # Expiry: never capturable after it, even before the sweeper; released once.
    clock.advance(seconds=30)
    assert (await get(svc, uid)).held_tokens == 0
    async with raises_rpc(FAILED, "HOLD_EXPIRED"):
        await capture(svc, uid, c.hold_id, 1)
    assert (await sweep(svc.store)).entries == 1
    async with raises_rpc(FAILED, "HOLD_EXPIRED"):
        await capture(svc, uid, c.hold_id, 1)
    assert (await release(svc, uid, c.hold_id)).already_applied
    assert (await sweep(svc.store)).entries == 0

    listed = await entries(svc, uid)
    for hold in (a, b, c):
        settled = [e for e in listed if e.idempotency_key == hold_settle_key(hold.hold_id)]
        assert len(settled) == 1
    got = await get(svc, uid)
    assert (got.tokens, got.held_tokens, got.available_tokens) == (93, 0, 93)
    assert await run_audit(svc.store) == 0


async def test_overage_reject_changes_nothing_and_cap_takes_what_is_available(svc, uid):
    await create(svc, uid)
    await grant(svc, uid, 20, "seed")
    hold = await reserve(svc, uid, 5, "job")
    async with raises_rpc(FAILED, "HOLD_AMOUNT_EXCEEDED", "amount"):
        await capture(svc, uid, hold.hold_id, 30)
    assert (await get(svc, uid)).held_tokens == 5
    capped = await capture(svc, uid, hold.hold_id, 30, pb.OVERAGE_CAP)
    assert (capped.captured, capped.released, capped.balance, capped.entry.amount) == (20, 0, 0, -20)
    got = await get(svc, uid)
    assert (got.tokens, got.held_tokens) == (0, 0)


async def test_refund_takes_first_from_the_grant_its_purchase_created(svc, uid, clock):
    await create(svc, uid)
    a = await grant(svc, uid, 10, "checkout:cs_a")
    # Same terms as cs_a: joins its grant, and the entry names the grant it joined.
    b = await grant(svc, uid, 10, "checkout:cs_b")
    assert [(x.grant_id, x.amount) for x in b.entry.allocations] == [(a.entry.entry_id, 10)]
    # Its own grant (an expiry), and promotional tokens that the spending order would take first.
    c = await grant(svc, uid, 10, "checkout:cs_c", expires_at=ts(clock() + timedelta(days=365)))
    await grant(svc, uid, 10, "promo", pb.TOKEN_ENTRY_TYPE_PROMOTIONAL)

    async def refund(key: str, purchase: str) -> list[tuple[str, int]]:
        revoked = await svc.stub.RevokeTokens(
            pb.RevokeTokensRequest(uid=uid, amount=4, idempotency_key=key, grant_idempotency_key=purchase)
        )
        return [(x.grant_id, x.amount) for x in revoked.entry.allocations]

    assert await refund("refund:re_1", "checkout:cs_b") == [(a.entry.entry_id, 4)]
    assert await refund("refund:re_2", "checkout:cs_c") == [(c.entry.entry_id, 4)]
    assert c.entry.entry_id == entry_id_for(uid, "checkout:cs_c")


async def test_bad_grant_and_hold_input_is_refused_naming_the_field(svc, uid, clock):
    await create(svc, uid)
    await grant(svc, uid, 10, "seed")
    later = ts(clock() + timedelta(days=1))
    cases = [
        ("priority", dict(priority=101)),
        ("effective_at", dict(effective_at=ts(clock() + timedelta(hours=1)))),
        ("expires_at", dict(effective_at=ts(clock()), expires_at=ts(clock() - timedelta(seconds=1)))),
        ("rollover_max", dict(rollover_max=5, expires_at=later)),
        ("category", dict(category=99)),
    ]
    for field, fields in cases:
        async with raises_rpc(INVALID, field=field):
            await grant(svc, uid, 1, f"bad-{field}", **fields)
    for ttl in (None, seconds(0), seconds(24 * 3600 + 1), duration_pb2.Duration(seconds=(1 << 63) - 1)):
        async with raises_rpc(INVALID, field="ttl"):
            await svc.stub.ReserveTokens(pb.ReserveTokensRequest(uid=uid, amount=1, ttl=ttl, idempotency_key="r"))
    async with raises_rpc(INVALID, field="hold_id"):
        await capture(svc, uid, "not-a-hold", 1)
    async with raises_rpc(grpc.StatusCode.NOT_FOUND, "HOLD_NOT_FOUND", "hold_id"):
        await capture(svc, uid, "ab" * 16, 1)
    async with raises_rpc(INVALID, field="amount"):
        await capture(svc, uid, "ab" * 16, -1)
    assert len(await entries(svc, uid)) == 1


async def test_admin_grants_are_promotional_or_adjustments_only(svc, uid):
    await create(svc, uid)
    async with raises_rpc(INVALID, field="type"):
        await svc.stub.AdminGrantTokens(
            pb.GrantTokensRequest(uid=uid, amount=5, type=pb.TOKEN_ENTRY_TYPE_PURCHASE, idempotency_key="a")
        )
    async with raises_rpc(INVALID, field="category"):
        await svc.stub.AdminGrantTokens(
            pb.GrantTokensRequest(
                uid=uid,
                amount=5,
                type=pb.TOKEN_ENTRY_TYPE_PROMOTIONAL,
                category=pb.GRANT_CATEGORY_PAID,
                idempotency_key="a",
            )
        )
    done = await svc.stub.AdminGrantTokens(
        pb.GrantTokensRequest(uid=uid, amount=5, type=pb.TOKEN_ENTRY_TYPE_PROMOTIONAL, idempotency_key="a")
    )
    assert done.balance == 5


async def test_signup_bonus_is_granted_once_at_creation(make_store, uid):
    settings = ProfileSettings(_env_file=None, signup_bonus_tokens=25, signup_bonus_ttl_days=7)
    async with run_profile_service(make_store(), settings) as running:
        first = await running.stub.CreateProfile(pb.CreateProfileRequest(uid=uid, email="b@example.com"))
        assert first.created and first.profile.tokens == 25 and first.profile.next_expiry_amount == 25
        again = await running.stub.CreateProfile(pb.CreateProfileRequest(uid=uid, email="b@example.com"))
        assert not again.created and again.profile.tokens == 25
        listed = (await running.stub.ListTokenHistory(pb.ListTokenHistoryRequest(uid=uid))).entries
        assert [(e.idempotency_key, e.amount, e.type) for e in listed] == [
            ("signup-bonus", 25, pb.TOKEN_ENTRY_TYPE_PROMOTIONAL)
        ]


async def test_audit_flags_holds_or_grants_beyond_the_balance(tmp_path, uid):
    import io
    import json
    import sqlite3

    from profile_service.store.sqlite_store import SqliteStore

    db = tmp_path / "audit.sqlite3"
    async with run_profile_service(SqliteStore(db)) as running:
        await create(running, uid)
        await grant(running, uid, 10, "seed")
        await reserve(running, uid, 4, "job")
        assert await run_audit(running.store) == 0
        with sqlite3.connect(db) as conn:
            [(holds,)] = conn.execute("SELECT holds FROM users WHERE uid = ?", (uid,)).fetchall()
            bad = [{**h, "amount": 11} for h in json.loads(holds)]
            conn.execute("UPDATE users SET holds = ? WHERE uid = ?", (json.dumps(bad), uid))
        out = io.StringIO()
        assert await run_audit(running.store, out) == 1
        assert '"held": 11' in out.getvalue()

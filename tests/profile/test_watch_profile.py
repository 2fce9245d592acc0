"""WatchProfile on both stores: the profile on subscribe, then again on every change, whichever replica made it
(a second profile service on the same SQLite file or Firestore project)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import grpc
import pytest
from google.protobuf import timestamp_pb2

from profile_service.settings import ProfileSettings
from profile_service.store.base import ProfileStore
from tests.support.profile_server import RunningProfile, run_profile_service
from tokens.profile.v1 import profile_service_pb2 as pb

WAIT_S = 10.0  # a bound, not a speed claim: the listener or in-process notification is far faster


def _grant(uid: str, amount: int, key: str) -> pb.GrantTokensRequest:
    return pb.GrantTokensRequest(uid=uid, amount=amount, type=pb.TOKEN_ENTRY_TYPE_PURCHASE, idempotency_key=key)


class Watcher:
    """Reads a WatchProfile stream in the background into a queue."""

    def __init__(self, call: grpc.aio.UnaryStreamCall) -> None:
        self.call = call
        self.profiles: asyncio.Queue[pb.UserProfile] = asyncio.Queue()
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for reply in self.call:
            await self.profiles.put(reply.profile)

    async def next(self) -> pb.UserProfile:
        return await asyncio.wait_for(self.profiles.get(), WAIT_S)

    async def until(self, predicate) -> pb.UserProfile:
        while True:
            profile = await self.next()
            if predicate(profile):
                return profile


@contextlib.asynccontextmanager
async def watching(profile: RunningProfile, uid: str) -> AsyncIterator[Watcher]:
    watcher = Watcher(profile.stub.WatchProfile(pb.WatchProfileRequest(uid=uid)))
    try:
        yield watcher
    finally:
        watcher.call.cancel()
        with contextlib.suppress(asyncio.CancelledError, grpc.RpcError):
            await watcher.task


def _second_store(store: ProfileStore, tmp_path) -> ProfileStore:
    """Another process's view of the same data: the same SQLite file or the same Firestore project."""
    from profile_service.store.sqlite_store import SqliteStore

    if isinstance(store, SqliteStore):
        return SqliteStore(tmp_path / "profile.sqlite3")  # make_store's file
    from profile_service.store.firestore_store import FirestoreStore

    assert isinstance(store, FirestoreStore)
    return FirestoreStore(project=store.project)


async def test_sends_the_profile_then_every_change(profile: RunningProfile, uid: str) -> None:
    await profile.stub.CreateProfile(pb.CreateProfileRequest(uid=uid, email="w@example.com"))
    async with watching(profile, uid) as watcher:
        first = await watcher.next()
        assert (first.uid, first.tokens, first.has_access) == (uid, 0, False)

        await profile.stub.GrantTokens(_grant(uid, 5, "k1"))
        assert (await watcher.next()).tokens == 5

        await profile.stub.SetEntitlements(
            pb.SetEntitlementsRequest(
                uid=uid,
                has_access=True,
                subscription_status="active",
                source_event_time=timestamp_pb2.Timestamp(seconds=1_700_000_000),
            )
        )
        changed = await watcher.next()
        assert changed.has_access and changed.subscription_status == "active" and changed.tokens == 5

        # A replay changes nothing, so nothing is sent; the next real change is.
        await profile.stub.GrantTokens(_grant(uid, 5, "k1"))
        await profile.stub.GrantTokens(_grant(uid, 2, "k2"))
        assert (await watcher.next()).tokens == 7


async def test_unknown_and_invalid_users_are_refused(profile: RunningProfile, uid: str) -> None:
    with pytest.raises(grpc.RpcError) as missing:
        async for _ in profile.stub.WatchProfile(pb.WatchProfileRequest(uid=uid), timeout=WAIT_S):
            pass
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as invalid:
        async for _ in profile.stub.WatchProfile(pb.WatchProfileRequest(uid="a/b"), timeout=WAIT_S):
            pass
    assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_a_change_made_by_another_replica_reaches_the_watcher(
    backend: str, make_store, tmp_path, uid: str
) -> None:
    # SQLite: the other process is seen by the poll (set short here). Firestore: by the listener, so the poll
    # is set far beyond the bound the test waits.
    poll_s = 0.2 if backend == "sqlite" else 600.0
    store = make_store()
    async with (
        run_profile_service(store, ProfileSettings(_env_file=None, profile_watch_poll_s=poll_s)) as first,
        run_profile_service(_second_store(store, tmp_path)) as second,
    ):
        await first.stub.CreateProfile(pb.CreateProfileRequest(uid=uid, email="r@example.com"))
        async with watching(first, uid) as watcher:
            assert (await watcher.next()).tokens == 0
            await second.stub.GrantTokens(_grant(uid, 3, "elsewhere"))
            seen = await watcher.until(lambda p: p.tokens == 3)
            assert seen.tokens == 3


async def test_watchers_of_one_user_share_and_release_the_subscription(profile: RunningProfile, uid: str) -> None:
    await profile.stub.CreateProfile(pb.CreateProfileRequest(uid=uid, email="s@example.com"))
    async with watching(profile, uid) as one, watching(profile, uid) as two:
        await one.next()
        await two.next()
        await profile.stub.GrantTokens(_grant(uid, 1, "both"))
        assert (await one.next()).tokens == 1 and (await two.next()).tokens == 1


async def test_only_the_gateway_may_watch(tmp_path, uid: str) -> None:
    from profile_service.store.sqlite_store import SqliteStore
    from service_kit.channels import auth_metadata
    from service_kit.dev_credentials import dev_tokens

    tokens = dev_tokens()
    settings = ProfileSettings(
        _env_file=None,
        auth_token_gateway=tokens["gateway"],
        auth_token_billing=tokens["billing"],
        auth_token_backend=tokens["backend"],
    )
    async with run_profile_service(SqliteStore(tmp_path / "guarded.sqlite3"), settings) as guarded:
        stub, request = guarded.stub, pb.WatchProfileRequest(uid=uid)
        await stub.CreateProfile(
            pb.CreateProfileRequest(uid=uid, email="g@example.com"), metadata=auth_metadata(tokens["gateway"])
        )
        call = stub.WatchProfile(request, metadata=auth_metadata(tokens["gateway"]))
        assert (await asyncio.wait_for(call.read(), WAIT_S)).profile.uid == uid
        call.cancel()
        for caller in ("billing", "backend"):
            with pytest.raises(grpc.RpcError) as denied:
                async for _ in stub.WatchProfile(request, timeout=WAIT_S, metadata=auth_metadata(tokens[caller])):
                    pass
            assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED, caller

"""Scenario 1: SIGKILL the profile service (a real subprocess, on SQLite and on Firestore through Google's
emulator) under concurrent GrantTokens with unique keys, restart it, retry every call that was not acknowledged
with the same key. Every key is then applied exactly once, nothing acknowledged is lost, and the audit passes.
Several rounds (ROUNDS), each killed at a random moment."""

from __future__ import annotations

import asyncio
import random
import time

import grpc
import pytest

from profile_service.audit import run_audit
from profile_service.store.sqlite_store import SqliteStore
from tests.reliability.report import ScenarioResult, record
from tests.support.firestore_emulator import firestore_endpoint, fresh_project_id
from tests.support.processes import ServiceProcess, free_port, profile_process, service_env
from tokens.profile.v1 import profile_service_pb2 as pb
from tokens.profile.v1 import profile_service_pb2_grpc as pb_grpc

# Firestore: the killed process leaves transactions open, and their locks on the user documents hold until the
# emulator expires them (about 60 s): each round then waits that long, so fewer rounds there.
ROUNDS = {"sqlite": 5, "firestore": 2}
# The caller's retry after a restart: retryable statuses are retried with the same key within this budget.
RETRY_BUDGET_S = 150.0
RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}
GRANTS_PER_ROUND = 300
USERS = 5


def grant_request(round_no: int, i: int) -> pb.GrantTokensRequest:
    return pb.GrantTokensRequest(
        uid=f"user-{i % USERS}",
        amount=1 + i % 7,
        type=pb.TOKEN_ENTRY_TYPE_PROMOTIONAL,
        idempotency_key=f"round-{round_no}-grant-{i}",
    )


@pytest.fixture(scope="session")
def firestore_host():
    with firestore_endpoint() as host:
        yield host


@pytest.fixture(params=["sqlite", "firestore"])
def store_under_test(request, tmp_path, monkeypatch):
    """(service process, the store to check afterwards) for each backend."""
    if request.param == "sqlite":
        db = tmp_path / "profile.sqlite3"
        return request.param, profile_process(db, tmp_path / "profile.log"), lambda: SqliteStore(db)
    from profile_service.store.firestore_store import FirestoreStore

    host = request.getfixturevalue("firestore_host")
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", host)  # for the checking store, opened in the test
    project = fresh_project_id("kill")
    port = free_port()
    env = service_env(
        PROFILE_LISTEN=f"127.0.0.1:{port}",
        PROFILE_STORE="firestore",
        GOOGLE_CLOUD_PROJECT=project,
        FIRESTORE_EMULATOR_HOST=host,
    )
    service = ServiceProcess("profile_service", env, f"127.0.0.1:{port}", tmp_path / "profile.log")
    return request.param, service, lambda: FirestoreStore(project=project)


async def test_kill_during_grants_loses_and_duplicates_nothing(store_under_test):
    backend, service, open_store = store_under_test
    result = record(ScenarioResult(f"kill profile during grants ({backend})"))
    rng = random.Random()
    expected: dict[str, int] = {f"user-{u}": 0 for u in range(USERS)}
    acked_keys: set[str] = set()
    retried = 0

    service.start()
    await service.wait_serving()
    async with grpc.aio.insecure_channel(service.target) as channel:
        stub = pb_grpc.ProfileServiceStub(channel)
        for uid in expected:
            await stub.CreateProfile(pb.CreateProfileRequest(uid=uid, email=f"{uid}@example.com"))

    for round_no in range(ROUNDS[backend]):
        requests = [grant_request(round_no, i) for i in range(GRANTS_PER_ROUND)]
        pending = list(requests)
        # Kill after a random share of the round has been sent (the moment varies per round).
        kill_after = rng.uniform(0.02, 0.3)
        async with grpc.aio.insecure_channel(service.target) as channel:
            stub = pb_grpc.ProfileServiceStub(channel)

            async def send(req: pb.GrantTokensRequest, stub=stub) -> pb.GrantTokensRequest | None:
                try:
                    await stub.GrantTokens(req, timeout=10)
                    acked_keys.add(req.idempotency_key)
                    return None
                except grpc.RpcError:
                    return req  # not acknowledged: must be retried

            tasks = [asyncio.create_task(send(r)) for r in requests]
            await asyncio.sleep(kill_after)
            service.kill()
            result.faults += 1
            pending = [r for r in await asyncio.gather(*tasks) if r is not None]
        result.operations += len(requests)
        retried += len(pending)

        service.start()
        await service.wait_serving()
        async with grpc.aio.insecure_channel(service.target) as channel:
            stub = pb_grpc.ProfileServiceStub(channel)
            give_up = time.monotonic() + RETRY_BUDGET_S

            async def retry(req: pb.GrantTokensRequest, stub=stub, give_up=give_up) -> None:
                """The client's retry, same key, until acknowledged (retryable statuses only)."""
                while True:
                    try:
                        reply = await stub.GrantTokens(req, timeout=max(1.0, min(30.0, give_up - time.monotonic())))
                    except grpc.aio.AioRpcError as exc:
                        if exc.code() not in RETRYABLE or time.monotonic() >= give_up:
                            raise
                        continue
                    acked_keys.add(req.idempotency_key)
                    assert reply.entry.idempotency_key == req.idempotency_key
                    return

            await asyncio.gather(*(retry(req) for req in pending))
        for req in requests:
            expected[req.uid] += req.amount

    service.terminate()
    store = open_store()
    await store.start()
    try:
        for uid, total in expected.items():
            entries = []
            before = None
            while True:
                page = await store.list_entries(uid, before, 500)
                entries += page
                if len(page) < 500:
                    break
                before = page[-1].seq
            keys = [e.idempotency_key for e in entries]
            result.duplicated += len(keys) - len(set(keys))
            profile = await store.get_profile(uid)
            result.lost += max(0, total - profile.tokens)
            result.duplicated += max(0, profile.tokens - total)
        stored_keys = set()
        for uid in expected:
            stored_keys |= {e.idempotency_key for e in await store.list_entries(uid, None, 10_000)}
        result.lost += len(acked_keys - stored_keys)
        assert await run_audit(store) == 0
    finally:
        await store.close()
    print(f"kill during grants: {retried} unacknowledged calls retried after restart")
    assert result.faults == ROUNDS[backend]
    assert retried > 0, "no kill landed while grants were in flight"
    assert (result.lost, result.duplicated) == (0, 0), result.line()

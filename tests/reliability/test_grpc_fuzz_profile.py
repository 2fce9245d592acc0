"""Every ProfileService RPC fuzzed with hypothesis-generated messages and raw wire bytes. Only OK,
INVALID_ARGUMENT, FAILED_PRECONDITION, NOT_FOUND and ALREADY_EXISTS may come back (never UNKNOWN or
INTERNAL), and the ledger audit still passes afterwards."""
from __future__ import annotations

import collections

import grpc
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from profile_service.store.sqlite_store import SqliteStore
from tests.reliability.report import ScenarioResult, record
from tests.support.grpc_fuzz import wire_bytes
from tests.support.threaded_profile import profile_service_in_thread
from tokens.profile.v1 import profile_service_pb2 as pb
from tokens.profile.v1 import profile_service_pb2_grpc as pb_grpc

ALLOWED = {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION,
           grpc.StatusCode.NOT_FOUND, grpc.StatusCode.ALREADY_EXISTS}
SERVICE = pb.DESCRIPTOR.services_by_name["ProfileService"]
METHODS = [(m.name, m.input_type._concrete_class) for m in SERVICE.methods]
SEEN: collections.Counter = collections.Counter()


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory):
    db = tmp_path_factory.mktemp("fuzz") / "profile.sqlite3"
    store = SqliteStore(db)
    with profile_service_in_thread(store) as target:
        with grpc.insecure_channel(target) as channel:
            stub = pb_grpc.ProfileServiceStub(channel)
            # A few real users so fuzzed calls reach deep paths, not only NOT_FOUND.
            for uid in ("u1", "a@b.c", "cs_test_123"):
                stub.CreateProfile(pb.CreateProfileRequest(uid=uid, email="f@example.com"))
                stub.GrantTokens(pb.GrantTokensRequest(uid=uid, amount=50, type=pb.TOKEN_ENTRY_TYPE_PROMOTIONAL,
                                                       idempotency_key="seed"))
            yield channel, db


@pytest.mark.parametrize("method,request_cls", METHODS, ids=[m for m, _ in METHODS])
def test_fuzzed_requests_get_only_allowed_codes(fuzz_target, method, request_cls):
    channel, _db = fuzz_target
    call = channel.unary_unary(f"/{SERVICE.full_name}/{method}", request_serializer=lambda b: b,
                               response_deserializer=lambda b: b)

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(data=wire_bytes(request_cls))
    def fuzz(data: bytes) -> None:
        try:
            call(data, timeout=10)
            code = grpc.StatusCode.OK
        except grpc.RpcError as exc:
            code = exc.code()
        SEEN[(method, code.name)] += 1
        assert code in ALLOWED, f"{method} answered {code.name} to {data!r}"

    fuzz()


def test_audit_passes_after_fuzzing(fuzz_target):
    import asyncio

    from profile_service.audit import run_audit

    _channel, db = fuzz_target
    operations = sum(SEEN.values())
    result = record(ScenarioResult("grpc fuzz (profile)", operations=operations,
                                   faults=sum(n for (_, code), n in SEEN.items() if code != "OK")))

    async def audit() -> int:
        store = SqliteStore(db)
        await store.start()
        try:
            return await run_audit(store)
        finally:
            await store.close()

    assert asyncio.run(audit()) == 0
    assert operations > 0
    result.lost = result.duplicated = 0

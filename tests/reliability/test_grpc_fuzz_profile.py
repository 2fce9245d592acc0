"""Every ProfileService RPC fuzzed with hypothesis-generated messages and raw wire bytes. Only OK,
INVALID_ARGUMENT, FAILED_PRECONDITION, NOT_FOUND and ALREADY_EXISTS may come back (never UNKNOWN or
INTERNAL), and the ledger audit still passes afterwards."""

from __future__ import annotations

import collections

import grpc
import pytest

from profile_service.store.sqlite_store import SqliteStore
from tests.reliability.report import ScenarioResult, record
from tests.support.grpc_fuzz import audit_sqlite_file, fuzz_method
from tests.support.threaded_profile import profile_service_in_thread
from tokens.profile.v1 import profile_service_pb2 as pb
from tokens.profile.v1 import profile_service_pb2_grpc as pb_grpc

SERVICE = pb.DESCRIPTOR.services_by_name["ProfileService"]
# Unary methods (fuzz_method calls unary-unary); WatchProfile has its own tests in tests/profile.
METHODS = [(m.name, m.input_type._concrete_class) for m in SERVICE.methods if not m.server_streaming]
SEEN: collections.Counter = collections.Counter()


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory):
    db = tmp_path_factory.mktemp("fuzz") / "profile.sqlite3"
    with profile_service_in_thread(SqliteStore(db)) as target, grpc.insecure_channel(target) as channel:
        stub = pb_grpc.ProfileServiceStub(channel)
        # A few real users so fuzzed calls reach deep paths, not only NOT_FOUND.
        for uid in ("u1", "a@b.c", "cs_test_123"):
            stub.CreateProfile(pb.CreateProfileRequest(uid=uid, email="f@example.com"))
            stub.GrantTokens(
                pb.GrantTokensRequest(uid=uid, amount=50, type=pb.TOKEN_ENTRY_TYPE_PROMOTIONAL, idempotency_key="seed")
            )
        yield channel, db


@pytest.mark.parametrize("method,request_cls", METHODS, ids=[m for m, _ in METHODS])
def test_fuzzed_requests_get_only_allowed_codes(fuzz_target, method, request_cls):
    channel, _db = fuzz_target
    fuzz_method(channel, SERVICE.full_name, method, request_cls, SEEN, max_examples=60)


def test_audit_passes_after_fuzzing(fuzz_target):
    _channel, db = fuzz_target
    operations = sum(SEEN.values())
    record(
        ScenarioResult(
            "grpc fuzz (profile)", operations=operations, faults=sum(n for (_, code), n in SEEN.items() if code != "OK")
        )
    )
    assert operations > 0
    assert audit_sqlite_file(db) == 0

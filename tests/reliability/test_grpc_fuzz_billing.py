"""Every BillingService RPC fuzzed with hypothesis-generated messages and raw wire bytes against the real
billing service (with the profile service and the Stripe stand-in behind it). Only OK, INVALID_ARGUMENT,
FAILED_PRECONDITION, NOT_FOUND and ALREADY_EXISTS may come back, and the ledger audit still passes."""

from __future__ import annotations

import collections

import grpc
import pytest

from tests.gateway.harness import stack_in_thread
from tests.reliability.report import ScenarioResult, record
from tests.support.firebase_tokens import firebase_issuer
from tests.support.grpc_fuzz import audit_sqlite_file, fuzz_method
from tokens.billing.v1 import billing_service_pb2 as pb

SERVICE = pb.DESCRIPTOR.services_by_name["BillingService"]
METHODS = [(m.name, m.input_type._concrete_class) for m in SERVICE.methods]
SEEN: collections.Counter = collections.Counter()


@pytest.fixture(scope="module")
def billing_target(tmp_path_factory):
    db = tmp_path_factory.mktemp("fuzz-billing") / "profile.sqlite3"
    with (
        firebase_issuer() as issuer,
        stack_in_thread(issuer, str(db)) as stack,
        grpc.insecure_channel(stack.billing_target) as channel,
    ):
        yield channel, db


@pytest.mark.parametrize("method,request_cls", METHODS, ids=[m for m, _ in METHODS])
def test_fuzzed_billing_requests_get_only_allowed_codes(billing_target, method, request_cls):
    channel, _db = billing_target
    fuzz_method(channel, SERVICE.full_name, method, request_cls, SEEN, max_examples=40)


def test_audit_passes_after_billing_fuzzing(billing_target):
    _channel, db = billing_target
    operations = sum(SEEN.values())
    record(
        ScenarioResult(
            "grpc fuzz (billing)", operations=operations, faults=sum(n for (_, code), n in SEEN.items() if code != "OK")
        )
    )
    assert operations > 0
    assert audit_sqlite_file(db) == 0

"""Random grants, spends, revocations and replays against a simple model of the ledger, through the real
gRPC server, on SQLite and on Firestore (Google's emulator; fewer examples there, each step is a few RPCs
to a Java process). The model: balance = sum of applied amounts; a replayed key returns its first
result; a key reused with other parameters is refused; a spend never takes the balance below zero."""

from __future__ import annotations

import contextlib
import uuid

import grpc
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from profile_service.store.sqlite_store import SqliteStore
from service_kit.rich_errors import details_of
from tests.support.firestore_emulator import emulator_env, fresh_project_id
from tests.support.threaded_profile import profile_service_in_thread
from tokens.profile.v1 import profile_service_pb2 as pb
from tokens.profile.v1 import profile_service_pb2_grpc as pb_grpc

amounts = st.integers(min_value=1, max_value=50)


class LedgerMachine(RuleBasedStateMachine):
    stub: pb_grpc.ProfileServiceStub  # set by the test

    def __init__(self) -> None:
        super().__init__()
        self.uid = f"sm-{uuid.uuid4().hex[:12]}"
        self.balance = 0
        self.debt = 0  # SHORTFALL_POLICY=carry (the default): revocation shortfalls, settled by later grants
        self.entries = 0
        self.applied: dict[str, tuple[str, object, object]] = {}  # key -> (method, request, first response)

    @initialize()
    def create(self) -> None:
        self.stub.CreateProfile(pb.CreateProfileRequest(uid=self.uid, email="sm@example.com"))

    def _key(self) -> str:
        return f"k-{len(self.applied)}-{uuid.uuid4().hex[:6]}"

    @rule(amount=amounts)
    def grant(self, amount: int) -> None:
        key = self._key()
        req = pb.GrantTokensRequest(
            uid=self.uid, amount=amount, type=pb.TOKEN_ENTRY_TYPE_PROMOTIONAL, idempotency_key=key
        )
        resp = self.stub.GrantTokens(req)
        settled = min(self.debt, amount)
        self.debt -= settled
        self.balance += amount - settled
        self.entries += 1
        assert resp.balance == self.balance and not resp.already_applied
        self.applied[key] = ("GrantTokens", req, resp)

    @rule(amount=amounts)
    def spend(self, amount: int) -> None:
        key = self._key()
        req = pb.SpendTokensRequest(uid=self.uid, amount=amount, idempotency_key=key)
        try:
            resp = self.stub.SpendTokens(req)
        except grpc.RpcError as exc:
            assert amount > self.balance
            assert details_of(exc).reason == "INSUFFICIENT_TOKENS"
            return
        assert amount <= self.balance
        self.balance -= amount
        self.entries += 1
        assert resp.balance == self.balance
        self.applied[key] = ("SpendTokens", req, resp)

    @rule(amount=amounts)
    def revoke(self, amount: int) -> None:
        key = self._key()
        req = pb.RevokeTokensRequest(uid=self.uid, amount=amount, idempotency_key=key)
        resp = self.stub.RevokeTokens(req)
        taken = min(amount, self.balance)
        self.balance -= taken
        self.debt += amount - taken
        self.entries += 1
        assert (resp.balance, resp.shortfall) == (self.balance, amount - taken)
        self.applied[key] = ("RevokeTokens", req, resp)

    @precondition(lambda self: self.applied)
    @rule(data=st.data())
    def replay(self, data) -> None:
        key = data.draw(st.sampled_from(sorted(self.applied)))
        method, req, first = self.applied[key]
        again = getattr(self.stub, method)(req)
        assert again.already_applied and again.entry == first.entry and again.balance == first.balance

    @precondition(lambda self: self.applied)
    @rule(data=st.data(), bump=st.integers(min_value=1, max_value=5))
    def reuse_key_with_other_amount(self, data, bump: int) -> None:
        key = data.draw(st.sampled_from(sorted(self.applied)))
        method, req, _ = self.applied[key]
        changed = type(req)()
        changed.CopyFrom(req)
        changed.amount = req.amount + bump
        try:
            getattr(self.stub, method)(changed)
        except grpc.RpcError as exc:
            assert details_of(exc).reason == "IDEMPOTENCY_KEY_REUSED"
        else:
            raise AssertionError("a reused key with other parameters was accepted")

    @invariant()
    def balance_matches_model_and_ledger(self) -> None:
        profile = self.stub.GetProfile(pb.GetProfileRequest(uid=self.uid)).profile
        assert profile.tokens == self.balance >= 0
        assert profile.debt == self.debt
        listed = self.stub.ListTokenHistory(pb.ListTokenHistoryRequest(uid=self.uid, page_size=100)).entries
        assert len(listed) == min(self.entries, 100)
        if self.entries <= 100:
            assert sum(e.amount for e in listed) == self.balance


# (examples, steps per example) per store: Firestore on the emulator is about ten times slower per call.
EXAMPLES = {"sqlite": (40, 25), "firestore": (25, 25)}


@pytest.fixture(scope="module", params=sorted(EXAMPLES))
def sync_stub(request, tmp_path_factory):
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            store = SqliteStore(tmp_path_factory.mktemp("sm") / "profile.sqlite3")
        else:
            from profile_service.store.firestore_store import FirestoreStore

            stack.enter_context(emulator_env(request.getfixturevalue("firestore_host")))
            store = FirestoreStore(project=fresh_project_id("sm"))
        target = stack.enter_context(profile_service_in_thread(store))
        channel = stack.enter_context(grpc.insecure_channel(target))
        yield request.param, pb_grpc.ProfileServiceStub(channel)


def test_ledger_matches_model(sync_stub):
    backend, stub = sync_stub
    examples, steps = EXAMPLES[backend]
    LedgerMachine.stub = stub
    run = LedgerMachine.TestCase
    run.settings = settings(
        max_examples=examples,
        stateful_step_count=steps,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    run().runTest()

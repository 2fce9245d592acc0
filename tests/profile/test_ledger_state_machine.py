"""Random grants (some expiring, various priorities and categories, allowances that roll over), spends, revocations, holds (reserve,
capture, release), time passing and sweeps, with replays, against a model of the ledger, through the real
gRPC server, on SQLite and on Firestore (Google's emulator; fewer examples there, each step is a few RPCs to a
Java process). The store's clock is the test's (FakeClock), so expiries happen when the model says.

The model: grants with remaining tokens (a new grant joins an active one with the same terms that does not roll
over), spent in the documented order (priority, soonest expiry with
never-expiring last, promotional before paid, oldest); an expired grant is gone at once; holds reserve
tokens (available = tokens - held) until captured, released or expired; debt is settled by grants first.
After every step: GetProfile equals the model as of now, available = tokens - held >= 0, the stored balance
equals the sum of the entries (and the newest entry's balance_after), no key appears twice, and each grant
expiry and each hold settlement is written at most once."""

from __future__ import annotations

import collections
import contextlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf import duration_pb2, timestamp_pb2
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from profile_service.domain.keys import entry_id_for
from profile_service.store.sqlite_store import SqliteStore
from service_kit.rich_errors import details_of
from tests.support.firestore_emulator import emulator_env, fresh_project_id
from tests.support.threaded_profile import profile_service_in_thread
from tests.unit.profile.clock import FakeClock
from tokens.profile.v1 import profile_service_pb2 as pb
from tokens.profile.v1 import profile_service_pb2_grpc as pb_grpc

amounts = st.integers(min_value=1, max_value=50)
CATEGORY_RANK = {"promotional": 0, "allowance": 1, "paid": 2}
NEVER = datetime.max.replace(tzinfo=UTC)


@dataclass
class MGrant:
    grant_id: str
    remaining: int
    expires_at: datetime | None
    priority: int
    category: str
    effective_at: datetime
    seq: int
    rollover_max: int = 0

    def order(self):
        return (
            self.priority,
            self.expires_at is None,
            self.expires_at or NEVER,
            CATEGORY_RANK[self.category],
            self.effective_at,
            self.seq,
        )


@dataclass
class MHold:
    hold_id: str
    amount: int
    expires_at: datetime
    seq: int
    state: str = "active"  # active, captured, released, expired
    captured: int = 0
    captured_request: int = -1  # the amount the capture asked for (a repeat with it replays)


class LedgerMachine(RuleBasedStateMachine):
    stub: pb_grpc.ProfileServiceStub  # set by the test
    clock: FakeClock

    def __init__(self) -> None:
        super().__init__()
        self.uid = f"sm-{uuid.uuid4().hex[:12]}"
        self.grants: list[MGrant] = []
        self.holds: dict[str, MHold] = {}
        self.debt = 0  # SHORTFALL_POLICY=carry (the default): revocation shortfalls, settled by later grants
        self.seq = 0
        self.applied: dict[str, tuple[str, object, object]] = {}  # key -> (method, request, first response)

    # -- the model ----------------------------------------------------------------------------------------

    @property
    def tokens(self) -> int:
        return sum(g.remaining for g in self.grants)

    @property
    def held(self) -> int:
        return sum(h.amount for h in self.holds.values() if h.state == "active")

    def tick(self) -> None:
        """What time did: expired holds released, expired grants gone, the newest holds cut to fit."""
        now = self.clock()
        for hold in self.holds.values():
            if hold.state == "active" and hold.expires_at <= now:
                hold.state = "expired"
        while True:  # again after rollovers: a rolled-over grant may be past its own period end too
            due = sorted(
                (g for g in self.grants if g.expires_at and g.expires_at <= now), key=lambda g: (g.expires_at, g.seq)
            )
            if not due:
                break
            self.grants = [g for g in self.grants if g not in due]
            for grant in due:  # an allowance carries min(unused, rollover_max) one period on, once
                carry = min(grant.remaining, grant.rollover_max)
                if carry:
                    period = grant.expires_at - grant.effective_at
                    expires = grant.expires_at + period
                    self.seq += 1
                    rolled_id = entry_id_for(self.uid, f"rollover:{grant.grant_id}")
                    self.grants.append(
                        MGrant(rolled_id, carry, expires, grant.priority, "allowance", grant.expires_at, self.seq)
                    )
        self.cut()

    def cut(self) -> None:
        excess = self.held - self.tokens
        for hold in sorted((h for h in self.holds.values() if h.state == "active"), key=lambda h: -h.seq):
            if excess <= 0:
                break
            part = min(excess, hold.amount)
            hold.amount -= part
            excess -= part

    def take(self, amount: int) -> list[tuple[str, int]]:
        """Takes amount in the spending order; returns (grant_id, amount) per grant touched."""
        left = amount
        taken = []
        for grant in sorted(self.grants, key=MGrant.order):
            part = min(left, grant.remaining)
            if part:
                taken.append((grant.grant_id, part))
            grant.remaining -= part
            left -= part
        assert left == 0
        self.grants = [g for g in self.grants if g.remaining > 0]
        return taken

    def add(self, new: MGrant) -> list[tuple[str, int]]:
        """A new grant joins the first active grant it is fungible with (same priority, expiry and category,
        neither rolling over), else it is its own; returns what the grant entry's allocations say."""
        for grant in sorted(self.grants, key=MGrant.order):
            same = (grant.priority, grant.expires_at, grant.category) == (new.priority, new.expires_at, new.category)
            if same and grant.rollover_max == 0 and new.rollover_max == 0:
                grant.remaining += new.remaining
                return [(grant.grant_id, new.remaining)]
        self.grants.append(new)
        return []

    def _key(self) -> str:
        return f"k-{len(self.applied)}-{uuid.uuid4().hex[:6]}"

    def _reason(self, exc: grpc.RpcError) -> str:
        return details_of(exc).reason or ""

    # -- rules --------------------------------------------------------------------------------------------

    @initialize()
    def create(self) -> None:
        self.stub.CreateProfile(pb.CreateProfileRequest(uid=self.uid, email="sm@example.com"))

    @rule(
        amount=st.integers(min_value=1, max_value=100),
        expires_in=st.sampled_from([None, None, 2, 10, 60]),
        priority=st.sampled_from([None, 10, 50, 90]),
        promotional=st.booleans(),
    )
    def grant(self, amount: int, expires_in: int | None, priority: int | None, promotional: bool) -> None:
        self.tick()
        key = self._key()
        now = self.clock()
        req = pb.GrantTokensRequest(
            uid=self.uid,
            amount=amount,
            type=pb.TOKEN_ENTRY_TYPE_PROMOTIONAL if promotional else pb.TOKEN_ENTRY_TYPE_PURCHASE,
            idempotency_key=key,
        )
        expires_at = None
        if expires_in is not None:
            expires_at = now + timedelta(seconds=expires_in)
            req.expires_at.CopyFrom(timestamp_pb2.Timestamp(seconds=int(expires_at.timestamp())))
        if priority is not None:
            req.priority = priority
        resp = self.stub.GrantTokens(req)
        settled = min(self.debt, amount)
        self.debt -= settled
        self.seq += 1
        joined = []
        if amount - settled:
            joined = self.add(
                MGrant(
                    resp.entry.entry_id,
                    amount - settled,
                    expires_at,
                    50 if priority is None else priority,
                    "promotional" if promotional else "paid",
                    now,
                    self.seq,
                )
            )
        assert [(a.grant_id, a.amount) for a in resp.entry.allocations] == joined
        assert resp.balance == self.tokens and not resp.already_applied
        self.applied[key] = ("GrantTokens", req, resp)

    @rule(amount=amounts)
    def spend(self, amount: int) -> None:
        self.tick()
        key = self._key()
        req = pb.SpendTokensRequest(uid=self.uid, amount=amount, idempotency_key=key)
        try:
            resp = self.stub.SpendTokens(req)
        except grpc.RpcError as exc:
            assert amount > self.tokens - self.held
            assert self._reason(exc) == "INSUFFICIENT_TOKENS"
            return
        assert amount <= self.tokens - self.held
        taken = self.take(amount)
        assert resp.balance == self.tokens
        assert [(a.grant_id, a.amount) for a in resp.entry.allocations] == taken
        self.applied[key] = ("SpendTokens", req, resp)

    @rule(amount=amounts)
    def revoke(self, amount: int) -> None:
        self.tick()
        key = self._key()
        req = pb.RevokeTokensRequest(uid=self.uid, amount=amount, idempotency_key=key)
        resp = self.stub.RevokeTokens(req)
        taken = min(amount, self.tokens)
        self.take(taken)
        self.debt += amount - taken
        self.cut()
        assert (resp.balance, resp.shortfall) == (self.tokens, amount - taken)
        self.applied[key] = ("RevokeTokens", req, resp)

    @rule(amount=st.integers(min_value=1, max_value=20), ttl=st.sampled_from([1, 3, 60]))
    def reserve(self, amount: int, ttl: int) -> None:
        self.tick()
        key = self._key()
        req = pb.ReserveTokensRequest(
            uid=self.uid, amount=amount, ttl=duration_pb2.Duration(seconds=ttl), idempotency_key=key
        )
        try:
            resp = self.stub.ReserveTokens(req)
        except grpc.RpcError as exc:
            assert amount > self.tokens - self.held
            assert self._reason(exc) == "INSUFFICIENT_TOKENS"
            return
        assert amount <= self.tokens - self.held
        self.seq += 1
        self.holds[resp.hold_id] = MHold(resp.hold_id, amount, self.clock() + timedelta(seconds=ttl), self.seq)
        assert resp.available_tokens == self.tokens - self.held
        self.applied[key] = ("ReserveTokens", req, resp)

    @rule(
        amount=st.integers(min_value=1, max_value=100),
        period=st.sampled_from([3, 10]),
        rollover=st.sampled_from([0, 5]),
    )
    def allowance(self, amount: int, period: int, rollover: int) -> None:
        self.tick()
        key = self._key()
        now = self.clock()
        req = pb.GrantTokensRequest(
            uid=self.uid,
            amount=amount,
            type=pb.TOKEN_ENTRY_TYPE_ALLOWANCE,
            idempotency_key=key,
            effective_at=timestamp_pb2.Timestamp(seconds=int(now.timestamp())),
            expires_at=timestamp_pb2.Timestamp(seconds=int((now + timedelta(seconds=period)).timestamp())),
            rollover_max=rollover,
        )
        resp = self.stub.GrantTokens(req)
        settled = min(self.debt, amount)
        self.debt -= settled
        self.seq += 1
        joined = []
        if amount - settled:
            joined = self.add(
                MGrant(
                    resp.entry.entry_id,
                    amount - settled,
                    now + timedelta(seconds=period),
                    50,
                    "allowance",
                    now,
                    self.seq,
                    rollover,
                )
            )
        assert [(a.grant_id, a.amount) for a in resp.entry.allocations] == joined
        assert resp.balance == self.tokens and not resp.already_applied
        self.applied[key] = ("GrantTokens", req, resp)

    @precondition(lambda self: self.holds)
    @rule(data=st.data(), amount=st.integers(min_value=0, max_value=60), cap=st.booleans())
    def capture(self, data, amount: int, cap: bool) -> None:
        self.tick()
        # In reserve order: hold ids are hashes of a random uid, so sorting them would differ from run to run.
        hold = self.holds[data.draw(st.sampled_from(list(self.holds)))]
        overage = pb.OVERAGE_CAP if cap else pb.OVERAGE_REJECT
        req = pb.CaptureHoldRequest(uid=self.uid, hold_id=hold.hold_id, amount=amount, overage=overage)
        try:
            resp = self.stub.CaptureHold(req)
        except grpc.RpcError as exc:
            reason = self._reason(exc)
            if hold.state == "expired":
                assert reason == "HOLD_EXPIRED"
            elif hold.state in ("captured", "released"):
                assert reason == "HOLD_ALREADY_SETTLED"
                assert hold.state == "released" or hold.captured_request != amount
            else:
                assert (reason, cap) == ("HOLD_AMOUNT_EXCEEDED", False) and amount > hold.amount
            return
        if hold.state == "captured":
            assert resp.already_applied and resp.captured == hold.captured and amount == hold.captured_request
            return
        assert hold.state == "active" and not resp.already_applied
        others = self.tokens - self.held
        taken = min(amount, hold.amount + others)
        assert cap or amount <= hold.amount
        hold.state, hold.captured, hold.captured_request = "captured", taken, amount
        assert [(a.grant_id, a.amount) for a in resp.entry.allocations] == self.take(taken)
        assert (resp.captured, resp.released, resp.balance) == (taken, max(hold.amount - taken, 0), self.tokens)

    @precondition(lambda self: self.holds)
    @rule(data=st.data())
    def release(self, data) -> None:
        self.tick()
        # In reserve order: hold ids are hashes of a random uid, so sorting them would differ from run to run.
        hold = self.holds[data.draw(st.sampled_from(list(self.holds)))]
        try:
            resp = self.stub.ReleaseHold(pb.ReleaseHoldRequest(uid=self.uid, hold_id=hold.hold_id))
        except grpc.RpcError as exc:
            assert hold.state == "captured" and self._reason(exc) == "HOLD_ALREADY_SETTLED"
            return
        assert hold.state in ("active", "released", "expired")
        if hold.state == "active":
            assert not resp.already_applied and resp.released == hold.amount
            hold.state = "released"
        elif hold.state == "released":
            assert resp.already_applied

    @rule(seconds=st.sampled_from([1, 3, 10]))
    def time_passes(self, seconds: int) -> None:
        self.clock.advance(seconds=seconds)

    @precondition(lambda self: self.applied)
    @rule(data=st.data())
    def replay(self, data) -> None:
        key = data.draw(st.sampled_from(sorted(self.applied)))
        method, req, first = self.applied[key]
        again = getattr(self.stub, method)(req)
        assert again.already_applied and again.entry == first.entry
        if method != "ReserveTokens":
            assert again.balance == first.balance
        else:
            assert (again.hold_id, again.amount, again.expires_at) == (first.hold_id, first.amount, first.expires_at)

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
            assert self._reason(exc) == "IDEMPOTENCY_KEY_REUSED"
        else:
            raise AssertionError("a reused key with other parameters was accepted")

    # -- invariants ---------------------------------------------------------------------------------------

    @invariant()
    def profile_matches_model_as_of_now(self) -> None:
        self.tick()
        profile = self.stub.GetProfile(pb.GetProfileRequest(uid=self.uid)).profile
        assert profile.tokens == self.tokens >= 0
        assert profile.held_tokens == self.held
        assert profile.available_tokens == profile.tokens - profile.held_tokens >= 0
        assert profile.debt == self.debt

    @invariant()
    def ledger_sums_to_the_stored_balance_and_settles_once(self) -> None:
        listed: list[pb.TokenTransaction] = []
        token = ""
        while True:
            page = self.stub.ListTokenHistory(pb.ListTokenHistoryRequest(uid=self.uid, page_size=100, page_token=token))
            listed += page.entries
            token = page.next_page_token
            if not token:
                break
        if not listed:
            return
        stored = listed[0].balance_after  # newest first: the stored balance
        assert sum(e.amount for e in listed) == stored >= self.tokens
        keys = collections.Counter(e.idempotency_key for e in listed)
        assert max(keys.values()) == 1  # every key once: each expiry and each hold settlement at most once
        now = self.clock()
        for e in listed:
            assert e.balance_after >= 0
            if e.type == pb.TOKEN_ENTRY_TYPE_EXPIRY:
                assert e.expires_at.ToDatetime(UTC) <= now  # never before the grant's time
            if e.hold_id and e.type != pb.TOKEN_ENTRY_TYPE_HOLD:
                assert self.holds[e.hold_id].state != "active"  # settled entries only for settled holds


# (examples, steps per example) per store: Firestore on the emulator is about ten times slower per call.
EXAMPLES = {"sqlite": (80, 40), "firestore": (20, 30)}


@pytest.fixture(scope="module", params=sorted(EXAMPLES))
def sync_stub(request, tmp_path_factory):
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0))
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            store = SqliteStore(tmp_path_factory.mktemp("sm") / "profile.sqlite3", clock=clock)
        else:
            from profile_service.store.firestore_store import FirestoreStore

            stack.enter_context(emulator_env(request.getfixturevalue("firestore_host")))
            store = FirestoreStore(project=fresh_project_id("sm"), clock=clock)
        target = stack.enter_context(profile_service_in_thread(store))
        channel = stack.enter_context(grpc.insecure_channel(target))
        yield request.param, pb_grpc.ProfileServiceStub(channel), clock


def test_ledger_matches_model(sync_stub):
    backend, stub, clock = sync_stub
    examples, steps = EXAMPLES[backend]
    LedgerMachine.stub = stub
    LedgerMachine.clock = clock
    run = LedgerMachine.TestCase
    run.settings = settings(
        max_examples=examples,
        stateful_step_count=steps,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    run().runTest()

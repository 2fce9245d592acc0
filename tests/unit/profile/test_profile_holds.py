"""Holds: reserve, capture, release, expiry; each hold settled exactly once (profile_service/domain/holds.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from profile_service.domain import grants
from profile_service.domain.errors import (
    HoldAlreadySettled,
    HoldAmountExceeded,
    HoldExpired,
    HoldNotFound,
    IdempotencyKeyReused,
    InsufficientTokens,
    TooManyHolds,
)
from profile_service.domain.holds import Overage
from profile_service.domain.keys import hold_settle_key
from profile_service.domain.model import EntryType
from tests.unit.profile.ledger_sim import Sim

MINUTE = timedelta(minutes=1)


def funded(tokens: int = 100) -> Sim:
    sim = Sim()
    sim.grant(tokens, "seed")
    return sim


def test_reserve_reduces_available_and_spend_takes_only_available():
    sim = funded(100)
    hold = sim.reserve(70, "job-1", MINUTE)
    assert (hold.amount, hold.available, hold.expires_at) == (70, 30, sim.clock() + MINUTE)
    entry = sim.entry("job-1")
    assert (entry.type, entry.amount, entry.hold_id, entry.hold_amount) == (EntryType.HOLD, 0, hold.hold_id, 70)
    assert (sim.profile.tokens, grants.held(sim.profile)) == (100, 70)
    with pytest.raises(InsufficientTokens):
        sim.spend(31, "s")
    with pytest.raises(InsufficientTokens):
        sim.reserve(31, "job-2", MINUTE)
    sim.spend(30, "s")
    replay = sim.reserve(70, "job-1", MINUTE)
    assert replay.already_applied and replay.hold_id == hold.hold_id and replay.expires_at == hold.expires_at
    with pytest.raises(IdempotencyKeyReused):
        sim.reserve(71, "job-1", MINUTE)


def test_capture_spends_in_the_spending_order_and_releases_the_rest_exactly_once():
    sim = Sim()
    sim.grant(50, "paid")
    sim.grant(20, "promo", EntryType.PROMOTIONAL, expires_at=sim.clock() + timedelta(days=1))
    hold = sim.reserve(40, "job", MINUTE)
    captured = sim.capture(hold.hold_id, 25)
    assert (captured.captured, captured.released, captured.balance) == (25, 15, 45)
    entry = captured.entry
    assert (entry.type, entry.amount, entry.idempotency_key) == (EntryType.SPEND, -25, hold_settle_key(hold.hold_id))
    assert [a.amount for a in entry.allocations] == [20, 5]  # the expiring promotional grant first
    assert grants.held(sim.profile) == 0
    again = sim.capture(hold.hold_id, 25)
    assert again.already_applied and again.entry == entry and (again.captured, again.released) == (25, 15)
    with pytest.raises(HoldAlreadySettled):
        sim.capture(hold.hold_id, 26)
    with pytest.raises(HoldAlreadySettled):
        sim.release(hold.hold_id)
    assert len(sim.of_type(EntryType.SPEND)) == 1


def test_overage_reject_changes_nothing_and_cap_takes_what_is_available():
    sim = funded(100)
    first = sim.reserve(30, "a", MINUTE)
    sim.reserve(50, "b", MINUTE)
    with pytest.raises(HoldAmountExceeded):
        sim.capture(first.hold_id, 31)
    assert sim.entry(hold_settle_key(first.hold_id)) is None and grants.held(sim.profile) == 80
    capped = sim.capture(first.hold_id, 1000, Overage.CAP)
    assert (capped.captured, capped.released, capped.balance) == (50, 0, 50)  # 30 held + the 20 not held
    assert grants.held(sim.profile) == 50 and grants.available(sim.profile) == 0


def test_release_then_replay_and_capture_after_release_is_refused():
    sim = funded(10)
    hold = sim.reserve(10, "a", MINUTE)
    released = sim.release(hold.hold_id)
    assert (released.released, released.entry.type, released.entry.amount) == (10, EntryType.HOLD_RELEASE, 0)
    assert grants.available(sim.profile) == 10
    assert sim.release(hold.hold_id).already_applied
    with pytest.raises(HoldAlreadySettled):
        sim.capture(hold.hold_id, 1)
    with pytest.raises(HoldNotFound):
        sim.release("0" * 32)


def test_expired_hold_is_never_capturable_and_released_once_by_the_sweeper():
    sim = funded(10)
    hold = sim.reserve(8, "a", MINUTE)
    sim.clock.advance(minutes=1)
    assert grants.held(sim.view()) == 0  # not counted as of now, before anything was written
    with pytest.raises(HoldExpired):
        sim.capture(hold.hold_id, 1)
    assert sim.sweep() == 1
    assert sim.sweep() == 0
    settled = sim.entry(hold_settle_key(hold.hold_id))
    assert settled.type is EntryType.HOLD_RELEASE and settled.hold_amount == 8
    with pytest.raises(HoldExpired):
        sim.capture(hold.hold_id, 1)
    assert sim.release(hold.hold_id).already_applied  # released already: that is what was asked
    assert len(sim.of_type(EntryType.HOLD_RELEASE)) == 1


def test_release_of_a_hold_that_expired_unswept_writes_its_expiry_release_once():
    sim = funded(10)
    hold = sim.reserve(8, "a", MINUTE)
    sim.clock.advance(minutes=2)
    released = sim.release(hold.hold_id)
    assert not released.already_applied and released.released == 8
    assert len(sim.of_type(EntryType.HOLD_RELEASE)) == 1


def test_expiry_of_a_grant_cuts_holds_so_held_never_exceeds_tokens():
    sim = Sim()
    sim.grant(10, "promo", EntryType.PROMOTIONAL, expires_at=sim.clock() + timedelta(seconds=30))
    sim.grant(5, "paid")
    sim.reserve(6, "older", timedelta(hours=1))
    newest = sim.reserve(9, "newer", timedelta(hours=1))
    sim.clock.advance(seconds=30)
    view = sim.view()
    assert (view.tokens, grants.held(view)) == (5, 5)
    sim.sweep()
    assert [h.amount for h in sim.profile.holds] == [5, 0]  # the newest hold is cut first
    capped = sim.capture(newest.hold_id, 9, Overage.CAP)
    assert capped.captured == 0


def test_revocation_cuts_holds_too():
    sim = funded(10)
    hold = sim.reserve(10, "a", MINUTE)
    sim.revoke(4, "refund")
    assert grants.held(sim.profile) == 6
    with pytest.raises(HoldAmountExceeded):
        sim.capture(hold.hold_id, 7)
    assert sim.capture(hold.hold_id, 6).captured == 6


def test_holds_are_capped(monkeypatch):
    monkeypatch.setattr(grants, "MAX_ACTIVE_HOLDS", 2)
    sim = funded(10)
    sim.reserve(1, "a", MINUTE)
    sim.reserve(1, "b", MINUTE)
    with pytest.raises(TooManyHolds):
        sim.reserve(1, "c", MINUTE)

"""Grants, the spending order, expiry and rollover: the pure domain (profile_service/domain/grants.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from profile_service.domain import grants
from profile_service.domain.errors import IdempotencyKeyReused, InsufficientTokens, TooManyGrants
from profile_service.domain.keys import entry_id_for, expiry_key, rollover_key
from profile_service.domain.ledger import ChangeKind, GrantTerms, LedgerChange
from profile_service.domain.model import EntryType, GrantCategory, Profile
from tests.unit.profile.ledger_sim import Sim

PROMO = EntryType.PROMOTIONAL


def gid(sim: Sim, key: str) -> str:
    return entry_id_for(sim.uid, key)


def taken(result) -> list[tuple[str, int]]:
    return [(a.grant_id, a.amount) for a in result.entry.allocations]


def test_spending_order_priority_then_expiry_then_category_then_oldest():
    sim = Sim()
    now = sim.clock()
    sim.grant(10, "paid-old")
    sim.clock.advance(seconds=1)
    sim.grant(10, "paid-new")
    sim.grant(10, "promo-forever", PROMO)
    sim.grant(10, "allowance-forever", EntryType.ALLOWANCE)
    sim.grant(10, "late-expiry", PROMO, expires_at=now + timedelta(days=30))
    sim.grant(10, "soon-expiry-paid", expires_at=now + timedelta(days=2))
    sim.grant(10, "soon-expiry-promo", PROMO, expires_at=now + timedelta(days=2))
    sim.grant(10, "urgent", priority=10)
    sim.grant(10, "last", priority=90, expires_at=now + timedelta(hours=1))
    spent = sim.spend(85, "s")
    order = [g for g, _ in taken(spent)]
    assert order == [
        gid(sim, k)
        for k in (
            "urgent",  # priority 10
            "soon-expiry-promo",  # soonest expiry; promotional before paid
            "soon-expiry-paid",
            "late-expiry",
            "promo-forever",  # never-expiring: promotional, allowance, then paid, oldest first
            "allowance-forever",
            "paid-old",  # paid-new joined it (same terms): one grant of 20
            "last",  # priority 90, even though it expires first
        )
    ]
    assert spent.entry.amount == -85 and len(sim.of_type(EntryType.SPEND)) == 1
    assert [(g.grant_id, g.remaining) for g in sim.profile.grants] == [(gid(sim, "last"), 5)]


def test_a_spend_spanning_grants_is_one_entry_recording_each_part():
    sim = Sim()
    sim.grant(3, "a", PROMO)
    sim.grant(5, "b")
    spent = sim.spend(6, "s")
    assert taken(spent) == [(gid(sim, "a"), 3), (gid(sim, "b"), 3)]
    assert (spent.balance, [g.remaining for g in sim.profile.grants]) == (2, [2])


def test_grant_records_terms_and_default_category():
    sim = Sim()
    expires = sim.clock() + timedelta(days=1)
    sim.grant(5, "g", EntryType.ADJUSTMENT, expires_at=expires, priority=7)
    [grant] = sim.profile.grants
    assert (grant.category, grant.priority, grant.expires_at, grant.remaining) == (
        GrantCategory.PROMOTIONAL,
        7,
        expires,
        5,
    )
    assert sim.entry("g").expires_at == expires


def test_terms_keep_old_fingerprints_and_count_in_replays():
    plain = LedgerChange(ChangeKind.GRANT, "u", 5, EntryType.PURCHASE, "k", {})
    # The fingerprint a grant had before terms existed (stored entries keep replaying).
    assert (
        plain.fingerprint == LedgerChange(ChangeKind.GRANT, "u", 5, EntryType.PURCHASE, "k", {}, terms=None).fingerprint
    )
    with_terms = LedgerChange(ChangeKind.GRANT, "u", 5, EntryType.PURCHASE, "k", {}, terms=GrantTerms(priority=3))
    assert with_terms.fingerprint != plain.fingerprint
    sim = Sim()
    sim.grant(5, "k", priority=3)
    with pytest.raises(IdempotencyKeyReused):
        sim.grant(5, "k", priority=4)
    assert sim.grant(5, "k", priority=3).already_applied


def test_uncovered_legacy_balance_is_one_never_expiring_paid_grant_adopted_lazily():
    now = Sim().clock()
    legacy = Profile(uid="u", email="", created_at=now, last_login=now, tokens=40)  # written by the original app
    shown = grants.view(legacy, now)
    assert [(g.grant_id, g.remaining, g.expires_at, g.category) for g in shown.grants] == [
        (grants.LEGACY_GRANT_ID, 40, None, GrantCategory.PAID)
    ]
    sim = Sim()
    sim.profile = legacy
    sim.grant(5, "promo", PROMO, expires_at=now + timedelta(days=1))
    assert sim.entry("migration:opening-balance").amount == 40  # the opening balance, then the grant
    spent = sim.spend(10, "s")
    assert taken(spent) == [(gid(sim, "promo"), 5), (grants.LEGACY_GRANT_ID, 5)]  # expiring promo first
    assert sum(g.remaining for g in sim.profile.grants) == sim.profile.tokens == 35


def test_entries_written_before_grants_existed_are_covered_by_the_legacy_grant():
    sim = Sim()
    sim.grant(10, "old")
    # A profile stored by the previous version: balance and entries, no grants.
    sim.profile = sim.profile.with_(grants=())
    sim.grant(4, "new", PROMO)
    spent = sim.spend(12, "s")
    assert taken(spent) == [(gid(sim, "new"), 4), (grants.LEGACY_GRANT_ID, 8)]
    assert [(g.grant_id, g.remaining) for g in sim.profile.grants] == [(grants.LEGACY_GRANT_ID, 2)]


def test_expired_grant_is_not_counted_before_any_write_then_expires_exactly_once():
    sim = Sim()
    sim.grant(10, "paid")
    sim.grant(5, "promo", PROMO, expires_at=sim.clock() + timedelta(seconds=3))
    sim.spend(2, "s1")  # from the promotional grant: it expires first
    assert sim.view().tokens == 13
    sim.clock.advance(seconds=3)
    assert sim.view().tokens == 10 and sim.profile.tokens == 13  # read as of now; nothing written yet
    with pytest.raises(InsufficientTokens):
        sim.spend(11, "s2")  # the expired 3 are not spendable
    assert sim.entry(expiry_key(gid(sim, "promo"))) is None  # a refused change writes nothing
    sim.spend(1, "s3")
    expiry = sim.entry(expiry_key(gid(sim, "promo")))
    assert expiry is not None and expiry.type is EntryType.EXPIRY and expiry.amount == -3
    assert expiry.seq < sim.entry("s3").seq  # written first, by the first transaction after the expiry
    sim.spend(1, "s4")
    assert sim.sweep() == 0
    assert len(sim.of_type(EntryType.EXPIRY)) == 1 and sim.profile.tokens == 8


def test_sweep_writes_the_expiry_and_nothing_twice():
    sim = Sim()
    sim.grant(5, "promo", PROMO, expires_at=sim.clock() + timedelta(minutes=1))
    assert sim.sweep() == 0
    sim.clock.advance(minutes=1)
    assert sim.sweep() == 1
    assert sim.sweep() == 0
    assert sim.profile.tokens == 0 and sim.profile.grants == ()
    assert grants.next_due(sim.profile) is None


def test_a_fully_spent_grant_leaves_the_list_and_writes_no_expiry():
    sim = Sim()
    sim.grant(5, "promo", PROMO, expires_at=sim.clock() + timedelta(minutes=1))
    sim.spend(5, "s")
    sim.clock.advance(minutes=2)
    assert sim.sweep() == 0 and sim.of_type(EntryType.EXPIRY) == []


def test_a_grant_already_expired_when_granted_expires_in_the_same_transaction():
    sim = Sim()
    sim.grant(5, "late", PROMO, expires_at=sim.clock() - timedelta(seconds=1))
    assert sim.profile.tokens == 0 and len(sim.of_type(EntryType.EXPIRY)) == 1


def allowance(sim: Sim, key: str, amount: int, period_start, days: int = 30, rollover_max: int = 0):
    return sim.grant(
        amount,
        key,
        EntryType.ALLOWANCE,
        effective_at=period_start,
        expires_at=period_start + timedelta(days=days),
        rollover_max=rollover_max,
    )


def test_allowance_renewal_keeps_bought_tokens_and_rolls_over_at_most_rollover_max():
    sim = Sim()
    start = sim.clock()
    sim.grant(50, "checkout:cs_pack")  # a bought pack: never expires
    allowance(sim, "invoice:in_1", 100, start, rollover_max=30)
    sim.spend(40, "s1")  # from the allowance (expiring, before paid)
    assert [(a.grant_id, a.amount) for a in sim.entry("s1").allocations] == [(gid(sim, "invoice:in_1"), 40)]
    sim.clock.advance(days=30)
    allowance(sim, "invoice:in_2", 100, start + timedelta(days=30), rollover_max=30)
    expiry = sim.entry(expiry_key(gid(sim, "invoice:in_1")))
    rollover = sim.entry(rollover_key(gid(sim, "invoice:in_1")))
    assert expiry.amount == -60 and rollover.amount == 30  # min(60 unused, 30)
    assert rollover.type is EntryType.ALLOWANCE and expiry.seq + 1 == rollover.seq
    assert rollover.expires_at == start + timedelta(days=60)
    assert sim.profile.tokens == 50 + 30 + 100
    pack = next(g for g in sim.profile.grants if g.grant_id == gid(sim, "checkout:cs_pack"))
    assert pack.remaining == 50  # the renewal never touched the bought pack
    # Nothing spent in period 2: the allowance rolls over 30 again; the rolled-over 30 do not roll twice.
    sim.clock.advance(days=30)
    sim.sweep()
    assert sim.profile.tokens == 50 + 30
    assert len(sim.of_type(EntryType.EXPIRY)) == 3 and len(sim.of_type(EntryType.ALLOWANCE)) == 4


def test_rolled_over_tokens_expire_at_the_next_period_end_even_when_nothing_was_written_between():
    sim = Sim()
    start = sim.clock()
    allowance(sim, "in_1", 10, start, days=1, rollover_max=4)
    sim.clock.advance(days=1, hours=1)
    [rolled] = sim.view().grants
    assert (rolled.remaining, rolled.rollover_max, rolled.expires_at) == (4, 0, start + timedelta(days=2))
    sim.clock.advance(days=5)
    assert sim.view().tokens == 0
    assert sim.sweep() == 3  # expiry, rollover, expiry of the rollover: the ledger tells each step
    assert [e.amount for e in sim.of_type(EntryType.EXPIRY)] == [-10, -4]
    assert sim.profile.grants == () and sim.profile.tokens == 0


def test_a_grant_settles_debt_first_and_only_the_rest_becomes_a_grant():
    sim = Sim()
    sim.grant(5, "g1")
    sim.spend(5, "s")
    sim.revoke(5, "refund")  # carried: debt 5
    assert sim.profile.debt == 5
    result = sim.grant(8, "g2", PROMO, expires_at=sim.clock() + timedelta(days=1))
    assert (result.entry.debt_settled, result.entry.amount, sim.profile.debt) == (5, 3, 0)
    assert [g.remaining for g in sim.profile.grants] == [3]
    sim.grant(2, "g3")
    sim.revoke(50, "refund-2")
    assert sim.profile.grants == () and sim.profile.debt == 45


def test_revocation_takes_first_from_the_grant_its_purchase_created():
    sim = Sim()
    sim.grant(10, "checkout:cs_1")
    # Different terms (an expiry), so it stays its own grant.
    sim.grant(10, "checkout:cs_2", expires_at=sim.clock() + timedelta(days=365))
    sim.grant(5, "promo", PROMO)
    revoked = sim.revoke(12, "refund:1", from_grant="checkout:cs_2")
    assert taken(revoked) == [(gid(sim, "checkout:cs_2"), 10), (gid(sim, "promo"), 2)]
    # The named grant is gone (spent or revoked): the spending order alone.
    again = sim.revoke(1, "refund:2", from_grant="checkout:cs_2")
    assert taken(again) == [(gid(sim, "promo"), 1)]


def test_a_grant_with_the_same_terms_joins_the_active_one_and_its_refund_takes_from_there():
    sim = Sim()
    sim.grant(10, "checkout:cs_1")
    second = sim.grant(10, "checkout:cs_2")
    sim.grant(5, "promo", PROMO)
    # One paid grant of 20, not two; the second purchase's entry names the grant it joined.
    assert taken(second) == [(gid(sim, "checkout:cs_1"), 10)]
    assert sorted((g.grant_id, g.amount, g.remaining) for g in sim.profile.grants) == sorted(
        [(gid(sim, "checkout:cs_1"), 20, 20), (gid(sim, "promo"), 5, 5)]
    )
    # Refunding cs_2 takes from the paid grant holding its tokens, not the promotional one spent first.
    revoked = sim.revoke(12, "refund:1", from_grant="checkout:cs_2")
    assert taken(revoked) == [(gid(sim, "checkout:cs_1"), 12)]


DAY = timedelta(days=1)


@pytest.mark.parametrize(
    ("first", "second_type", "second"),
    [
        ({}, EntryType.PURCHASE, {"priority": 10}),
        ({}, EntryType.PURCHASE, {"expires_at": 30 * DAY}),
        ({}, PROMO, {}),
        # Rollovers are per grant: two allowances with the same terms stay two grants.
        (
            {"expires_at": 30 * DAY, "effective_at": 0 * DAY, "rollover_max": 5},
            EntryType.ALLOWANCE,
            {"expires_at": 30 * DAY, "effective_at": 0 * DAY, "rollover_max": 5},
        ),
    ],
    ids=["priority", "expiry", "category", "rollover"],
)
def test_grants_with_other_terms_or_a_rollover_stay_apart(first, second_type, second):
    sim = Sim()
    now = sim.clock()

    def at(terms: dict) -> dict:
        return {k: now + v if isinstance(v, timedelta) else v for k, v in terms.items()}

    first_type = EntryType.ALLOWANCE if "rollover_max" in first else EntryType.PURCHASE
    sim.grant(10, "a", first_type, **at(first))
    sim.grant(10, "b", second_type, **at(second))
    assert len(sim.profile.grants) == 2


def test_active_grants_are_capped_and_a_grant_at_the_cap_joins_one_with_the_same_terms(monkeypatch):
    monkeypatch.setattr(grants, "MAX_ACTIVE_GRANTS", 3)
    sim = Sim()
    expires = sim.clock() + timedelta(days=1)
    sim.grant(1, "a")
    sim.grant(1, "b", PROMO, expires_at=expires)
    sim.grant(1, "c", PROMO, expires_at=expires + timedelta(days=1))
    joined = sim.grant(4, "d")  # same terms as "a" (paid, never, 50)
    assert taken(joined) == [(gid(sim, "a"), 4)]
    assert len(sim.profile.grants) == 3 and sim.profile.tokens == 7
    with pytest.raises(TooManyGrants):
        sim.grant(1, "e", PROMO, expires_at=expires + timedelta(days=9))
    assert sim.entry("e") is None and sim.profile.tokens == 7

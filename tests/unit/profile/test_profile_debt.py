"""SHORTFALL_POLICY and debt (domain.ledger), and the race-safe customer link replacement (domain.profiles):
pure, no store, no server."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from profile_service.domain.ledger import ChangeKind, LedgerChange, ShortfallPolicy, apply_change
from profile_service.domain.model import EntryType, LedgerEntry, Profile
from profile_service.domain.profiles import READ_ONLY, link_customer
from profile_service.settings import ProfileSettings

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def fresh(uid: str = "u", **fields) -> Profile:
    return Profile(uid=uid, email="u@example.com", created_at=NOW, last_login=NOW, **fields)


def grant(amount: int, key: str, type: EntryType = EntryType.PURCHASE) -> LedgerChange:
    return LedgerChange(ChangeKind.GRANT, "u", amount, type, key, {})


def revoke(amount: int, key: str, policy: ShortfallPolicy = ShortfallPolicy.CARRY) -> LedgerChange:
    return LedgerChange(ChangeKind.REVOKE, "u", amount, EntryType.REFUND, key, {}, shortfall_policy=policy)


def spend(amount: int, key: str) -> LedgerChange:
    return LedgerChange(ChangeKind.SPEND, "u", amount, EntryType.SPEND, key, {})


def run(profile: Profile, *changes: LedgerChange) -> tuple[Profile, list[LedgerEntry]]:
    entries = []
    for c in changes:
        writes = apply_change(profile, None, c, NOW)
        assert writes.profile is not None and writes.entry is not None
        profile, entries = writes.profile, [*entries, writes.entry]
    return profile, entries


def assert_invariants(profile: Profile, entries: list[LedgerEntry]) -> None:
    assert profile.tokens == sum(e.amount for e in entries) >= 0
    assert profile.debt == sum(e.debt_added - e.debt_settled for e in entries) >= 0
    assert profile.debt == 0 or profile.tokens == 0


def test_carry_is_the_default_policy():
    assert ProfileSettings(_env_file=None).shortfall_policy is ShortfallPolicy.CARRY
    assert LedgerChange(ChangeKind.REVOKE, "u", 1, EntryType.REFUND, "k", {}).shortfall_policy is ShortfallPolicy.CARRY


def test_buy_spend_refund_buy_again_pays_the_debt_first():
    profile, entries = run(fresh(), grant(5, "buy-1"), spend(3, "s"), revoke(5, "refund-1"))
    refund = entries[-1]
    assert (refund.amount, refund.shortfall, refund.debt_added) == (-2, 3, 3)
    assert "carried as debt" in refund.reason
    assert (profile.tokens, profile.debt) == (0, 3)
    assert_invariants(profile, entries)

    profile, more = run(profile, grant(5, "buy-2"))
    second = more[-1]
    # The grant granted 5: 3 paid the debt, 2 reached the balance.
    assert (second.amount, second.debt_settled, second.balance_after) == (2, 3, 2)
    assert (profile.tokens, profile.debt) == (2, 0)
    assert_invariants(profile, entries + more)


def test_a_grant_smaller_than_the_debt_goes_entirely_to_the_debt():
    profile, entries = run(fresh(), revoke(10, "r"), grant(4, "g1"), grant(4, "g2"), grant(4, "g3"))
    assert [(e.amount, e.debt_settled) for e in entries[1:]] == [(0, 4), (0, 4), (2, 2)]
    assert (profile.tokens, profile.debt) == (2, 0)
    assert_invariants(profile, entries)


def test_forgive_clamps_at_zero_and_records_the_shortfall_only():
    profile, entries = run(fresh(), grant(5, "g"), spend(3, "s"), revoke(5, "r", ShortfallPolicy.FORGIVE))
    assert (entries[-1].amount, entries[-1].shortfall, entries[-1].debt_added) == (-2, 3, 0)
    assert "forgiven" in entries[-1].reason
    assert (profile.tokens, profile.debt) == (0, 0)
    profile, more = run(profile, grant(5, "g2"))
    assert (more[-1].amount, more[-1].debt_settled, profile.tokens) == (5, 0, 5)
    assert_invariants(profile, entries + more)


def test_the_policy_is_not_part_of_the_fingerprint():
    # A replay after SHORTFALL_POLICY changed answers the first result instead of IDEMPOTENCY_KEY_REUSED.
    assert revoke(5, "r", ShortfallPolicy.CARRY).fingerprint == revoke(5, "r", ShortfallPolicy.FORGIVE).fingerprint
    profile, entries = run(fresh(), revoke(5, "r", ShortfallPolicy.CARRY))
    replay = apply_change(profile, entries[0], revoke(5, "r", ShortfallPolicy.FORGIVE), NOW)
    assert replay.result.already_applied and replay.result.entry == entries[0] and replay.profile is None


@pytest.mark.parametrize("policy", list(ShortfallPolicy))
def test_a_revocation_covered_by_the_balance_adds_no_debt(policy: ShortfallPolicy):
    profile, entries = run(fresh(), grant(5, "g"), revoke(5, "r", policy))
    assert (entries[-1].amount, entries[-1].shortfall, entries[-1].debt_added, profile.debt) == (-5, 0, 0, 0)


def test_spending_is_refused_while_only_debt_is_left():
    profile, _ = run(fresh(), revoke(3, "r"))
    with pytest.raises(Exception, match="balance 0"):
        apply_change(profile, None, spend(1, "s"), NOW)


def test_debt_is_read_only():
    assert "debt" in READ_ONLY


def test_link_customer_sets_once_and_keeps_the_first():
    first = link_customer(fresh(), "u", "cus_a")
    assert first.result.customer_id == "cus_a" and first.result.linked
    assert first.profile is not None
    again = link_customer(first.profile, "u", "cus_b")
    assert (again.profile, again.result.customer_id, again.result.linked) == (None, "cus_a", False)


def test_link_customer_replaces_only_the_named_old_id():
    linked = fresh(stripe_customer_id="cus_old")
    replaced = link_customer(linked, "u", "cus_new", replaces="cus_old")
    assert replaced.profile is not None and replaced.profile.stripe_customer_id == "cus_new"
    assert (replaced.result.customer_id, replaced.result.linked) == ("cus_new", True)
    # A racing replacement of the same old id finds it already replaced: it gets the winner's id.
    late = link_customer(replaced.profile, "u", "cus_other", replaces="cus_old")
    assert (late.profile, late.result.customer_id, late.result.linked) == (None, "cus_new", False)
    # Replacing an unset link just sets it.
    unset = link_customer(fresh(), "u", "cus_new", replaces="cus_old")
    assert unset.profile is not None and unset.result.customer_id == "cus_new"

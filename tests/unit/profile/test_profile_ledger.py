"""The ledger rules (domain.ledger), pure: no store, no server."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest

from profile_service.domain.errors import IdempotencyKeyReused, InsufficientTokens, ProfileNotFound
from profile_service.domain.ledger import (
    OPENING_BALANCE_KEY,
    ChangeKind,
    LedgerChange,
    apply_change,
    entry_id_for,
    open_legacy_balance,
)
from profile_service.domain.model import EntryType, Profile

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def profile(tokens: int = 0, ledger_seq: int = 0, uid: str = "u") -> Profile:
    return Profile(uid=uid, email="u@example.com", created_at=NOW, last_login=NOW, tokens=tokens, ledger_seq=ledger_seq)


def change(kind: ChangeKind, amount: int, key: str = "k", uid: str = "u", **kw) -> LedgerChange:
    entry_type = {ChangeKind.GRANT: EntryType.PROMOTIONAL, ChangeKind.SPEND: EntryType.SPEND}.get(
        kind, EntryType.REFUND
    )
    return LedgerChange(kind, uid, amount, kw.pop("type", entry_type), key, kw.pop("source", {}), **kw)


def test_change_kinds_are_an_enum_and_plain_strings_are_accepted():
    assert LedgerChange("spend", "u", 1, EntryType.SPEND, "k", {}).kind is ChangeKind.SPEND
    with pytest.raises(ValueError):
        LedgerChange("steal", "u", 1, EntryType.SPEND, "k", {})


def test_the_fingerprint_format_is_unchanged_by_the_enum():
    """Stored entries carry fingerprints: the enum must hash exactly as the old "grant" string did."""
    c = change(ChangeKind.GRANT, 5, type=EntryType.PURCHASE, source={"b": "2", "a": "1"})
    body = '["grant",5,"purchase",[["a","1"],["b","2"]],""]'
    assert c.fingerprint == hashlib.sha256(body.encode()).hexdigest()
    assert c.entry_id == entry_id_for("u", "k") == hashlib.sha256(b"u\x00k").hexdigest()[:32]


def test_grant_adds_one_entry_with_the_next_seq():
    writes = apply_change(profile(tokens=3, ledger_seq=2), None, change(ChangeKind.GRANT, 5), NOW)
    assert writes.profile is not None and (writes.profile.tokens, writes.profile.ledger_seq) == (8, 3)
    assert writes.entry is not None and (writes.entry.amount, writes.entry.seq, writes.entry.balance_after) == (5, 3, 8)
    assert writes.entries == (writes.entry,) and writes.opening is None
    assert writes.result.balance == 8 and not writes.result.already_applied


def test_purchase_grant_records_the_one_time_purchase():
    c = change(ChangeKind.GRANT, 5, type=EntryType.PURCHASE, source={"product_id": "prod_1", "price_id": "price_1"})
    updated = apply_change(profile(), None, c, NOW).profile
    assert updated is not None
    assert (updated.one_time_purchase, updated.purchase_date, updated.product_id, updated.price_id) == (
        True,
        NOW,
        "prod_1",
        "price_1",
    )


def test_spend_is_refused_when_short_and_never_goes_negative():
    with pytest.raises(InsufficientTokens) as caught:
        apply_change(profile(tokens=2, ledger_seq=1), None, change(ChangeKind.SPEND, 3), NOW)
    assert (caught.value.balance, caught.value.amount, caught.value.field) == (2, 3, "amount")
    writes = apply_change(profile(tokens=3, ledger_seq=1), None, change(ChangeKind.SPEND, 3), NOW)
    assert writes.result.balance == 0 and writes.entry is not None and writes.entry.amount == -3


def test_revoke_takes_what_it_can_and_records_the_shortfall():
    writes = apply_change(profile(tokens=2, ledger_seq=1), None, change(ChangeKind.REVOKE, 5, reason="refund"), NOW)
    assert writes.entry is not None
    assert (writes.entry.amount, writes.entry.shortfall, writes.result.balance) == (-2, 3, 0)
    assert "short by 3" in writes.entry.reason


def test_a_replay_answers_the_first_result_and_writes_nothing():
    first = apply_change(profile(tokens=0, ledger_seq=0), None, change(ChangeKind.GRANT, 5), NOW)
    assert first.entry is not None
    replay = apply_change(first.profile, first.entry, change(ChangeKind.GRANT, 5), NOW)
    assert (replay.profile, replay.entry) == (None, None)
    assert replay.result.already_applied and replay.result.entry == first.entry


def test_a_key_reused_with_other_parameters_is_refused():
    first = apply_change(profile(), None, change(ChangeKind.GRANT, 5), NOW)
    with pytest.raises(IdempotencyKeyReused):
        apply_change(first.profile, first.entry, change(ChangeKind.GRANT, 6), NOW)


def test_a_change_for_a_missing_profile_is_not_found():
    with pytest.raises(ProfileNotFound):
        apply_change(None, None, change(ChangeKind.GRANT, 5), NOW)


@pytest.mark.parametrize("kind", [ChangeKind.GRANT, ChangeKind.SPEND, ChangeKind.REVOKE])
def test_a_change_on_a_legacy_profile_adopts_its_balance_first(kind):
    """A profile written by the original app (tokens, no ledger) gets the opening-balance entry in the same
    decision, so balance == sum of entries afterwards."""
    legacy = profile(tokens=10, ledger_seq=0)
    writes = apply_change(legacy, None, change(kind, 4), NOW)
    opening, entry = writes.entries
    assert opening.idempotency_key == OPENING_BALANCE_KEY and opening.type is EntryType.ADJUSTMENT
    assert (opening.seq, opening.amount, opening.balance_after) == (1, 10, 10)
    assert opening.entry_id == entry_id_for("u", OPENING_BALANCE_KEY)
    assert entry.seq == 2 and entry.balance_after == 10 + entry.amount
    assert writes.profile is not None and writes.profile.ledger_seq == 2
    assert writes.profile.tokens == sum(e.amount for e in writes.entries)


def test_the_opening_entry_is_the_one_migrate_writes():
    legacy = profile(tokens=10)
    by_grant = apply_change(legacy, None, change(ChangeKind.GRANT, 1), NOW).opening
    by_migrate = open_legacy_balance(legacy, None, "u", NOW).entry
    assert by_grant == by_migrate


def test_a_profile_already_on_the_ledger_or_empty_adopts_nothing():
    assert apply_change(profile(tokens=0), None, change(ChangeKind.GRANT, 1), NOW).opening is None
    assert apply_change(profile(tokens=5, ledger_seq=1), None, change(ChangeKind.GRANT, 1), NOW).opening is None
    assert open_legacy_balance(profile(tokens=5, ledger_seq=1), None, "u", NOW).result is None
    assert open_legacy_balance(profile(tokens=0), None, "u", NOW).result is None


def test_open_legacy_balance_replays_through_its_key():
    first = open_legacy_balance(profile(tokens=7), None, "u", NOW)
    assert first.entry is not None and first.result is not None
    again = open_legacy_balance(first.profile, first.entry, "u", NOW)
    assert again.entry is None and again.result is not None and again.result.already_applied

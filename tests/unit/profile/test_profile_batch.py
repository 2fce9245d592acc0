"""Group commit, the pure part (domain.batch.apply_batch): changes for one user applied in arrival order to
one read of the user's state."""

from __future__ import annotations

from datetime import UTC, datetime

from profile_service.domain import profiles
from profile_service.domain.batch import WriteOp, apply_batch, read_set
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

NOW = datetime(2026, 1, 2, tzinfo=UTC)
UID = "u"


def profile(tokens: int = 0, ledger_seq: int = 0) -> Profile:
    return Profile(uid=UID, email="u@example.com", created_at=NOW, last_login=NOW, tokens=tokens, ledger_seq=ledger_seq)


def op(kind: str, amount: int, key: str) -> WriteOp:
    entry_type = EntryType.SPEND if kind == "spend" else EntryType.PROMOTIONAL
    c = LedgerChange(ChangeKind(kind), UID, amount, entry_type, key, {})
    return WriteOp(c.entry_id, lambda p, e, now: apply_change(p, e, c, now))


def test_spends_are_checked_against_the_running_balance():
    ops = [op("grant", 3, "g1"), op("spend", 2, "s1"), op("spend", 2, "s2"), op("grant", 5, "g2"), op("spend", 2, "s3")]
    batch = apply_batch(profile(), {}, ops, NOW)
    assert [type(o.error) if o.error else o.value.balance for o in batch.outcomes] == [3, 1, InsufficientTokens, 6, 4]
    assert [(e.seq, e.amount, e.balance_after) for e in batch.entries] == [(1, 3, 3), (2, -2, 1), (3, 5, 6), (4, -2, 4)]
    assert batch.profile is not None and (batch.profile.tokens, batch.profile.ledger_seq) == (4, 4)


def test_a_key_repeated_inside_the_batch_replays_the_first():
    ops = [op("grant", 3, "same"), op("grant", 3, "same"), op("grant", 4, "same")]
    batch = apply_batch(profile(), {}, ops, NOW)
    first, replay, reused = batch.outcomes
    assert not first.value.already_applied and replay.value.already_applied
    assert replay.value.entry == first.value.entry
    assert isinstance(reused.error, IdempotencyKeyReused)
    assert len(batch.entries) == 1 and batch.profile is not None and batch.profile.tokens == 3


def test_a_key_already_stored_replays_and_the_batch_goes_on():
    stored = apply_batch(profile(), {}, [op("grant", 3, "old")], NOW)
    batch = apply_batch(
        stored.profile, {e.entry_id: e for e in stored.entries}, [op("grant", 3, "old"), op("grant", 1, "new")], NOW
    )
    assert batch.outcomes[0].value.already_applied and not batch.outcomes[1].value.already_applied
    assert [e.seq for e in batch.entries] == [2]


def test_a_domain_error_answers_that_change_only():
    ops = [op("spend", 5, "too-much"), op("grant", 2, "g")]
    batch = apply_batch(profile(tokens=1, ledger_seq=1), {}, ops, NOW)
    assert isinstance(batch.outcomes[0].error, InsufficientTokens) and batch.outcomes[1].value.balance == 3
    assert len(batch.entries) == 1


def test_a_batch_that_changes_nothing_writes_nothing():
    batch = apply_batch(None, {}, [op("grant", 1, "a"), op("spend", 1, "b")], NOW)
    assert all(isinstance(o.error, ProfileNotFound) for o in batch.outcomes)
    assert not batch.writes_anything and batch.profile is None


def test_profile_writes_and_ledger_changes_share_one_user_document():
    create = WriteOp(None, lambda p, e, now: profiles.create_profile(p, UID, "a@example.com", now))
    rename = WriteOp(None, lambda p, e, now: profiles.update_profile(p, UID, {"display_name": "Ada"}))
    link = WriteOp(None, lambda p, e, now: profiles.link_customer(p, UID, "cus_1"))
    batch = apply_batch(None, {}, [create, op("grant", 5, "g"), rename, link, create], NOW)
    assert batch.profile is not None
    assert (batch.profile.tokens, batch.profile.display_name, batch.profile.stripe_customer_id) == (5, "Ada", "cus_1")
    assert batch.outcomes[0].value[1] is True and batch.outcomes[4].value[1] is False  # created once
    assert batch.outcomes[3].value.linked


def test_a_legacy_balance_is_adopted_once_per_batch_and_migrate_then_replays():
    migrate = WriteOp(entry_id_for(UID, OPENING_BALANCE_KEY), lambda p, e, now: open_legacy_balance(p, e, UID, now))
    batch = apply_batch(profile(tokens=10), {}, [op("spend", 4, "s"), op("grant", 1, "g"), migrate], NOW)
    assert [e.idempotency_key for e in batch.entries] == [OPENING_BALANCE_KEY, "s", "g"]
    assert [e.seq for e in batch.entries] == [1, 2, 3]
    assert batch.outcomes[2].value.already_applied
    assert batch.profile is not None and batch.profile.tokens == 7 == sum(e.amount for e in batch.entries)


def test_the_read_set_is_one_document_per_distinct_key():
    ops = [op("grant", 1, "a"), op("grant", 1, "a"), op("grant", 1, "b"), WriteOp(None, lambda p, e, now: None)]
    assert read_set(ops) == [entry_id_for(UID, "a"), entry_id_for(UID, "b")]


def test_a_decision_that_crashes_answers_its_caller_only():
    def boom(p, e, now):
        raise RuntimeError("bug")

    batch = apply_batch(profile(), {}, [WriteOp(None, boom), op("grant", 1, "g")], NOW)
    assert isinstance(batch.outcomes[0].error, RuntimeError) and batch.outcomes[1].value.balance == 1

"""The per-user writer queue with group commit (profile_service.write_queue), against the in-memory store:
real asyncio concurrency, no server."""

from __future__ import annotations

import asyncio
import time

import pytest

from profile_service.domain import profiles
from profile_service.domain.batch import WriteOp
from profile_service.domain.errors import (
    InsufficientTokens,
    OutcomeUnknown,
    ProfileNotFound,
    StoreUnavailable,
    WriteDeadlineExceeded,
)
from profile_service.domain.ledger import ChangeKind, LedgerChange, apply_change
from profile_service.domain.model import EntryType
from profile_service.write_queue import WriteQueue
from tests.unit.profile.fake_store import FakeStore, store_with


def ledger_op(kind: str, uid: str, amount: int, key: str) -> WriteOp:
    entry_type = EntryType.SPEND if kind == "spend" else EntryType.PROMOTIONAL
    c = LedgerChange(ChangeKind(kind), uid, amount, entry_type, key, {})
    return WriteOp(c.entry_id, lambda p, e, now: apply_change(p, e, c, now))


async def outcome(queue: WriteQueue, uid: str, op: WriteOp, deadline: float | None = None):
    try:
        return await queue.submit(uid, op, deadline)
    except Exception as exc:
        return exc


async def test_concurrent_spends_on_one_user_are_exact_and_grouped():
    """1,000 concurrent spends of 1 against 500: exactly 500 succeed, the balance ends at 0, and far fewer
    transactions than changes ran, none larger than the bound, never two at once for the user."""
    store = store_with(("hot", 500))
    store.delay_s = 0.002
    queue = WriteQueue(store, batch_max=100)
    results = await asyncio.gather(*(outcome(queue, "hot", ledger_op("spend", "hot", 1, f"s{i}")) for i in range(1000)))
    assert sum(not isinstance(r, Exception) for r in results) == 500
    assert sum(isinstance(r, InsufficientTokens) for r in results) == 500
    assert store.users["hot"].tokens == 0 and store.balance_is_sum_of_entries("hot")
    assert len(store.entries["hot"]) == 501  # the seed and one per successful spend
    sizes = [t.ops for t in store.transactions]
    assert sum(sizes) == 1000 and max(sizes) <= 100 and len(sizes) <= 20
    assert max(t.reads for t in store.transactions) <= 101  # batch max + the user document
    assert store.max_in_flight_per_user == 1
    assert queue.busy_users == 0  # the worker ended with its queue


async def test_mixed_grants_spends_and_replays_answer_each_caller_once():
    store = store_with(("u", 10))
    queue = WriteQueue(store, batch_max=7)
    distinct = [ledger_op("grant" if i % 3 == 0 else "spend", "u", 1 + i % 4, f"k{i}") for i in range(45)]
    ops = distinct + distinct[:15]  # fifteen keys sent twice with the same parameters
    results = await asyncio.gather(*(outcome(queue, "u", o) for o in ops))
    applied = [r.entry.idempotency_key for r in results if not isinstance(r, Exception) and not r.already_applied]
    keys = {e.idempotency_key for e in store.entries["u"].values()} - {"seed"}
    assert sorted(applied) == sorted(keys)  # every entry is answered as applied to exactly one caller
    for first, again in zip(results[:15], results[45:], strict=True):
        if not isinstance(first, Exception):
            assert again.already_applied and again.entry == first.entry
    assert store.balance_is_sum_of_entries("u") and store.users["u"].tokens >= 0
    assert len(store.transactions) < len(ops)  # grouped


async def test_a_domain_error_answers_its_caller_only():
    store = store_with(("u", 1))
    store.delay_s = 0.01
    queue = WriteQueue(store)
    first = asyncio.ensure_future(outcome(queue, "u", ledger_op("grant", "u", 1, "warmup")))
    await asyncio.sleep(0)  # the worker takes the first alone; the rest pile up behind it
    rest = [ledger_op("spend", "u", 50, "too-much"), ledger_op("grant", "u", 2, "g"), ledger_op("spend", "u", 1, "s")]
    results = await asyncio.gather(*(outcome(queue, "u", o) for o in rest))
    await first
    assert isinstance(results[0], InsufficientTokens)
    assert results[1].balance == 4 and results[2].balance == 3
    assert [t.ops for t in store.transactions] == [1, 3]


async def test_users_have_their_own_queues():
    store = store_with(("a", 5), ("b", 5))
    store.delay_s = 0.01
    queue = WriteQueue(store)
    await asyncio.gather(
        *(outcome(queue, uid, ledger_op("spend", uid, 1, f"{uid}{i}")) for i in range(5) for uid in ("a", "b"))
    )
    assert {t.uid for t in store.transactions} == {"a", "b"}
    assert store.users["a"].tokens == store.users["b"].tokens == 0
    assert queue.busy_users == 0


async def test_profile_writes_wait_in_the_same_queue():
    store = FakeStore()
    queue = WriteQueue(store)
    create = WriteOp(None, lambda p, e, now: profiles.create_profile(p, "n", "n@example.com", now))
    results = await asyncio.gather(
        outcome(queue, "n", ledger_op("grant", "n", 1, "before")),
        outcome(queue, "n", create),
        outcome(queue, "n", ledger_op("grant", "n", 2, "after")),
        outcome(queue, "n", create),
    )
    assert isinstance(results[0], ProfileNotFound)  # arrival order: it came before the profile existed
    assert results[1][1] is True and results[2].balance == 2 and results[3][1] is False
    assert len(store.transactions) == 1


async def test_a_deadline_that_passes_while_waiting_changes_nothing():
    store = store_with(("u", 0))
    store.delay_s = 0.2
    queue = WriteQueue(store)
    slow = asyncio.ensure_future(outcome(queue, "u", ledger_op("grant", "u", 1, "first")))
    await asyncio.sleep(0.01)  # the first is in its transaction now
    late = await outcome(queue, "u", ledger_op("grant", "u", 5, "late"), deadline=time.monotonic() + 0.05)
    assert isinstance(late, WriteDeadlineExceeded)
    await slow
    await asyncio.sleep(0.01)
    assert store.users["u"].tokens == 1 and [t.ops for t in store.transactions] == [1]


async def test_a_deadline_that_passes_after_the_change_was_taken_learns_the_real_outcome():
    store = store_with(("u", 0))
    store.delay_s = 0.1
    queue = WriteQueue(store)
    result = await outcome(queue, "u", ledger_op("grant", "u", 3, "taken"), deadline=time.monotonic() + 0.03)
    assert not isinstance(result, Exception) and result.balance == 3
    assert store.users["u"].tokens == 3


async def test_a_caller_that_goes_away_before_its_change_was_taken_changes_nothing():
    store = store_with(("u", 0))
    store.delay_s = 0.05
    queue = WriteQueue(store)
    first = asyncio.ensure_future(queue.submit("u", ledger_op("grant", "u", 1, "first")))
    await asyncio.sleep(0.01)
    gone = asyncio.ensure_future(queue.submit("u", ledger_op("grant", "u", 7, "gone")))
    await asyncio.sleep(0.01)
    gone.cancel()
    await first
    await asyncio.sleep(0.1)
    assert store.users["u"].tokens == 1 and queue.busy_users == 0


async def test_a_store_failure_answers_the_whole_batch_and_the_next_batch_runs():
    store = store_with(("u", 0))
    store.delay_s = 0.01
    queue = WriteQueue(store)
    first = asyncio.ensure_future(outcome(queue, "u", ledger_op("grant", "u", 1, "first")))
    await asyncio.sleep(0.001)  # the first transaction has started
    store.fail_next.append(OutcomeUnknown("lost answer"))
    failed = await asyncio.gather(*(outcome(queue, "u", ledger_op("grant", "u", 1, f"x{i}")) for i in range(3)))
    await first
    assert all(isinstance(r, OutcomeUnknown) for r in failed)
    assert (await outcome(queue, "u", ledger_op("grant", "u", 1, "x0"))).balance == 2  # the retry with its key


async def test_the_batch_deadline_is_the_latest_of_its_callers_capped_by_the_write_timeout():
    store = store_with(("u", 0))
    store.delay_s = 0.02
    queue = WriteQueue(store, write_timeout_s=5)
    first = asyncio.ensure_future(outcome(queue, "u", ledger_op("grant", "u", 1, "first")))
    await asyncio.sleep(0)
    soon, later = time.monotonic() + 1, time.monotonic() + 2
    await asyncio.gather(
        outcome(queue, "u", ledger_op("grant", "u", 1, "a"), soon),
        outcome(queue, "u", ledger_op("grant", "u", 1, "b"), later),
    )
    await first
    assert store.transactions[0].deadline == pytest.approx(time.monotonic() + 5, abs=0.5)
    assert store.transactions[1].deadline == pytest.approx(later, abs=0.01)


async def test_a_batch_wait_gathers_changes_that_arrive_shortly_after():
    store = store_with(("u", 0))
    queue = WriteQueue(store, batch_wait_s=0.05)

    async def trickle(i: int):
        await asyncio.sleep(0.005 * i)
        return await queue.submit("u", ledger_op("grant", "u", 1, f"t{i}"))

    await asyncio.gather(*(trickle(i) for i in range(5)))
    assert [t.ops for t in store.transactions] == [5]


async def test_a_full_batch_does_not_wait():
    store = store_with(("u", 0))
    queue = WriteQueue(store, batch_max=3, batch_wait_s=5)
    started = time.monotonic()
    await asyncio.gather(*(queue.submit("u", ledger_op("grant", "u", 1, f"f{i}")) for i in range(3)))
    assert time.monotonic() - started < 1 and [t.ops for t in store.transactions] == [3]


async def test_without_the_queue_every_call_is_its_own_transaction():
    store = store_with(("u", 20))
    queue = WriteQueue(store, enabled=False)
    results = await asyncio.gather(*(outcome(queue, "u", ledger_op("spend", "u", 1, f"s{i}")) for i in range(10)))
    assert all(not isinstance(r, Exception) for r in results)
    assert [t.ops for t in store.transactions] == [1] * 10 and store.users["u"].tokens == 10


async def test_a_worker_cancelled_at_shutdown_answers_what_it_holds():
    store = store_with(("u", 0))
    store.delay_s = 1
    queue = WriteQueue(store)
    calls = [asyncio.ensure_future(outcome(queue, "u", ledger_op("grant", "u", 1, f"c{i}"))) for i in range(3)]
    await asyncio.sleep(0.01)
    for task in asyncio.all_tasks():
        if task.get_name().startswith("write-queue:"):
            task.cancel()
    results = await asyncio.gather(*calls)
    assert all(isinstance(r, StoreUnavailable) for r in results)
    assert queue.busy_users == 0

"""One writer queue per user, with group commit.

Every write for one uid inside this process (ledger changes and profile writes alike) waits in that uid's
queue. One worker per busy uid takes the pending changes in arrival order and applies them in ONE store
transaction (ProfileStore.run_batch -> domain.batch.apply_batch): each key still exactly once (a key repeated
inside the batch replays the first), each spend checked against the running balance, one ledger entry per
change, the user document written once; then every caller is answered, after the commit. A domain error of
one change answers that caller only. On Firestore this removes the contention a process would otherwise
inflict on its own user document; on SQLite it spreads one commit (and one writer-thread hop) over many changes.

Bounds (ProfileSettings):
- PROFILE_WRITE_BATCH_MAX (default 100): at most this many changes per transaction. A Firestore transaction
  then reads at most batch max + 1 documents (the user document and one entry per change) and writes at most
  batch max + 2 (the entries, an adopted opening balance, the user document), well inside Firestore's 500.
- PROFILE_WRITE_BATCH_WAIT_MS (default 0): how long a worker waits for more changes before it starts a
  transaction that is not full. 0 = take whatever is pending when the previous transaction ends (changes
  that arrive during a transaction form the next batch, so batches grow with load without adding latency).
- PROFILE_WRITE_TIMEOUT_S (default 30): the longest a write may wait and run when the caller's gRPC deadline
  is later or absent.
- PROFILE_WRITE_QUEUE=false: no queue, every call runs its own transaction (kept for comparison in bench/).

Deadlines: a caller whose deadline passes while its change is still waiting gets WriteDeadlineExceeded
(DEADLINE_EXCEEDED, nothing changed) and its change is withdrawn. Once a transaction has taken the change, the
caller waits for the real outcome (the store bounds the transaction by the latest deadline of the batch).
A worker ends as soon as its queue is empty, so idle users hold nothing.

Observability: each store transaction is one trace span (profile.store.transaction) and, given ProfileMetrics,
its latency, batch size and committed ledger entries are recorded here (profile_service/metrics.py).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any, TypeVar

from opentelemetry.context import Context

from profile_service.domain.batch import WriteOp
from profile_service.domain.errors import OutcomeUnknown, StoreUnavailable, WriteDeadlineExceeded
from profile_service.metrics import ProfileMetrics
from profile_service.store.base import ProfileStore
from service_kit.tracing import current_context, span

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(eq=False)
class _Pending:
    op: WriteOp[Any]
    deadline: float | None
    future: asyncio.Future[Any]
    taken: bool = False
    # The submitter's trace context: the batch's span belongs to the request of its first change.
    trace_context: Context | None = field(default_factory=current_context)


@dataclass(eq=False)
class _UserQueue:
    items: collections.deque[_Pending] = field(default_factory=collections.deque)
    more: asyncio.Event = field(default_factory=asyncio.Event)
    worker: asyncio.Task[None] | None = None


def _settle(future: asyncio.Future[Any], *, result: Any = None, error: BaseException | None = None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def _mark_retrieved(future: asyncio.Future[Any]) -> None:
    # A caller that went away (cancelled) never reads its error; that is expected, not worth a warning.
    if not future.cancelled():
        future.exception()


class WriteQueue:
    def __init__(
        self,
        store: ProfileStore,
        *,
        enabled: bool = True,
        batch_max: int = 100,
        batch_wait_s: float = 0.0,
        write_timeout_s: float | None = 30.0,
        metrics: ProfileMetrics | None = None,
    ) -> None:
        if batch_max < 1:
            raise ValueError("batch_max must be at least 1")
        self._store = store
        self._enabled = enabled
        self._batch_max = batch_max
        self._batch_wait_s = batch_wait_s
        self._write_timeout_s = write_timeout_s
        self._queues: dict[str, _UserQueue] = {}
        self._metrics = metrics
        if metrics is not None:
            metrics.watch_queue(lambda: sum(len(q.items) for q in list(self._queues.values())), lambda: self.busy_users)

    @property
    def busy_users(self) -> int:
        """Users with a queue right now (a worker exists only while changes are pending or applied)."""
        return len(self._queues)

    def _deadline(self, deadline: float | None) -> float | None:
        if self._write_timeout_s is None:
            return deadline
        own = time.monotonic() + self._write_timeout_s
        return own if deadline is None else min(deadline, own)

    async def submit(self, uid: str, op: WriteOp[T], deadline: float | None = None) -> T:
        """Applies op for uid and answers its result (or raises its domain error). `deadline` is a
        time.monotonic() instant (the caller's gRPC deadline)."""
        deadline = self._deadline(deadline)
        if not self._enabled:
            # Its own task: a caller that goes away does not interrupt the transaction halfway (it finishes,
            # rolls back or resolves its commit within the deadline, releasing what it holds).
            task = asyncio.ensure_future(self._transact_one(uid, op, deadline))
            task.add_done_callback(_mark_retrieved)
            result: T = await asyncio.shield(task)
            return result
        item = _Pending(op, deadline, asyncio.get_running_loop().create_future())
        item.future.add_done_callback(_mark_retrieved)
        queue = self._queues.get(uid)
        if queue is None:
            queue = self._queues[uid] = _UserQueue()
            queue.worker = asyncio.create_task(self._work(uid, queue), name=f"write-queue:{uid[:32]}")
        queue.items.append(item)
        if len(queue.items) >= self._batch_max:
            queue.more.set()
        try:
            timeout = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            value: T = await asyncio.wait_for(asyncio.shield(item.future), timeout)
            return value
        except TimeoutError:
            if not item.taken:
                self._withdraw(queue, item)
                raise WriteDeadlineExceeded() from None
            late: T = await item.future  # taken into a transaction: the real outcome, whatever it is
            return late
        except asyncio.CancelledError:
            # The caller went away (cancelled, or its deadline ended the RPC): a change not yet taken is
            # withdrawn, so it never lands after the caller was told it failed.
            if not item.taken:
                self._withdraw(queue, item)
            raise

    async def _transact_one(self, uid: str, op: WriteOp[T], deadline: float | None) -> T:
        """PROFILE_WRITE_QUEUE=false: one change, its own transaction (latency recorded; the store does not
        hand back its entries on this path, so the ledger figures need the queue)."""
        started = time.perf_counter()
        outcome = "error"
        try:
            with span("profile.store.transaction", {"profile.batch_size": 1}):
                result = await self._store.transact(uid, op.entry_id, op.decide, deadline=deadline)
            outcome = "ok"
            return result
        except StoreUnavailable:
            outcome = "unavailable"
            raise
        except OutcomeUnknown:
            outcome = "unknown"
            raise
        finally:
            if self._metrics is not None:
                self._metrics.batch_size.observe(1)
                self._metrics.transaction_seconds.labels(outcome).observe(time.perf_counter() - started)

    @staticmethod
    def _withdraw(queue: _UserQueue, item: _Pending) -> None:
        with contextlib.suppress(ValueError):
            queue.items.remove(item)
        item.future.cancel()

    def _take(self, queue: _UserQueue) -> list[_Pending]:
        batch: list[_Pending] = []
        now = time.monotonic()
        while queue.items and len(batch) < self._batch_max:
            item = queue.items.popleft()
            if item.future.done():
                continue
            if item.deadline is not None and item.deadline <= now:
                _settle(item.future, error=WriteDeadlineExceeded())
                continue
            item.taken = True
            batch.append(item)
        return batch

    async def _work(self, uid: str, queue: _UserQueue) -> None:
        try:
            while queue.items:
                if self._batch_wait_s > 0 and len(queue.items) < self._batch_max:
                    queue.more.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(queue.more.wait(), self._batch_wait_s)
                batch = self._take(queue)
                if batch:
                    await self._apply(uid, batch)
        finally:
            # No await between the empty check above and this: a submit cannot slip in unseen.
            if self._queues.get(uid) is queue:
                del self._queues[uid]
            for item in queue.items:  # only when the worker itself was cancelled (shutdown)
                _settle(item.future, error=StoreUnavailable("profile service shutting down; nothing was changed"))

    async def _apply(self, uid: str, batch: list[_Pending]) -> None:
        deadlines = [item.deadline for item in batch]
        deadline = None if any(d is None for d in deadlines) else max(d for d in deadlines if d is not None)
        started = time.perf_counter()
        try:
            with span(
                "profile.store.transaction",
                {"profile.batch_size": len(batch)},
                parent=batch[0].trace_context,
                linked=[item.trace_context for item in batch[1:]],
            ):
                result = await self._store.run_batch(uid, [item.op for item in batch], deadline=deadline)
        except Exception as exc:  # StoreUnavailable / OutcomeUnknown / a bug: every caller of the batch
            self._observe(len(batch), started, exc)
            if not isinstance(exc, StoreUnavailable):
                log.exception("write batch for one user failed")
            for item in batch:
                _settle(item.future, error=exc)
            return
        except BaseException as exc:  # cancelled mid-transaction: the outcome is not known here
            for item in batch:
                _settle(item.future, error=OutcomeUnknown(f"write interrupted ({exc!r}); outcome unknown"))
            raise
        self._observe(len(batch), started, None)
        if self._metrics is not None:
            self._metrics.committed(result.entries)
        for item, outcome in zip(batch, result.outcomes, strict=True):
            _settle(item.future, result=outcome.value, error=outcome.error)

    def _observe(self, size: int, started: float, error: Exception | None) -> None:
        if self._metrics is None:
            return
        if error is None:
            outcome = "ok"
        else:
            outcome = (
                "unavailable"
                if isinstance(error, StoreUnavailable)
                else "unknown"
                if isinstance(error, OutcomeUnknown)
                else "error"
            )
        self._metrics.batch_size.observe(size)
        self._metrics.transaction_seconds.labels(outcome).observe(time.perf_counter() - started)

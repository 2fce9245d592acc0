"""Firestore store: the original layout, made exactly-once.

users/{uid}                           the profile, with the original field names (plus entitlements_as_of and
                                      ledger_seq). Written with set(merge=[fields]) and only the fields that
                                      changed, so fields other apps keep on the user document survive.
                                      `grants` and `holds`: the active grants and holds as maps keyed by id
                                      (see domain/grants.py: at most 200 grants and 500 holds, so the
                                      document stays far below 1 MiB); `next_due`: their soonest expiry,
                                      the sweeper's query (a single-field index, automatic).
users/{uid}/token_history/{entry_id}  one document per ledger entry (never an array): amount, type, timestamp,
                                      balance_after, idempotency_key, source, seq, fingerprint, reason, shortfall.
                                      entry_id is derived from the idempotency key, and entries are written with
                                      create(), so a key can be applied at most once.

One batch of changes for one user (see write_queue.py) is one read-write transaction: one BatchGetDocuments of
the user document and the batch's entry documents (at most batch size + 1 documents), the pure apply_batch,
then N entry creates and one user-document write in one commit. The transaction is driven here rather than by
the client's @async_transactional, because the client's helper loses the transaction's place in line after an
ABORTED read, lets a failed rollback replace the original error, gives begin/commit/rollback its own 60 s
retrying defaults, and resends a commit whose first attempt may have landed.

What a caller of run_batch / transact may rely on:
- It returns: the batch committed exactly once (or it wrote nothing: every op replayed or failed).
- StoreUnavailable: nothing of the batch is committed. Either no commit was sent (begin or a read failed,
  contention outlasted the attempts or the deadline), or a commit's answer was lost and the re-read below
  proved it absent.
- OutcomeUnknown: a commit was sent, its answer was lost (DEADLINE_EXCEEDED, UNAVAILABLE, CANCELLED, UNKNOWN,
  INTERNAL, "Transaction is invalid or closed", a client-side timeout), and the re-read could not settle it
  (the store stayed unreachable). The batch may or may not be committed; ledger changes are safe to retry with
  the same key.
Resolving an unknown commit: roll the transaction back (a rollback that succeeds proves the commit cannot land),
then read the documents the commit wrote. Ledger batches: the first new entry exists with this commit's seq,
fingerprint and timestamp -> landed, answered as committed (commits are atomic). Profile-only batches: the
user document holds every field this commit wrote -> landed; otherwise not landed (or overwritten since by a
later write): the batch runs again, which is safe because profile writes are idempotent in effect (a re-run
CreateProfile then answers created=false).

Contention (another replica, or the queue switched off) ends in ABORTED; the transaction is retried with the
first attempt's id as retry_transaction, which keeps its place in line, within the caller's deadline and at most
FIRESTORE_MAX_ATTEMPTS attempts. Every begin, read, commit and rollback gets a timeout of at most
FIRESTORE_RPC_TIMEOUT_S and never beyond the caller's deadline (rollback and the resolving re-read get their own
short budget, because they decide what the caller is told).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from google.api_core import exceptions as gexc
from google.api_core import retry_async
from google.cloud import firestore
from google.cloud.firestore_v1.async_transaction import AsyncTransaction

from profile_service.domain import grants
from profile_service.domain.batch import BatchWrites, WriteOp, apply_batch, read_set
from profile_service.domain.errors import OutcomeUnknown, StoreUnavailable
from profile_service.domain.model import EntryType, LedgerEntry, Profile
from profile_service.store import records
from profile_service.store.base import AuditRow, ChangeFeed, ProfileStore

log = logging.getLogger(__name__)

USERS = "users"
HISTORY = "token_history"

_PROFILE_FIELDS = tuple(f.name for f in dataclasses.fields(Profile) if f.name != "uid")  # uid is the doc id
_TIME_FIELDS = frozenset({"created_at", "last_login", "purchase_date", "current_period_end", "entitlements_as_of"})
_REQUIRED_TIME_FIELDS = frozenset({"created_at", "last_login"})
_INT_FIELDS = frozenset({"tokens", "ledger_seq", "debt"})
_BOOL_FIELDS = frozenset({"has_access", "one_time_purchase"})
# Maps (keyed by id) on the user document (see domain/grants.py); next_due is derived from them for the sweeper.
_INLINE_FIELDS = frozenset({"grants", "holds"})
NEXT_DUE = "next_due"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_AUDIT_PAGE = 300
_RESOLVE_BUDGET_S = 5.0  # rollback + re-read after a lost commit answer, beyond the caller's deadline if need be

# Nothing of the call is known to be committed, and it may work a moment later (before any commit was sent).
_TRANSIENT = (
    gexc.ServiceUnavailable,
    gexc.DeadlineExceeded,
    gexc.InternalServerError,
    gexc.ResourceExhausted,
    gexc.RetryError,
    gexc.Cancelled,
    gexc.Unknown,
    gexc.Aborted,
    asyncio.TimeoutError,
)
# Answers to a commit that prove it was not applied. Anything else leaves the outcome unknown.
_COMMIT_REFUSED = (
    gexc.Aborted,
    gexc.AlreadyExists,
    gexc.FailedPrecondition,
    gexc.PermissionDenied,
    gexc.Unauthenticated,
    gexc.ResourceExhausted,
    gexc.NotFound,
    gexc.InvalidArgument,
)


def _commit_outcome_unknown(exc: BaseException) -> bool:
    if isinstance(exc, gexc.InvalidArgument):
        # The client's (or a proxy's) resend of a commit whose first attempt landed.
        return "invalid or closed" in str(exc).lower()
    return not isinstance(exc, _COMMIT_REFUSED)


# -- documents <-> records ----------------------------------------------------------------------------------


def _utc(value: datetime) -> datetime:
    """Firestore timestamps come back as DatetimeWithNanoseconds; hand out plain aware UTC datetimes."""
    value = value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return datetime(
        value.year, value.month, value.day, value.hour, value.minute, value.second, value.microsecond, tzinfo=UTC
    )


def _read_time(uid: str, name: str, value: Any) -> datetime | None:
    """Tolerant: a timestamp, an ISO 8601 string (older writers stored "2023-01-01"), else None (logged)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return _utc(value)
    if isinstance(value, str):
        try:
            return _utc(datetime.fromisoformat(value.strip()))
        except ValueError:
            pass
    log.warning("users/%s: field %s holds %r, not a timestamp; read as unset", uid, name, value)
    return None


def _read_int(uid: str, name: str, value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    log.warning("users/%s: field %s holds %r, not an integer; read as 0", uid, name, value)
    return 0


def profile_from(uid: str, doc: dict[str, Any]) -> Profile:
    """Tolerant of documents that predate this service or were written by hand: missing fields take the
    model's defaults (email ""), string timestamps are parsed, and what cannot be read is logged and read as
    unset (created_at/last_login as the epoch), so one odd document never makes a call fail."""
    values: dict[str, Any] = {"uid": uid, "email": ""}
    for name in _PROFILE_FIELDS:
        value = doc.get(name)
        if name in _TIME_FIELDS:
            when = _read_time(uid, name, value)
            if when is None and name in _REQUIRED_TIME_FIELDS:
                when = _EPOCH
            values[name] = when
        elif value is None:
            continue
        elif name in _INLINE_FIELDS:
            try:
                values[name] = (records.grants_from if name == "grants" else records.holds_from)(value)
            except (KeyError, TypeError, ValueError, AssertionError):
                # Never guessed: a balance that cannot be read as grants is read as uncovered (one paid grant).
                log.warning("users/%s: field %s cannot be read; read as empty", uid, name)
        elif name in _INT_FIELDS:
            values[name] = _read_int(uid, name, value)
        elif name in _BOOL_FIELDS:
            values[name] = bool(value)
        else:
            values[name] = value if isinstance(value, str) else str(value)
    return Profile(**values)


def profile_document(profile: Profile, fields: Sequence[str] = _PROFILE_FIELDS) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    for name in fields:
        value = getattr(profile, name)
        if name == "grants":
            value = records.keyed(records.grant_map(g) for g in profile.grants)
        elif name == "holds":
            value = records.keyed(records.hold_map(h) for h in profile.holds)
        doc[name] = value.astimezone(UTC) if isinstance(value, datetime) else value
    if _INLINE_FIELDS & set(fields):
        doc[NEXT_DUE] = grants.next_due(profile)
    return doc


def changed_fields(before: Profile | None, after: Profile) -> list[str]:
    """The fields a write must set: all for a new document, else those that changed. Unchanged fields keep
    what is stored, even a value in an older format."""
    if before is None:
        return list(_PROFILE_FIELDS)
    return [name for name in _PROFILE_FIELDS if getattr(before, name) != getattr(after, name)]


def entry_document(entry: LedgerEntry) -> dict[str, Any]:
    return {
        "amount": entry.amount,
        "type": entry.type.value,
        "timestamp": entry.timestamp.astimezone(UTC),
        "balance_after": entry.balance_after,
        "idempotency_key": entry.idempotency_key,
        "source": dict(entry.source),
        "seq": entry.seq,
        "fingerprint": entry.fingerprint,
        "reason": entry.reason,
        "shortfall": entry.shortfall,
        "debt_settled": entry.debt_settled,
        "debt_added": entry.debt_added,
        "allocations": records.positional(records.allocation_map(a) for a in entry.allocations),
        "expires_at": entry.expires_at.astimezone(UTC) if entry.expires_at else None,
        "hold_id": entry.hold_id,
        "hold_amount": entry.hold_amount,
    }


def entry_from(uid: str, entry_id: str, doc: dict[str, Any]) -> LedgerEntry:
    return LedgerEntry(
        entry_id=entry_id,
        uid=uid,
        seq=int(doc["seq"]),
        amount=int(doc["amount"]),
        type=EntryType(doc["type"]),
        timestamp=_read_time(uid, "timestamp", doc.get("timestamp")) or _EPOCH,
        balance_after=int(doc["balance_after"]),
        idempotency_key=doc["idempotency_key"],
        fingerprint=doc["fingerprint"],
        source={str(k): str(v) for k, v in (doc.get("source") or {}).items()},
        reason=doc.get("reason") or "",
        shortfall=int(doc.get("shortfall") or 0),
        debt_settled=int(doc.get("debt_settled") or 0),
        debt_added=int(doc.get("debt_added") or 0),
        allocations=records.allocations_from(doc.get("allocations")),
        expires_at=_read_time(uid, "expires_at", doc.get("expires_at")),
        hold_id=doc.get("hold_id") or "",
        hold_amount=int(doc.get("hold_amount") or 0),
    )


def _same_entry(stored: LedgerEntry, ours: LedgerEntry) -> bool:
    """The stored entry is the one this commit wrote (not the same key applied by another writer)."""
    return (stored.seq, stored.fingerprint, stored.timestamp, stored.balance_after) == (
        ours.seq,
        ours.fingerprint,
        ours.timestamp,
        ours.balance_after,
    )


class _NotLanded(Exception):
    """Internal: a lost commit answer was resolved as 'not committed'; the batch may run again."""


class FirestoreStore(ProfileStore):
    def __init__(
        self,
        project: str,
        database: str = "(default)",
        max_attempts: int = 25,
        *,
        rpc_timeout: float | None = 10.0,
        write_timeout: float = 30.0,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if clock is not None:
            self.clock = clock
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._project = project
        self._database = database
        self._max_attempts = max_attempts
        self._rpc_timeout = rpc_timeout  # cap on each RPC, retries included (None = only the deadline)
        self._write_timeout = write_timeout  # cap on one batch when the caller's deadline is later or absent
        self._client: firestore.AsyncClient | None = None

    # -- lifecycle ------------------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._client is None:
            # Honours FIRESTORE_EMULATOR_HOST by itself. Created here, inside the running event loop.
            self._client = firestore.AsyncClient(project=self._project, database=self._database)

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client._firestore_api.transport.close()  # the client has no public close()

    @property
    def project(self) -> str:
        return self._project

    @property
    def database(self) -> str:
        return self._database

    def change_feed(self) -> ChangeFeed:
        from profile_service.store.firestore_feed import FirestoreChangeFeed  # it imports this module

        return FirestoreChangeFeed(self._project, self._database)

    @property
    def client(self) -> firestore.AsyncClient:
        if self._client is None:
            raise RuntimeError("FirestoreStore.start() has not been called")
        return self._client

    def _user(self, uid: str) -> Any:
        return self.client.collection(USERS).document(uid)

    def _timeout(self, deadline: float | None, cap: float | None = None) -> float | None:
        cap = self._rpc_timeout if cap is None else cap
        if deadline is None:
            return cap
        remaining = max(deadline - time.monotonic(), 0.001)
        return remaining if cap is None else min(cap, remaining)

    def _read_kwargs(self, deadline: float | None = None, cap: float | None = None) -> dict[str, Any]:
        """Reads retry transient errors, but all in all give up after the timeout (the client's default
        retries reads for 300 s)."""
        timeout = self._timeout(deadline, cap)
        if timeout is None:
            return {}
        retry = retry_async.AsyncRetry(
            predicate=retry_async.if_exception_type(
                gexc.ServiceUnavailable, gexc.InternalServerError, gexc.DeadlineExceeded, gexc.ResourceExhausted
            ),
            initial=0.05,
            maximum=1.0,
            multiplier=1.5,
            timeout=timeout,
        )
        return {"retry": retry, "timeout": timeout}

    # -- the transaction's RPCs, each bounded ---------------------------------------------------------------

    async def _begin(self, transaction: AsyncTransaction, retry_id: bytes | None, deadline: float) -> None:
        client = self.client
        response = await client._firestore_api.begin_transaction(
            request={"database": client._database_string, "options": transaction._options_protobuf(retry_id)},
            metadata=client._rpc_metadata,
            retry=None,
            timeout=self._timeout(deadline),
        )
        transaction._id = response.transaction

    async def _commit(self, transaction: AsyncTransaction, deadline: float) -> None:
        client = self.client
        # No resend (retry=None): a resent commit whose first attempt landed is refused as "invalid or
        # closed", which tells nothing. A lost answer is resolved by re-reading instead.
        await client._firestore_api.commit(
            request={
                "database": client._database_string,
                "writes": transaction._write_pbs,
                "transaction": transaction._id,
            },
            metadata=client._rpc_metadata,
            retry=None,
            timeout=self._timeout(deadline),
        )

    async def _rollback(self, transaction_id: bytes | None) -> bool | None:
        """Ends the transaction. True: rolled back (its commit can no longer land); False: the server answered
        that it is not open (committed, aborted or expired); None: no answer. Never raises, so a failed
        rollback cannot hide the error that caused it."""
        if transaction_id is None:
            return True
        client = self.client
        try:
            await client._firestore_api.rollback(
                request={"database": client._database_string, "transaction": transaction_id},
                metadata=client._rpc_metadata,
                retry=None,
                timeout=self._timeout(None, cap=min(self._rpc_timeout or _RESOLVE_BUDGET_S, _RESOLVE_BUDGET_S)),
            )
            return True
        except (gexc.InvalidArgument, gexc.NotFound, gexc.FailedPrecondition, gexc.Aborted) as exc:
            log.debug("rollback: transaction no longer open: %s", exc)
            return False
        except Exception as exc:
            log.warning("rollback failed (ignored; the transaction expires on its own): %r", exc)
            return None

    # -- transactions ---------------------------------------------------------------------------------------

    def _effective_deadline(self, deadline: float | None) -> float:
        own = time.monotonic() + self._write_timeout
        return own if deadline is None else min(deadline, own)

    async def run_batch(self, uid: str, ops: Sequence[WriteOp[Any]], *, deadline: float | None = None) -> BatchWrites:
        end = self._effective_deadline(deadline)
        user_ref = self._user(uid)
        history = user_ref.collection(HISTORY)
        refs = [user_ref, *(history.document(entry_id) for entry_id in read_set(ops))]
        retry_id: bytes | None = None  # the first attempt's id: retries keep its place in line
        attempts = conflicts = 0
        last: BaseException | None = None
        while attempts < self._max_attempts:
            if time.monotonic() >= end:
                raise StoreUnavailable(
                    f"profile store unavailable: deadline reached after {attempts} attempts; nothing was changed"
                ) from last
            attempts += 1
            transaction = self.client.transaction()
            try:
                await self._begin(transaction, retry_id, end)
            except _TRANSIENT as exc:
                last = exc
                await asyncio.sleep(min(0.02 * attempts, 0.5))
                continue
            if retry_id is None:
                retry_id = transaction._id
            try:
                batch = await self._attempt(uid, transaction, user_ref, refs, ops, end)
            except _NotLanded as exc:
                last = exc.__cause__
                continue
            except gexc.AlreadyExists as exc:
                # An entry was created after our read (a concurrent writer won): run again, the new read sees it
                # and the batch answers with it. Repeated conflicts mean a decision wrote an entry its read had
                # not covered: a bug, raised.
                conflicts += 1
                if conflicts > 2:
                    raise
                last = exc
                continue
            except _TRANSIENT as exc:
                # Before any commit (ABORTED read or commit, lost begin/read): nothing written; run again with
                # the same retry id. Lock waits on one document are the server's business, so no long backoff.
                last = exc
                if not isinstance(exc, gexc.Aborted):
                    await asyncio.sleep(min(0.02 * attempts, 0.5))
                continue
            return batch
        raise StoreUnavailable(
            f"profile store unavailable: transaction gave up after {attempts} attempts (contention); "
            "nothing was changed"
        ) from last

    async def _attempt(
        self,
        uid: str,
        transaction: AsyncTransaction,
        user_ref: Any,
        refs: list[Any],
        ops: Sequence[WriteOp[Any]],
        end: float,
    ) -> BatchWrites:
        """One attempt: read, decide, commit. Raises _NotLanded when a lost commit answer proved harmless."""
        try:
            # All reads in one BatchGetDocuments through the transaction (AsyncTransaction.get_all awaits an
            # async generator in 2.34.1 and fails, so the client's get_all is called with transaction=).
            snapshots = {
                snap.reference.path: snap
                async for snap in self.client.get_all(refs, transaction=transaction, **self._read_kwargs(end))
            }
            user_snap = snapshots[user_ref.path]
            profile = profile_from(uid, user_snap.to_dict() or {}) if user_snap.exists else None
            stored = {
                ref.id: entry_from(uid, ref.id, snapshots[ref.path].to_dict() or {})
                for ref in refs[1:]
                if snapshots[ref.path].exists
            }
            batch = apply_batch(profile, stored, ops, self.clock())
            if not batch.writes_anything:
                await self._rollback(transaction._id)  # releases the read locks; its failure changes nothing
                return batch
            # The entries first: the order means nothing to Firestore (a commit is atomic), but a store that
            # applies writes one by one then stops at a duplicate before touching the balance.
            for entry in batch.entries:
                transaction.create(user_ref.collection(HISTORY).document(entry.entry_id), entry_document(entry))
            if batch.profile is not None:
                fields = changed_fields(profile, batch.profile)
                if fields:
                    # merge= the written fields: each is replaced whole (grants and holds are maps whose
                    # removed keys must go), every other field of the document is kept.
                    doc = profile_document(batch.profile, fields)
                    transaction.set(user_ref, doc, merge=list(doc))
        except BaseException:
            await self._rollback(transaction._id)
            raise
        transaction_id = transaction._id
        try:
            await self._commit(transaction, end)
        except Exception as exc:
            if not _commit_outcome_unknown(exc):
                if not isinstance(exc, gexc.Aborted):
                    await self._rollback(transaction_id)
                raise
            landed = await self._resolve(user_ref, transaction_id, batch)
            if landed is True:
                log.info("users/%s: commit answer lost (%r); re-read shows it landed", uid, exc)
                return batch
            if landed is False:
                log.info("users/%s: commit answer lost (%r); re-read shows it did not land", uid, exc)
                raise _NotLanded() from exc
            raise OutcomeUnknown(
                f"profile store unavailable: the outcome of the commit is unknown ({exc.__class__.__name__}); "
                "retry with the same idempotency key"
            ) from exc
        return batch

    async def _resolve(self, user_ref: Any, transaction_id: bytes | None, batch: BatchWrites) -> bool | None:
        """Did a commit whose answer was lost land? True / False / None (could not tell). See the module
        docstring for the rule."""
        rolled_back = await self._rollback(transaction_id)
        refs = [user_ref, *(user_ref.collection(HISTORY).document(e.entry_id) for e in batch.entries)]
        snapshots: dict[str, Any] | None = None
        budget_end = time.monotonic() + _RESOLVE_BUDGET_S
        while snapshots is None and time.monotonic() < budget_end:
            try:
                snapshots = {
                    snap.reference.path: snap
                    async for snap in self.client.get_all(refs, **self._read_kwargs(budget_end, cap=_RESOLVE_BUDGET_S))
                }
            except _TRANSIENT as exc:
                log.warning("re-reading after a lost commit answer failed: %r", exc)
                await asyncio.sleep(0.1)
        if snapshots is None:
            return None
        uid = user_ref.id
        if batch.entries:
            mine = [
                snapshots[ref.path].exists
                and _same_entry(entry_from(uid, ref.id, snapshots[ref.path].to_dict() or {}), entry)
                for ref, entry in zip(refs[1:], batch.entries, strict=True)
            ]
            if all(mine):
                return True
            if any(mine):  # a commit is atomic: this cannot happen
                return None
        else:
            user_snap = snapshots[user_ref.path]
            current = profile_from(uid, user_snap.to_dict() or {}) if user_snap.exists else None
            if current is not None and batch.profile is not None and current == batch.profile:
                return True
        # Absent. Certain when the transaction was rolled back or had ended (a commit that ended it would show).
        return False if rolled_back is not None else None

    # -- reads ----------------------------------------------------------------------------------------------

    async def _guard(self, coro: Any) -> Any:
        try:
            return await coro
        except _TRANSIENT as exc:
            raise StoreUnavailable(f"profile store unavailable: {exc}") from exc

    async def get_profile(self, uid: str) -> Profile | None:
        snap = await self._guard(self._user(uid).get(**self._read_kwargs()))
        return profile_from(uid, snap.to_dict() or {}) if snap.exists else None

    async def get_entry(self, uid: str, entry_id: str) -> LedgerEntry | None:
        ref = self._user(uid).collection(HISTORY).document(entry_id)
        snap = await self._guard(ref.get(**self._read_kwargs()))
        return entry_from(uid, entry_id, snap.to_dict() or {}) if snap.exists else None

    async def list_entries(self, uid: str, before_seq: int | None, limit: int) -> list[LedgerEntry]:
        if limit <= 0:
            return []
        query = self._user(uid).collection(HISTORY)
        if before_seq is not None:
            query = query.where(filter=firestore.FieldFilter("seq", "<", before_seq))
        query = query.order_by("seq", direction=firestore.Query.DESCENDING).limit(limit)
        snaps = await self._guard(query.get(**self._read_kwargs()))
        return [entry_from(uid, s.id, s.to_dict() or {}) for s in snaps]

    async def due_uids(self, now: datetime, limit: int) -> list[str]:
        query = (
            self.client.collection(USERS)
            .where(filter=firestore.FieldFilter(NEXT_DUE, "<=", now.astimezone(UTC)))
            .order_by(NEXT_DUE)
            .limit(limit)
        )
        snaps = await self._guard(query.get(**self._read_kwargs()))
        return [s.id for s in snaps]

    async def audit_rows(self) -> AsyncIterator[AuditRow]:
        """Every user document, and every ledger whose user document is gone: list_documents shows "missing"
        parents, i.e. ids with subcollections but no document."""
        refs = self.client.collection(USERS).list_documents(page_size=_AUDIT_PAGE, **self._read_kwargs())
        async for ref in refs:
            yield await self._guard(self._audit_user(ref.id))

    async def _audit_user(self, uid: str) -> AuditRow:
        """One user's profile and ledger summary, read in one read-only transaction (one consistent snapshot)."""
        user_ref = self._user(uid)
        history = user_ref.collection(HISTORY)
        kwargs = self._read_kwargs()

        async def body(transaction: AsyncTransaction) -> AuditRow:
            snap = await user_ref.get(transaction=transaction, **kwargs)
            profile = profile_from(uid, snap.to_dict() or {}) if snap.exists else None
            totals = (
                await history.count(alias="count")
                .sum("amount", alias="sum")
                .sum("debt_added", alias="debt_added")
                .sum("debt_settled", alias="debt_settled")
                .get(transaction=transaction, **kwargs)
            )
            by_alias = {result.alias: result.value for result in totals[0]}
            newest = (
                await history.order_by("seq", direction=firestore.Query.DESCENDING)
                .limit(1)
                .get(transaction=transaction, **kwargs)
            )
            newest_balance = int(newest[0].get("balance_after")) if newest else None
            return AuditRow(
                uid,
                profile.tokens if profile else 0,
                int(by_alias.get("sum") or 0),
                int(by_alias.get("count") or 0),
                newest_balance,
                profile_exists=profile is not None,
                ledger_seq=profile.ledger_seq if profile else None,
                debt=profile.debt if profile else None,
                entries_debt=int(by_alias.get("debt_added") or 0) - int(by_alias.get("debt_settled") or 0),
                grants_remaining=sum(g.remaining for g in profile.grants) if profile else None,
                held=grants.held(profile) if profile else None,
            )

        transaction = self.client.transaction(read_only=True)
        result: AuditRow = await firestore.async_transactional(body)(transaction)
        return result

"""Firestore store: the original layout, made exactly-once.

users/{uid}                           the profile, with the original field names (plus entitlements_as_of and
                                      ledger_seq). Written with set(merge=True), so fields other apps keep on
                                      the user document survive.
users/{uid}/token_history/{entry_id}  one document per ledger entry (never an array): amount, type, timestamp,
                                      balance_after, idempotency_key, source, seq, fingerprint, reason, shortfall.
                                      entry_id is derived from the idempotency key, and entries are written with
                                      create(), so a key can be applied at most once.

Every change is one Firestore transaction that reads the profile and the entry, calls the pure decide function
and writes what it returns. The transaction body has no other side effect because Firestore retries it.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from google.api_core import exceptions as gexc
from google.api_core import retry_async
from google.cloud import firestore
from google.cloud.firestore_v1.async_transaction import AsyncTransaction
from google.cloud.firestore_v1.base_query import FieldFilter
from google.cloud.firestore_v1.field_path import FieldPath

from profile_service.domain.errors import DomainError, StoreUnavailable
from profile_service.domain.model import EntryType, LedgerEntry, Profile
from profile_service.store.base import AuditRow, Decide, ProfileStore

USERS = "users"
HISTORY = "token_history"

_PROFILE_FIELDS = tuple(f.name for f in dataclasses.fields(Profile) if f.name != "uid")  # uid is the doc id
_TIME_FIELDS = frozenset({"created_at", "last_login", "purchase_date", "current_period_end", "entitlements_as_of"})
_AUDIT_PAGE = 300

# The store cannot answer (now): nothing of this call is known to be committed. Callers may retry; ledger
# changes are idempotent through their key.
_UNAVAILABLE = (
    gexc.ServiceUnavailable,
    gexc.DeadlineExceeded,
    gexc.InternalServerError,
    gexc.ResourceExhausted,
    gexc.RetryError,
)


def _utc(value: Any) -> datetime | None:
    """Firestore timestamps come back as DatetimeWithNanoseconds; hand out plain aware UTC datetimes."""
    if value is None:
        return None
    value = value.astimezone(UTC)
    return datetime(
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
        value.microsecond,
        tzinfo=UTC,
    )


def _stored_time(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


def profile_document(profile: Profile) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    for name in _PROFILE_FIELDS:
        value = getattr(profile, name)
        doc[name] = _stored_time(value) if name in _TIME_FIELDS else value
    return doc


def profile_from(uid: str, doc: dict[str, Any]) -> Profile:
    # Tolerant of documents that predate this service: missing fields take the model's defaults.
    values: dict[str, Any] = {"uid": uid}
    for name in _PROFILE_FIELDS:
        if name not in doc:
            continue
        value = doc[name]
        if name in _TIME_FIELDS:
            value = _utc(value)
        elif value is None:
            continue
        values[name] = value
    return Profile(**values)


def entry_document(entry: LedgerEntry) -> dict[str, Any]:
    return {
        "amount": entry.amount,
        "type": entry.type.value,
        "timestamp": _stored_time(entry.timestamp),
        "balance_after": entry.balance_after,
        "idempotency_key": entry.idempotency_key,
        "source": dict(entry.source),
        "seq": entry.seq,
        "fingerprint": entry.fingerprint,
        "reason": entry.reason,
        "shortfall": entry.shortfall,
    }


def entry_from(uid: str, entry_id: str, doc: dict[str, Any]) -> LedgerEntry:
    return LedgerEntry(
        entry_id=entry_id,
        uid=uid,
        seq=int(doc["seq"]),
        amount=int(doc["amount"]),
        type=EntryType(doc["type"]),
        timestamp=_utc(doc["timestamp"]),
        balance_after=int(doc["balance_after"]),
        idempotency_key=doc["idempotency_key"],
        fingerprint=doc["fingerprint"],
        source={str(k): str(v) for k, v in (doc.get("source") or {}).items()},
        reason=doc.get("reason") or "",
        shortfall=int(doc.get("shortfall") or 0),
    )


def _in_chain(exc: BaseException, kinds: type | tuple[type, ...]) -> BaseException | None:
    """The first exception of `kinds` in exc's cause/context chain. The client wraps "too many attempts" in a
    ValueError, and a failed rollback can hide the error that caused it."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kinds):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


class FirestoreStore(ProfileStore):
    def __init__(
        self, project: str, database: str = "(default)", max_attempts: int = 25, *, rpc_timeout: float | None = 30.0
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._project = project
        self._database = database
        self._max_attempts = max_attempts
        self._rpc_timeout = rpc_timeout  # per read RPC; commits use the client's defaults
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

    @property
    def client(self) -> firestore.AsyncClient:
        if self._client is None:
            raise RuntimeError("FirestoreStore.start() has not been called")
        return self._client

    def _user(self, uid: str):
        return self.client.collection(USERS).document(uid)

    def _kwargs(self) -> dict[str, Any]:
        """Read RPCs give up after rpc_timeout in all (the client's default retries reads for 300 s)."""
        if self._rpc_timeout is None:
            return {}
        retry = retry_async.AsyncRetry(
            predicate=retry_async.if_exception_type(
                gexc.ServiceUnavailable, gexc.InternalServerError, gexc.DeadlineExceeded, gexc.ResourceExhausted
            ),
            initial=0.1,
            maximum=2.0,
            multiplier=1.5,
            timeout=self._rpc_timeout,
        )
        return {"retry": retry, "timeout": self._rpc_timeout}

    # -- transactions ---------------------------------------------------------------------------------------

    async def transact(self, uid: str, entry_id: str | None, decide: Decide) -> object:
        user_ref = self._user(uid)
        entry_ref = user_ref.collection(HISTORY).document(entry_id) if entry_id is not None else None
        read_kwargs = self._kwargs()
        attempts = 0

        async def body(transaction: AsyncTransaction) -> object:
            nonlocal attempts
            attempts += 1
            refs = [user_ref] if entry_ref is None else [user_ref, entry_ref]
            # Both reads in one BatchGetDocuments through the transaction (AsyncTransaction.get_all awaits an
            # async generator in 2.34.1 and fails, so the client's get_all is called with transaction=).
            snapshots = {
                snap.reference.path: snap
                async for snap in self.client.get_all(refs, transaction=transaction, **read_kwargs)
            }
            user_snap = snapshots[user_ref.path]
            profile = profile_from(uid, user_snap.to_dict()) if user_snap.exists else None
            prior = None
            if entry_ref is not None:
                entry_snap = snapshots[entry_ref.path]
                if entry_snap.exists:
                    prior = entry_from(uid, entry_ref.id, entry_snap.to_dict())
            writes = decide(profile, prior, datetime.now(UTC))
            # The entry first: the order means nothing to Firestore (a commit is atomic), but a store that
            # applies writes one by one then stops at a duplicate before touching the balance.
            if writes.entry is not None:
                new_ref = user_ref.collection(HISTORY).document(writes.entry.entry_id)
                transaction.create(new_ref, entry_document(writes.entry))
            if writes.profile is not None:
                transaction.set(user_ref, profile_document(writes.profile), merge=True)
            return writes.result

        run = firestore.async_transactional(body)
        last: BaseException | None = None
        conflicted = False
        while attempts < self._max_attempts:
            transaction = self.client.transaction(max_attempts=self._max_attempts - attempts)
            try:
                return await run(transaction)
            except DomainError:
                raise  # from decide: rolled back, unchanged
            except Exception as exc:
                if isinstance(exc, ValueError) and _in_chain(exc, gexc.Aborted) is not None:
                    # The client retried ABORTED commits max_attempts times.
                    raise StoreUnavailable(
                        f"profile store unavailable: transaction aborted {attempts} times (contention)"
                    ) from exc
                if _in_chain(exc, gexc.AlreadyExists) is not None and not conflicted:
                    # The entry was created after our read (a concurrent transaction won): run once more, the
                    # new read sees the winner's entry and decide answers with it. A second conflict is a bug
                    # in decide (it wrote an entry that its read had seen): raise it.
                    conflicted = True
                    last = exc
                    continue
                if _in_chain(exc, gexc.Aborted) is not None:
                    # ABORTED on a read (the client itself only retries ABORTED commits): run again.
                    last = exc
                    await asyncio.sleep(min(0.01 * attempts, 0.2))
                    continue
                unavailable = _in_chain(exc, _UNAVAILABLE)
                if unavailable is not None:
                    raise StoreUnavailable(f"profile store unavailable: {unavailable}") from exc
                raise
        raise StoreUnavailable(f"profile store unavailable: transaction gave up after {attempts} attempts") from last

    # -- reads ----------------------------------------------------------------------------------------------

    async def _read(self, coro):
        try:
            return await coro
        except _UNAVAILABLE as exc:
            raise StoreUnavailable(f"profile store unavailable: {exc}") from exc

    async def get_profile(self, uid: str) -> Profile | None:
        snap = await self._read(self._user(uid).get(**self._kwargs()))
        return profile_from(uid, snap.to_dict()) if snap.exists else None

    async def list_entries(self, uid: str, before_seq: int | None, limit: int) -> list[LedgerEntry]:
        if limit <= 0:
            return []
        query = self._user(uid).collection(HISTORY)
        if before_seq is not None:
            query = query.where(filter=FieldFilter("seq", "<", before_seq))
        query = query.order_by("seq", direction=firestore.Query.DESCENDING).limit(limit)
        snaps = await self._read(query.get(**self._kwargs()))
        return [entry_from(uid, s.id, s.to_dict()) for s in snaps]

    async def audit_rows(self) -> AsyncIterator[AuditRow]:
        users = self.client.collection(USERS)
        last_id: str | None = None
        while True:
            query = users.order_by(FieldPath.document_id()).limit(_AUDIT_PAGE)
            if last_id is not None:
                query = query.start_after({FieldPath.document_id(): last_id})
            page = await self._read(query.get(**self._kwargs()))
            if last_id is not None and any(snap.id <= last_id for snap in page):
                # Firestore returns ids in ascending order after the cursor. A backend that ignores the cursor
                # or the order (the npm emulator ignores both) would make this loop forever.
                raise RuntimeError("the Firestore backend ignored order_by(__name__)/start_after; cannot page users")
            for snap in page:
                yield await self._read(self._audit_user(snap.id))
            if len(page) < _AUDIT_PAGE:
                return
            last_id = page[-1].id

    async def _audit_user(self, uid: str) -> AuditRow:
        """One user's profile and ledger summary, read in one read-only transaction (one consistent snapshot)."""
        user_ref = self._user(uid)
        history = user_ref.collection(HISTORY)
        kwargs = self._kwargs()

        async def body(transaction: AsyncTransaction) -> AuditRow:
            snap = await user_ref.get(transaction=transaction, **kwargs)
            tokens = int((snap.to_dict() or {}).get("tokens") or 0) if snap.exists else 0
            totals = (
                await history.count(alias="count").sum("amount", alias="sum").get(transaction=transaction, **kwargs)
            )
            by_alias = {result.alias: result.value for result in totals[0]}
            newest = (
                await history.order_by("seq", direction=firestore.Query.DESCENDING)
                .limit(1)
                .get(transaction=transaction, **kwargs)
            )
            newest_balance = int(newest[0].get("balance_after")) if newest else None
            return AuditRow(uid, tokens, int(by_alias.get("sum") or 0), int(by_alias.get("count") or 0), newest_balance)

        transaction = self.client.transaction(read_only=True)
        return await firestore.async_transactional(body)(transaction)

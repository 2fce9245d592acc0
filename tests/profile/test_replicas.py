"""Two profile services on one store (two Firestore clients on one project; two SQLite connections on one file),
as two replicas behind a load balancer: concurrent grants and spends for the same users through both, some keys
sent to both at once. Every invariant holds: balance == sum of entries, never negative, each key once, first
result replayed, the audit passes; and with a generous deadline no call ends UNAVAILABLE (contention between
replicas is retried inside the deadline)."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import Counter

import grpc

from profile_service.audit import run_audit
from service_kit.rich_errors import details_of
from tests.support.profile_server import run_profile_service
from tokens.profile.v1 import profile_service_pb2 as pb

USERS = 3
SEED = 60
OPS_PER_REPLICA = 90
SHARED_KEYS = 20  # sent to both replicas at the same time
DEADLINE_S = 60.0


def twin_stores(make_store, backend: str):
    """Two store objects over the same data."""
    first = make_store("replicas")
    if backend == "sqlite":
        from profile_service.store.sqlite_store import SqliteStore

        return first, SqliteStore(first._path)
    from profile_service.store.firestore_store import FirestoreStore

    return first, FirestoreStore(project=first.project)


async def test_two_replicas_keep_every_invariant(make_store, backend):
    rng = random.Random(11)
    stores = twin_stores(make_store, backend)
    async with contextlib.AsyncExitStack() as stack:
        replicas = [await stack.enter_async_context(run_profile_service(store)) for store in stores]
        users = [f"replica-user-{i}" for i in range(USERS)]
        for uid in users:
            await replicas[0].stub.CreateProfile(pb.CreateProfileRequest(uid=uid, email=f"{uid}@example.com"))
            await replicas[1].stub.GrantTokens(
                pb.GrantTokensRequest(
                    uid=uid, amount=SEED, type=pb.TOKEN_ENTRY_TYPE_PROMOTIONAL, idempotency_key="seed"
                )
            )

        # (replica index, method, request); the shared keys go to both replicas with identical requests.
        calls = []
        for r in range(2):
            for i in range(OPS_PER_REPLICA):
                uid = users[rng.randrange(USERS)]
                key = f"r{r}-op{i}"
                if rng.random() < 0.45:
                    req = pb.GrantTokensRequest(
                        uid=uid, amount=rng.randint(1, 5), type=pb.TOKEN_ENTRY_TYPE_PURCHASE, idempotency_key=key
                    )
                    calls.append((r, "GrantTokens", req))
                else:
                    calls.append(
                        (
                            r,
                            "SpendTokens",
                            pb.SpendTokensRequest(uid=uid, amount=rng.randint(1, 6), idempotency_key=key),
                        )
                    )
        for i in range(SHARED_KEYS):
            uid = users[i % USERS]
            if i % 2:
                req = pb.GrantTokensRequest(
                    uid=uid, amount=3, type=pb.TOKEN_ENTRY_TYPE_PURCHASE, idempotency_key=f"shared-{i}"
                )
                method = "GrantTokens"
            else:
                req = pb.SpendTokensRequest(uid=uid, amount=2, idempotency_key=f"shared-{i}")
                method = "SpendTokens"
            calls += [(0, method, req), (1, method, req)]
        rng.shuffle(calls)

        async def send(replica: int, method: str, request):
            try:
                return await getattr(replicas[replica].stub, method)(request, timeout=DEADLINE_S), None
            except grpc.aio.AioRpcError as exc:
                return None, exc

        results = await asyncio.gather(*(send(*c) for c in calls))

        outcomes = Counter()
        by_key: dict[str, list] = {}
        uid_of: dict[str, str] = {}
        for (_replica, _method, request), (reply, error) in zip(calls, results, strict=True):
            if error is None:
                outcomes["OK"] += 1
                by_key.setdefault(request.idempotency_key, []).append(reply)
                uid_of[request.idempotency_key] = request.uid
                continue
            info = details_of(error)
            outcomes[f"{info.code.name}:{info.reason}"] += 1
        unexpected = {k: v for k, v in outcomes.items() if k not in ("OK", "FAILED_PRECONDITION:INSUFFICIENT_TOKENS")}
        assert not unexpected, f"outcomes {dict(outcomes)}"

        # A key answered twice (both replicas) was applied once: both answers carry the same entry.
        for key, replies in by_key.items():
            assert len({r.entry.entry_id for r in replies}) == 1, key
            assert sum(not r.already_applied for r in replies) <= 1, key

        reader = replicas[0].stub
        for uid in users:
            balance = (await reader.GetProfile(pb.GetProfileRequest(uid=uid))).profile.tokens
            entries, token = [], ""
            while True:
                page = await reader.ListTokenHistory(
                    pb.ListTokenHistoryRequest(uid=uid, page_size=100, page_token=token)
                )
                entries += page.entries
                token = page.next_page_token
                if not token:
                    break
            keys = [e.idempotency_key for e in entries]
            assert len(keys) == len(set(keys)), f"{uid}: a key was applied twice"
            assert balance == sum(e.amount for e in entries) >= 0
            assert all(e.balance_after >= 0 for e in entries)
            applied = {k for k, owner in uid_of.items() if owner == uid} | {"seed"}
            assert set(keys) == applied, f"{uid}: acknowledged keys and stored entries differ"
        assert await run_audit(replicas[0].store) == 0

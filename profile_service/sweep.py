"""The expiry sweeper: writes what time did (EXPIRY entries, allowance rollovers, releases of expired holds)
for every user with something due. `python -m profile_service sweep` runs it once; the service runs it every
EXPIRY_SWEEP_INTERVAL_S (0 = never; reads and every write are correct without it, the sweeper only makes the
ledger show expiries without waiting for the user's next write).

Finding the work is one index range, not a scan: each user document carries `next_due` (the soonest expiry
of its grants and holds, kept by the stores), and the sweeper asks for users whose next_due has passed, in
pages. Each user is then one ordinary ledger transaction (domain.holds.sweep), exactly once per grant and hold
through their keys, so a sweep racing the service, another sweep or a crash is harmless."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TextIO

from profile_service.domain import holds
from profile_service.domain.errors import DomainError
from profile_service.store.base import ProfileStore
from service_kit.periodic import periodic

log = logging.getLogger(__name__)
PAGE = 200

# (uid) -> entries written; the service passes its write queue, the CLI the store.
SweepUser = Callable[[str], Awaitable[int]]


@dataclass(frozen=True)
class SweepReport:
    users: int
    entries: int
    failed: int


def store_sweeper(store: ProfileStore) -> SweepUser:
    async def one(uid: str) -> int:
        result: int = await store.transact(uid, None, lambda profile, _e, now: holds.sweep(profile, now))
        return result

    return one


async def sweep(store: ProfileStore, sweep_user: SweepUser | None = None) -> SweepReport:
    one = sweep_user or store_sweeper(store)
    now = store.clock()
    users = entries = failed = 0
    seen: set[str] = set()
    while True:
        uids = [uid for uid in await store.due_uids(now, PAGE) if uid not in seen]
        if not uids:  # none due, or only users that failed this run (retried next run)
            break
        for uid in uids:
            seen.add(uid)
            try:
                written = await one(uid)
            except DomainError as exc:  # store unavailable for this user: the next run tries again
                failed += 1
                log.warning("sweep of one user failed", extra={"fields": {"uid": uid, "error": repr(exc)}})
                continue
            users += 1 if written else 0
            entries += written
    return SweepReport(users, entries, failed)


async def run_sweep(store: ProfileStore, out: TextIO = sys.stdout) -> int:
    report = await sweep(store)
    print(f"sweep: {report.entries} entries written for {report.users} users, {report.failed} failed", file=out)
    return 1 if report.failed else 0


@contextlib.asynccontextmanager
async def background_sweeper(
    store: ProfileStore, interval_s: float, sweep_user: SweepUser | None = None
) -> AsyncIterator[asyncio.Task[None] | None]:
    """The sweeper while the block runs, when interval_s > 0 (None otherwise); stopped on exit."""

    async def once() -> None:
        report = await sweep(store, sweep_user)
        if report.entries or report.failed:
            log.info(
                "expiry sweep",
                extra={"fields": {"users": report.users, "entries": report.entries, "failed": report.failed}},
            )

    async with periodic(once, interval_s, "expiry sweep") as task:
        yield task

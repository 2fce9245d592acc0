"""WatchProfile's engine: each watcher re-reads the user's profile whenever something says it may have changed,
and hands it on when it differs from what it handed on last.

What says so:
- this process's own writes: the servicer calls `changed(uid)` after every write it made for that user
  (answered after commit, whatever the outcome: a spurious wake-up costs one read, a missed one a stale page);
- other processes: the store's change feed when it has one (Firestore: a listener on users/{uid}, so a change
  committed by any replica arrives within about a second);
- a poll every PROFILE_WATCH_POLL_S, for stores without a feed (SQLite shared by several processes) and as a
  safety net behind a feed.

A watcher clears its wake-up flag before it reads, so a change committed while it reads wakes it again: no
change is ever missed, at worst one is read twice. One feed subscription per user per process, shared by all
of that user's watchers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from profile_service.domain.errors import ProfileNotFound
from profile_service.domain.model import Profile
from profile_service.store.base import ChangeFeed, ProfileStore

log = logging.getLogger(__name__)


class ProfileWatch:
    def __init__(self, store: ProfileStore, *, poll_s: float, feed: ChangeFeed | None = None) -> None:
        self._store = store
        self._poll_s = poll_s
        self._feed = feed
        self._watchers: dict[str, set[asyncio.Event]] = {}
        self._unsubscribe: dict[str, Callable[[], None]] = {}

    @property
    def watched_users(self) -> int:
        return len(self._watchers)

    def changed(self, uid: str) -> None:
        """The profile of `uid` may have changed: wake its watchers. Event-loop thread only."""
        for event in self._watchers.get(uid, ()):
            event.set()

    async def watch(self, uid: str) -> AsyncIterator[Profile]:
        """The profile now, then each time it differs from the last one yielded. Raises ProfileNotFound when
        there is no profile (at the start, or later if it is deleted)."""
        event = asyncio.Event()
        self._add(uid, event)
        try:
            last: Profile | None = None
            while True:
                event.clear()
                profile = await self._store.get_profile(uid)
                if profile is None:
                    raise ProfileNotFound(uid)
                if profile != last:
                    last = profile
                    yield profile
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), self._poll_s)
        finally:
            self._remove(uid, event)

    def _add(self, uid: str, event: asyncio.Event) -> None:
        watchers = self._watchers.setdefault(uid, set())
        watchers.add(event)
        if len(watchers) == 1 and self._feed is not None:
            loop = asyncio.get_running_loop()

            def from_feed() -> None:  # called on the feed's own thread
                loop.call_soon_threadsafe(self.changed, uid)

            try:
                self._unsubscribe[uid] = self._feed.subscribe(uid, from_feed)
            except Exception:  # the poll still serves the watcher
                log.exception("change feed subscription failed; polling only")

    def _remove(self, uid: str, event: asyncio.Event) -> None:
        watchers = self._watchers.get(uid)
        if watchers is None:
            return
        watchers.discard(event)
        if not watchers:
            del self._watchers[uid]
            unsubscribe = self._unsubscribe.pop(uid, None)
            if unsubscribe is not None:
                try:
                    unsubscribe()
                except Exception:
                    log.exception("change feed unsubscribe failed")

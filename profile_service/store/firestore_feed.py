"""Firestore's change feed for WatchProfile: a snapshot listener on users/{uid}, so a change committed by any
replica (or any other writer of the document) wakes this process's watchers of that user.

The async client has no listeners (on_snapshot exists only on the synchronous client, which runs each listen
stream on a background thread), so the feed keeps one synchronous client of its own, made on first use. The
listener only says "changed"; the watcher then reads the profile through the store as usual.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from google.cloud import firestore

from profile_service.store.firestore_store import USERS


class FirestoreChangeFeed:
    def __init__(self, project: str, database: str) -> None:
        self._project = project
        self._database = database
        self._client: firestore.Client | None = None
        self._lock = threading.Lock()

    def _document(self, uid: str) -> Any:
        with self._lock:
            if self._client is None:
                # Honours FIRESTORE_EMULATOR_HOST by itself, like the store's async client.
                self._client = firestore.Client(project=self._project, database=self._database)
            return self._client.collection(USERS).document(uid)

    def subscribe(self, uid: str, on_change: Callable[[], None]) -> Callable[[], None]:
        def on_snapshot(_snapshots: Any, _changes: Any, _read_time: Any) -> None:
            on_change()

        listener = self._document(uid).on_snapshot(on_snapshot)

        def unsubscribe() -> None:
            # Closing joins the listener's thread: not on the caller's (event loop) thread.
            threading.Thread(target=listener.unsubscribe, name="firestore-unwatch", daemon=True).start()

        return unsubscribe

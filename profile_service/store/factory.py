from __future__ import annotations

from profile_service.settings import ProfileSettings
from profile_service.store.base import ProfileStore


def build_store(settings: ProfileSettings) -> ProfileStore:
    if settings.profile_store == "firestore":
        from profile_service.store.firestore_store import FirestoreStore  # imported only when used

        return FirestoreStore(
            project=settings.google_cloud_project,
            database=settings.firestore_database,
            max_attempts=settings.firestore_max_attempts,
            rpc_timeout=settings.firestore_rpc_timeout_s,
            write_timeout=settings.profile_write_timeout_s,
        )
    from profile_service.store.sqlite_store import SqliteStore

    return SqliteStore(settings.sqlite_path, busy_timeout_ms=settings.sqlite_busy_timeout_ms)

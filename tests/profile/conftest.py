"""The profile contract suite runs against every store: SQLite, and Firestore through the npm
@firestore-emulator/server (wire-level only: it does not isolate transactions, see
shared/reference/firestore-node-emulator.md), or a faithful Firestore when FIRESTORE_EMULATOR_HOST is set."""

from __future__ import annotations

import uuid

import pytest

from profile_service.store.sqlite_store import SqliteStore
from tests.support.profile_server import run_profile_service

NODE_EMULATOR_LIMIT = (
    "@firestore-emulator/server does not isolate transactions or make batches atomic "
    "(shared/reference/firestore-node-emulator.md); set FIRESTORE_EMULATOR_HOST to a faithful emulator to run this"
)


@pytest.fixture(scope="session")
def firestore_host():
    """A Firestore endpoint for the suite: a faithful one from the environment, else the node emulator."""
    from tests.support import firestore_emulator

    faithful = firestore_emulator.faithful_firestore_host()
    if faithful:
        yield faithful, True
        return
    try:
        handle = firestore_emulator.start_firestore_emulator()
    except Exception as exc:
        pytest.skip(f"Firestore emulator unavailable: {exc}")
    try:
        yield handle.host, False
    finally:
        handle.stop()


@pytest.fixture(params=["sqlite", "firestore"])
def backend(request) -> str:
    return request.param


@pytest.fixture
def faithful_isolation(request, backend) -> None:
    """Use in tests that need real transaction isolation: skips on the node emulator."""
    if backend == "firestore":
        _host, faithful = request.getfixturevalue("firestore_host")
        if not faithful:
            pytest.skip(NODE_EMULATOR_LIMIT)


@pytest.fixture
async def profile(request, backend, tmp_path, monkeypatch):
    """The real profile service over gRPC, on the store named by `backend`."""
    if backend == "sqlite":
        store = SqliteStore(tmp_path / "profile.sqlite3")
    else:
        host, _faithful = request.getfixturevalue("firestore_host")
        monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", host)
        from profile_service.store.firestore_store import FirestoreStore

        store = FirestoreStore(project=f"test-{uuid.uuid4().hex[:10]}")
    async with run_profile_service(store) as running:
        yield running

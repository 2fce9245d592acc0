"""The profile contract suite runs against every store: SQLite, and Firestore on Google's emulator (started once
per test run by tests/support/firestore_emulator.py; every test gets its own project id). Where the emulator
is not installed, the Firestore cases skip and say so."""

from __future__ import annotations

import pytest

from profile_service.store.sqlite_store import SqliteStore
from tests.support.firestore_emulator import firestore_endpoint, fresh_project_id
from tests.support.profile_server import run_profile_service


@pytest.fixture(scope="session")
def firestore_host():
    """FIRESTORE_EMULATOR_HOST of Google's emulator (or the user's own), shared by the whole run."""
    with firestore_endpoint() as host:
        yield host


@pytest.fixture(params=["sqlite", "firestore"])
def backend(request) -> str:
    return request.param


@pytest.fixture
def make_store(request, backend, tmp_path, monkeypatch):
    """Builds a fresh, unstarted store of the `backend` kind (SQLite file or Firestore project of its own)."""

    def make(name: str = "profile"):
        if backend == "sqlite":
            return SqliteStore(tmp_path / f"{name}.sqlite3")
        from profile_service.store.firestore_store import FirestoreStore

        monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", request.getfixturevalue("firestore_host"))
        return FirestoreStore(project=fresh_project_id())

    return make


@pytest.fixture
async def profile(make_store):
    """The real profile service over gRPC, on the store named by `backend`."""
    async with run_profile_service(make_store()) as running:
        yield running

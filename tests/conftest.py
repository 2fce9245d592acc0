"""Fixtures shared across the suite. Area-specific fixtures live in tests/<area>/conftest.py."""

from __future__ import annotations

import uuid

import pytest

from profile_service.store.sqlite_store import SqliteStore
from tests.support.profile_server import run_profile_service


@pytest.fixture
def uid() -> str:
    return f"user-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def sqlite_profile(tmp_path):
    """The real profile service over gRPC on a fresh SQLite file."""
    async with run_profile_service(SqliteStore(tmp_path / "profile.sqlite3")) as running:
        yield running

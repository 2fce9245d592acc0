"""Google's Firestore emulator in the test fixtures (the launcher itself is devtools/firestore_emulator.py).

* `firestore_endpoint()` is what fixtures use: a FIRESTORE_EMULATOR_HOST the user exported wins; otherwise one
  emulator per test process, started on first use and stopped when the last user releases it (or at exit).
  When the emulator is not installed it skips with the reason.
* `fresh_project_id()`: the emulator keeps state per project id, so one id per test isolates tests.

The client finds the emulator through FIRESTORE_EMULATOR_HOST, which a test sets (monkeypatch.setenv or
`emulator_env`) to the host it uses.
"""

from __future__ import annotations

import contextlib
import os
import threading
import uuid
from collections.abc import Iterator

from devtools.firestore_emulator import ENV_VAR, EmulatorHandle, FirestoreEmulatorUnavailable, start_firestore_emulator

# One emulator per test process, shared by every fixture that asks (tests/profile, tests/reliability).
_shared: EmulatorHandle | None = None
_users = 0
_lock = threading.Lock()


def acquire_shared() -> str:
    """The host of this process's emulator, starting it on first use."""
    global _shared, _users
    with _lock:
        if _shared is None or not _shared.running:
            _shared = start_firestore_emulator()
        _users += 1
        return _shared.host


def release_shared() -> None:
    global _shared, _users
    with _lock:
        _users -= 1
        if _users <= 0 and _shared is not None:
            _shared.stop()
            _shared, _users = None, 0


def user_emulator_host() -> str | None:
    """FIRESTORE_EMULATOR_HOST the user exported before the tests started: it overrides the started emulator."""
    return _USER_HOST


_USER_HOST = os.environ.get(ENV_VAR, "").strip() or None  # read at import, before any fixture sets it


@contextlib.contextmanager
def firestore_endpoint() -> Iterator[str]:
    """pytest-friendly: yields the FIRESTORE_EMULATOR_HOST to use. Skips the test (saying why) when Google's
    emulator is not installed. Meant for a session-scoped sync fixture:

        @pytest.fixture(scope="session")
        def firestore_host():
            with firestore_endpoint() as host:
                yield host
    """
    import pytest

    if _USER_HOST:
        yield _USER_HOST
        return
    try:
        host = acquire_shared()
    except FirestoreEmulatorUnavailable as exc:
        pytest.skip(str(exc))
    try:
        yield host
    finally:
        release_shared()


def fresh_project_id(prefix: str = "test") -> str:
    """A project id nobody used yet: emulator state is per project, so this isolates a test."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@contextlib.contextmanager
def emulator_env(host: str) -> Iterator[str]:
    """Sets FIRESTORE_EMULATOR_HOST for the block and restores the previous value (or its absence)."""
    previous = os.environ.get(ENV_VAR)
    os.environ[ENV_VAR] = host
    try:
        yield host
    finally:
        if previous is None:
            os.environ.pop(ENV_VAR, None)
        else:
            os.environ[ENV_VAR] = previous

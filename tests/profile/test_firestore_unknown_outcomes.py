"""Commits whose outcome the client cannot know, injected at the Firestore client's transport (firestore_faults.py)
under the client's own retries, on Google's emulator, and observed through gRPC like a backend caller would:

* a commit that landed but whose answer was lost (DEADLINE_EXCEEDED, UNAVAILABLE followed by the client's resend
  being refused as "Transaction is invalid or closed", CANCELLED, UNKNOWN) is answered OK with its entry, and a
  retry with the same key replays it: the balance counts it once;
* a commit that did not land is answered with a retryable status (UNAVAILABLE / DEADLINE_EXCEEDED), and a retry
  with the same key applies it exactly once;
* never INTERNAL; a failed rollback does not hide the domain error; a hanging begin/commit ends with the caller's
  deadline and does not hold up the next call for the same user.

Run with the per-user write queue on (the default) and off (PROFILE_WRITE_QUEUE=false)."""

from __future__ import annotations

import asyncio
import contextlib
import time

import grpc
import pytest
from google.api_core import exceptions as gexc

from profile_service.audit import run_audit
from profile_service.settings import ProfileSettings
from service_kit.rich_errors import details_of
from tests.profile.firestore_faults import Hang, TransportFaults, hangs, landed_then, refused
from tests.support.firestore_emulator import fresh_project_id
from tests.support.profile_server import run_profile_service
from tokens.profile.v1 import profile_service_pb2 as pb

RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}
CALL_DEADLINE_S = 15.0  # generous: room to re-read under the key before answering
SEED = 100
UID = "faulty-user"

LOST_ANSWERS = {
    "deadline_exceeded": lambda: gexc.DeadlineExceeded("injected: commit landed, answer lost"),
    # The client resends after UNAVAILABLE; the emulator refuses the resend: "Transaction is invalid or closed".
    "unavailable_then_resend_refused": lambda: gexc.ServiceUnavailable("injected: connection reset after commit"),
    "cancelled": lambda: gexc.Cancelled("injected: commit landed, call cancelled"),
    "unknown": lambda: gexc.Unknown("injected: commit landed, unknown error"),
}
NOT_LANDED = {
    "unavailable": lambda: gexc.ServiceUnavailable("injected: commit did not reach Firestore"),
    "deadline_exceeded": lambda: gexc.DeadlineExceeded("injected: commit did not reach Firestore"),
    "cancelled": lambda: gexc.Cancelled("injected: commit did not reach Firestore"),
    "unknown": lambda: gexc.Unknown("injected: commit did not reach Firestore"),
}


def profile_settings(write_queue: bool) -> ProfileSettings:
    assert "profile_write_queue" in ProfileSettings.model_fields, "ProfileSettings has no PROFILE_WRITE_QUEUE"
    return ProfileSettings(_env_file=None, profile_write_queue=write_queue)


@pytest.fixture(params=[True, False], ids=["queue", "no-queue"])
def write_queue(request) -> bool:
    return request.param


@pytest.fixture
async def service(firestore_host, monkeypatch, write_queue):
    """(running service, faults) on a fresh Firestore project with one user holding SEED tokens."""
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", firestore_host)
    from profile_service.store.firestore_store import FirestoreStore

    store = FirestoreStore(project=fresh_project_id("faults"))
    async with run_profile_service(store, profile_settings(write_queue)) as running:
        faults = TransportFaults(store)
        try:
            await running.stub.CreateProfile(pb.CreateProfileRequest(uid=UID, email="f@example.com"))
            await running.stub.GrantTokens(
                pb.GrantTokensRequest(
                    uid=UID, amount=SEED, type=pb.TOKEN_ENTRY_TYPE_PROMOTIONAL, idempotency_key="seed"
                )
            )
            yield running, faults
        finally:
            faults.uninstall()


def change(op: str, key: str, amount: int = 7):
    """(method name, request, signed delta) of one ledger change."""
    if op == "grant":
        request = pb.GrantTokensRequest(uid=UID, amount=amount, type=pb.TOKEN_ENTRY_TYPE_PURCHASE, idempotency_key=key)
        return "GrantTokens", request, amount
    return "SpendTokens", pb.SpendTokensRequest(uid=UID, amount=amount, idempotency_key=key), -amount


async def call(running, method: str, request, deadline: float = CALL_DEADLINE_S):
    """(reply, None) or (None, AioRpcError)."""
    try:
        return await getattr(running.stub, method)(request, timeout=deadline), None
    except grpc.aio.AioRpcError as exc:
        return None, exc


async def ledger(running) -> tuple[int, list[str]]:
    balance = (await running.stub.GetProfile(pb.GetProfileRequest(uid=UID))).profile.tokens
    entries = (await running.stub.ListTokenHistory(pb.ListTokenHistoryRequest(uid=UID, page_size=100))).entries
    return balance, [e.idempotency_key for e in entries]


def describe(exc: grpc.aio.AioRpcError | None) -> str:
    if exc is None:
        return "OK"
    info = details_of(exc)
    return f"{info.code.name} {info.reason}: {info.message}"


@pytest.mark.parametrize("op", ["grant", "spend"])
@pytest.mark.parametrize("lost", sorted(LOST_ANSWERS))
async def test_a_landed_commit_whose_answer_was_lost_is_answered_with_its_entry(service, op, lost):
    running, faults = service
    method, request, delta = change(op, f"{op}-{lost}")
    armed = faults.set("commit", landed_then(LOST_ANSWERS[lost]()), times=1)

    reply, error = await call(running, method, request)
    assert armed.fired == 1, "the fault never fired: the commit did not go through the transport"
    assert error is None, f"a commit that landed was answered {describe(error)}"
    assert reply.entry.idempotency_key == request.idempotency_key
    assert reply.entry.amount == delta and reply.balance == SEED + delta

    faults.clear()
    again, error = await call(running, method, request)
    assert error is None, describe(error)
    assert again.already_applied and again.entry == reply.entry and again.balance == SEED + delta
    balance, keys = await ledger(running)
    assert balance == SEED + delta
    assert sorted(keys) == sorted(["seed", request.idempotency_key])
    assert await run_audit(running.store) == 0


@pytest.mark.parametrize("op", ["grant", "spend"])
@pytest.mark.parametrize("failure", sorted(NOT_LANDED))
async def test_a_commit_that_did_not_land_is_retryable_and_applies_once_on_retry(service, op, failure):
    running, faults = service
    method, request, delta = change(op, f"{op}-{failure}")
    armed = faults.set("commit", refused(NOT_LANDED[failure]()), times=None)  # every commit, until cleared

    _reply, error = await call(running, method, request, deadline=5.0)
    assert armed.fired >= 1, "the fault never fired: the commit did not go through the transport"
    assert error is not None, "a change whose every commit failed was answered OK"
    assert error.code() in RETRYABLE, f"expected a retryable status, got {describe(error)}"
    balance, keys = await ledger(running)
    assert (balance, keys) == (SEED, ["seed"]), "nothing may be applied while every commit fails"

    faults.clear()
    reply, error = await call(running, method, request)
    assert error is None, describe(error)
    assert not reply.already_applied and reply.balance == SEED + delta
    replay, error = await call(running, method, request)
    assert error is None and replay.already_applied and replay.entry == reply.entry
    balance, keys = await ledger(running)
    assert balance == SEED + delta and sorted(keys) == sorted(["seed", request.idempotency_key])
    assert await run_audit(running.store) == 0


@pytest.mark.parametrize("rollback_error", ["unavailable", "hangs"])
async def test_a_failed_rollback_does_not_hide_the_domain_error(service, rollback_error):
    running, faults = service
    fault = (
        refused(gexc.ServiceUnavailable("injected: rollback failed")) if rollback_error == "unavailable" else hangs()
    )
    faults.set("rollback", fault, times=None)
    _reply, error = await call(running, *change("spend", "too-much", amount=SEED + 1)[:2], deadline=10.0)
    assert error is not None, "a spend above the balance was answered OK"
    info = details_of(error)
    assert (info.code, info.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "INSUFFICIENT_TOKENS"), describe(error)

    _reply, error = await call(
        running,
        "GrantTokens",
        pb.GrantTokensRequest(uid="nobody", amount=1, type=pb.TOKEN_ENTRY_TYPE_PURCHASE, idempotency_key="k"),
        deadline=10.0,
    )
    assert error is not None and details_of(error).reason == "PROFILE_NOT_FOUND", describe(error)
    faults.clear()
    assert (await ledger(running)) == (SEED, ["seed"])


HANGING = ["begin_transaction", "commit", "batch_get_documents"]


async def wait_abandoned(hang: Hang, within: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(hang.idle.wait(), within)
    assert hang.active == 0, f"{hang.active} hung RPC(s) still waited on {within:.0f}s after the call ended"


@pytest.mark.parametrize("method", HANGING)
async def test_a_hanging_rpc_ends_with_the_callers_deadline(service, method):
    """The RPC never answers (it waits out its own gRPC timeout, 60 s by the client's defaults). The call ends
    with the caller's deadline, as DEADLINE_EXCEEDED or UNAVAILABLE; the store abandons the RPC then, and the
    next call for the same user, once Firestore answers again, succeeds within its own deadline."""
    running, faults = service
    hang = hangs()
    armed = faults.set(method, hang, times=None)
    deadline = 3.0
    _reply, error = await call(running, *change("grant", "hung")[:2], deadline=deadline)
    assert armed.fired >= 1
    assert error is not None and error.code() in RETRYABLE, describe(error)
    await wait_abandoned(hang, within=5.0)

    faults.clear()
    reply, error = await call(running, *change("grant", "after-hang", amount=2)[:2], deadline=10.0)
    assert error is None, f"the next call for the user after a hung {method}: {describe(error)}"
    # The hung change may or may not have landed (its outcome was unknown to the caller); the retry settles it.
    _retried, error = await call(running, *change("grant", "hung")[:2], deadline=10.0)
    assert error is None, describe(error)
    balance, keys = await ledger(running)
    assert sorted(keys) == ["after-hang", "hung", "seed"]
    assert balance == SEED + 9
    assert await run_audit(running.store) == 0


@pytest.mark.parametrize("method", ["begin_transaction", "commit"])
async def test_a_hanging_rpc_is_bounded_without_a_caller_deadline(firestore_host, monkeypatch, method):
    """No deadline from the caller: the service's own write timeout (PROFILE_WRITE_TIMEOUT_S, here 2 s) bounds
    the call instead of the client's 60 s defaults. The bound asserted is generous; the status is the point."""
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", firestore_host)
    from profile_service.store.firestore_store import FirestoreStore

    fields = ProfileSettings.model_fields
    assert {"profile_write_timeout_s", "firestore_rpc_timeout_s"} <= set(fields), "no service-side write timeout"
    settings = ProfileSettings(_env_file=None, profile_write_timeout_s=2.0, firestore_rpc_timeout_s=1.0)
    store = FirestoreStore(project=fresh_project_id("hang"))
    async with run_profile_service(store, settings) as running:
        faults = TransportFaults(store)
        try:
            await running.stub.CreateProfile(pb.CreateProfileRequest(uid=UID, email="f@example.com"))
            hang = hangs()
            faults.set(method, hang, times=None)
            started = time.monotonic()
            _reply, error = await call(running, *change("grant", "no-deadline")[:2], deadline=45.0)
            took = time.monotonic() - started
            assert error is not None and error.code() in RETRYABLE, describe(error)
            assert took < 20, f"a call without a deadline ran {took:.0f}s on a hung {method}"
            await wait_abandoned(hang, within=5.0)
        finally:
            faults.uninstall()


async def test_concurrent_changes_survive_a_lost_commit_answer(service, write_queue):
    """Group commit: several changes for one user share a commit whose answer is lost; every one of them is
    answered with its own entry, and the balance counts each once. Without the queue the twelve transactions
    contend on the user document (the emulator's 2 s lock timeouts): a retryable status is allowed there, and
    the caller's retry with the same key settles it; nothing is ever counted twice or answered INTERNAL."""
    running, faults = service
    faults.set("commit", landed_then(gexc.DeadlineExceeded("injected: answer lost")), times=3)
    requests = [change("grant" if i % 2 else "spend", f"burst-{i}", amount=1 + i % 3) for i in range(12)]
    results = await asyncio.gather(*(call(running, m, r) for m, r, _ in requests))
    errors = [describe(e) for _, e in results if e is not None]
    if write_queue:
        assert not errors, errors
    assert all(e.code() in RETRYABLE for _, e in results if e is not None), errors
    faults.clear()
    answers = []
    for (method, request, _), (reply, error) in zip(requests, results, strict=True):
        if error is not None:  # the caller's retry, same key
            reply, error = await call(running, method, request, deadline=60.0)
            assert error is None, describe(error)
        answers.append(reply)
    balance, keys = await ledger(running)
    assert balance == SEED + sum(d for _, _, d in requests)
    assert sorted(keys) == sorted(["seed", *(r.idempotency_key for _, r, _ in requests)])
    for (method, request, _), reply in zip(requests, answers, strict=True):
        replay, error = await call(running, method, request)
        assert error is None and replay.already_applied and replay.entry == reply.entry
    assert await run_audit(running.store) == 0

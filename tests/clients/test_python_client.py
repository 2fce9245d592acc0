"""The Python client for backend workers (clients/python/tokens_client) against the real profile service:
typed errors, credentials over mTLS, and retries after a lost answer that replay instead of charging twice."""

from __future__ import annotations

import collections
from datetime import timedelta

import grpc
import pytest

from profile_service.settings import ProfileSettings
from profile_service.store.sqlite_store import SqliteStore
from service_kit.dev_credentials import dev_tokens, write_dev_tls
from tests.support.profile_server import run_profile_service
from tests.support.service_channel import channel_as
from tokens.profile.v1 import profile_service_pb2 as pb
from tokens.profile.v1 import profile_service_pb2_grpc as pb_grpc
from tokens_client import (
    HoldAmountExceeded,
    InsufficientTokens,
    InvalidRequest,
    NotAllowed,
    OutcomeUnknown,
    Overage,
    RetryPolicy,
    TokenClient,
)

TOKENS = dev_tokens()
FAST = RetryPolicy(attempt_timeout_s=2.0, total_timeout_s=10.0, backoff_s=0.01, max_backoff_s=0.05)


class LoseAnswers(grpc.aio.ServerInterceptor):
    """Test-only: for the named methods, the first `count` calls run for real (they commit) and then the
    caller is told `code` instead of the answer, as when a reply is lost on the way back."""

    def __init__(self, count: int, code: grpc.StatusCode, *methods: str) -> None:
        self.remaining = collections.Counter(dict.fromkeys(methods, count))
        self.code = code

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        name = handler_call_details.method.rsplit("/", 1)[-1]
        if handler is None or handler.unary_unary is None or name not in self.remaining:
            return handler
        inner = handler.unary_unary

        async def lossy(request, context):
            reply = await inner(request, context)
            if self.remaining[name] > 0:
                self.remaining[name] -= 1
                await context.abort(self.code, "the answer was lost (test)")
            return reply

        return grpc.unary_unary_rpc_method_handler(
            lossy, request_deserializer=handler.request_deserializer, response_serializer=handler.response_serializer
        )


def settings(**extra) -> ProfileSettings:
    return ProfileSettings(
        _env_file=None,
        auth_token_gateway=TOKENS["gateway"],
        auth_token_billing=TOKENS["billing"],
        auth_token_backend=TOKENS["backend"],
        **extra,
    )


async def fund(target: str, uid: str, amount: int) -> None:
    async with channel_as(target, TOKENS["billing"]) as channel:
        stub = pb_grpc.ProfileServiceStub(channel)
        await stub.CreateProfile(pb.CreateProfileRequest(uid=uid, email=f"{uid}@example.com"))
        await stub.GrantTokens(
            pb.GrantTokensRequest(
                uid=uid, amount=amount, type=pb.TOKEN_ENTRY_TYPE_PURCHASE, idempotency_key=f"fund:{uid}"
            )
        )


async def entries(target: str, uid: str) -> list[int]:
    async with channel_as(target, TOKENS["backend"]) as channel:
        reply = await pb_grpc.ProfileServiceStub(channel).ListTokenHistory(
            pb.ListTokenHistoryRequest(uid=uid, page_size=100)
        )
    return [e.amount for e in reply.entries]


@pytest.mark.parametrize("code", [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED])
async def test_a_spend_whose_answer_is_lost_is_retried_and_counted_once(tmp_path, uid, code):
    lose = LoseAnswers(2, code, "SpendTokens")
    async with run_profile_service(SqliteStore(tmp_path / "p.sqlite3"), settings(), [lose]) as running:
        await fund(running.target, uid, 10)
        async with TokenClient.connect(running.target, token=TOKENS["backend"], retry=FAST) as tokens:
            spent = await tokens.spend(uid, 3, idempotency_key="job-1")
            assert (spent.balance, spent.already_applied) == (7, True)  # the first attempt had committed
            assert (await tokens.balance(uid)).tokens == 7
        assert sorted(await entries(running.target, uid)) == [-3, 10]


async def test_reserve_and_capture_survive_lost_answers(tmp_path, uid):
    lose = LoseAnswers(1, grpc.StatusCode.UNAVAILABLE, "ReserveTokens", "CaptureHold", "ReleaseHold")
    async with run_profile_service(SqliteStore(tmp_path / "p.sqlite3"), settings(), [lose]) as running:
        await fund(running.target, uid, 100)
        async with TokenClient.connect(running.target, token=TOKENS["backend"], retry=FAST) as tokens:
            hold = await tokens.reserve(uid, 40, ttl=timedelta(minutes=5), idempotency_key="job-2")
            assert hold.amount == 40 and hold.already_applied
            balance = await tokens.balance(uid)
            assert (balance.tokens, balance.held_tokens, balance.available_tokens) == (100, 40, 60)
            capture = await tokens.capture(uid, hold.hold_id, 25)
            assert (capture.balance, capture.captured, capture.released) == (75, 25, 15)
            again = await tokens.capture(uid, hold.hold_id, 25)
            assert again.already_applied and again.balance == 75
            second = await tokens.reserve(uid, 10, ttl=timedelta(minutes=5), idempotency_key="job-3")
            released = await tokens.release(uid, second.hold_id)
            assert released.released == 10
            balance = await tokens.balance(uid)
            assert (balance.tokens, balance.held_tokens, balance.available_tokens) == (75, 0, 75)
        assert sum(await entries(running.target, uid)) == 75


async def test_typed_errors_are_not_retried(tmp_path, uid):
    async with run_profile_service(SqliteStore(tmp_path / "p.sqlite3"), settings()) as running:
        await fund(running.target, uid, 5)
        async with TokenClient.connect(running.target, token=TOKENS["backend"], retry=FAST) as tokens:
            with pytest.raises(InsufficientTokens) as short:
                await tokens.spend(uid, 6, idempotency_key="too-much")
            assert short.value.reason == "INSUFFICIENT_TOKENS"
            with pytest.raises(InvalidRequest) as bad:
                await tokens.spend(uid, 0, idempotency_key="zero")
            assert bad.value.field == "amount"
            with pytest.raises(InsufficientTokens):
                await tokens.reserve(uid, 6, ttl=timedelta(minutes=1), idempotency_key="hold-too-much")
            hold = await tokens.reserve(uid, 5, ttl=timedelta(minutes=1), idempotency_key="hold")
            with pytest.raises(HoldAmountExceeded):
                await tokens.capture(uid, hold.hold_id, 6, overage=Overage.REJECT)
            capped = await tokens.capture(uid, hold.hold_id, 6, overage=Overage.CAP)
            assert (capped.captured, capped.balance) == (5, 0)
        async with TokenClient.connect(running.target, token="not-a-token", retry=FAST) as stranger:
            with pytest.raises(NotAllowed):
                await stranger.spend(uid, 1, idempotency_key="x")
        assert sum(await entries(running.target, uid)) == 0


async def test_an_unknown_outcome_that_outlasts_the_budget_is_reported_as_unknown(tmp_path, uid):
    lose = LoseAnswers(100, grpc.StatusCode.UNAVAILABLE, "SpendTokens")
    brief = RetryPolicy(attempt_timeout_s=1.0, total_timeout_s=1.0, max_attempts=3, backoff_s=0.01)
    async with run_profile_service(SqliteStore(tmp_path / "p.sqlite3"), settings(), [lose]) as running:
        await fund(running.target, uid, 10)
        async with TokenClient.connect(running.target, token=TOKENS["backend"], retry=brief) as tokens:
            with pytest.raises(OutcomeUnknown):
                await tokens.spend(uid, 4, idempotency_key="job-4")
            # It had happened, once: the retries replayed it.
            assert (await tokens.balance(uid)).tokens == 6
        assert sorted(await entries(running.target, uid)) == [-4, 10]


async def test_mtls_with_the_backend_certificate(tmp_path, uid):
    tls = write_dev_tls(tmp_path / "tls")
    server = settings(
        tls_cert_file=str(tls.server_cert), tls_key_file=str(tls.server_key), tls_client_ca_file=str(tls.ca_cert)
    )
    async with run_profile_service(SqliteStore(tmp_path / "p.sqlite3"), server) as running:
        cert, key = tls.client_certs["billing"]
        from service_kit.settings import CommonSettings

        billing = CommonSettings(
            _env_file=None,
            tls_ca_file=str(tls.ca_cert),
            tls_client_cert_file=str(cert),
            tls_client_key_file=str(key),
            tls_server_name="localhost",
        )
        async with channel_as(running.target, TOKENS["billing"], billing) as channel:
            stub = pb_grpc.ProfileServiceStub(channel)
            await stub.CreateProfile(pb.CreateProfileRequest(uid=uid, email="w@example.com"))
            await stub.GrantTokens(
                pb.GrantTokensRequest(uid=uid, amount=3, type=pb.TOKEN_ENTRY_TYPE_PURCHASE, idempotency_key="f")
            )
        cert, key = tls.client_certs["backend"]
        common = dict(ca_file=str(tls.ca_cert), server_name="localhost", retry=FAST)
        async with TokenClient.connect(
            running.target, token=TOKENS["backend"], cert_file=str(cert), key_file=str(key), **common
        ) as tokens:
            assert (await tokens.spend(uid, 1, idempotency_key="m")).balance == 2
        gateway_cert, gateway_key = tls.client_certs["gateway"]
        async with TokenClient.connect(
            running.target, token=TOKENS["backend"], cert_file=str(gateway_cert), key_file=str(gateway_key), **common
        ) as borrowed:
            with pytest.raises(NotAllowed):  # the backend's token over another caller's certificate
                await borrowed.spend(uid, 1, idempotency_key="n")

"""TokenClient: the calls a backend worker makes, on service_kit's one client wrapper (channel, TLS/mTLS,
credential, request id, error decoding), plus retries that reuse the request (tokens_client.retry)."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, TypeAlias, TypeVar

from google.protobuf import duration_pb2

from service_kit.grpc_client import RpcCallError, ServiceClient
from service_kit.settings import CommonSettings
from service_kit.timestamps import to_datetime
from tokens.profile.v1 import profile_service_pb2 as pb
from tokens.profile.v1 import profile_service_pb2_grpc as pb_grpc
from tokens_client.errors import typed
from tokens_client.retry import RETRYABLE, RetryPolicy, call_with_retries

SERVICE = pb.DESCRIPTOR.services_by_name["ProfileService"].full_name
Resp = TypeVar("Resp")

if TYPE_CHECKING:  # the async stub type exists in the generated .pyi only
    ProfileClient: TypeAlias = ServiceClient[pb_grpc.ProfileServiceAsyncStub]
else:
    ProfileClient = ServiceClient[pb_grpc.ProfileServiceStub]


class Overage(enum.Enum):
    """What a capture above the held amount does."""

    REJECT = pb.OVERAGE_REJECT  # nothing happens: FAILED_PRECONDITION
    CAP = pb.OVERAGE_CAP  # takes the hold plus whatever else is available


@dataclass(frozen=True)
class Spend:
    balance: int
    entry_id: str
    already_applied: bool


@dataclass(frozen=True)
class Hold:
    hold_id: str
    amount: int
    expires_at: datetime
    already_applied: bool


@dataclass(frozen=True)
class Capture:
    balance: int
    captured: int
    released: int
    already_applied: bool


@dataclass(frozen=True)
class Release:
    balance: int
    released: int
    already_applied: bool


@dataclass(frozen=True)
class Balance:
    tokens: int
    available_tokens: int
    held_tokens: int


class TokenClient:
    def __init__(self, client: ProfileClient, retry: RetryPolicy | None = None) -> None:
        self._client = client
        self._retry = retry or RetryPolicy()

    @classmethod
    def connect(
        cls,
        target: str,
        *,
        token: str,
        ca_file: str = "",
        cert_file: str = "",
        key_file: str = "",
        server_name: str = "",
        retry: RetryPolicy | None = None,
    ) -> TokenClient:
        """A client of the profile service at `target` ("host:port"), sending the backend caller's `token`;
        with `ca_file` over TLS, and with `cert_file`/`key_file` the worker's client certificate (mTLS)."""
        settings = CommonSettings(
            _env_file=None,
            tls_ca_file=ca_file,
            tls_client_cert_file=cert_file,
            tls_client_key_file=key_file,
            tls_server_name=server_name,
        )
        return cls._open(target, settings, token, retry)

    @classmethod
    def from_env(cls, retry: RetryPolicy | None = None) -> TokenClient:
        """The same settings the services read: PROFILE_TARGET, AUTH_TOKEN_BACKEND, TLS_CA_FILE,
        TLS_CLIENT_CERT_FILE, TLS_CLIENT_KEY_FILE, TLS_SERVER_NAME."""
        settings = _WorkerSettings()
        return cls._open(settings.profile_target, settings, settings.auth_token_backend.get_secret_value(), retry)

    @classmethod
    def _open(cls, target: str, settings: CommonSettings, token: str, retry: RetryPolicy | None) -> TokenClient:
        policy = retry or RetryPolicy()
        client: ProfileClient = ServiceClient.open(
            "profile",
            SERVICE,
            target,
            settings,
            pb_grpc.ProfileServiceStub,
            timeout_s=policy.attempt_timeout_s,
            caller_token=token,
        )
        return cls(client, policy)

    async def __aenter__(self) -> TokenClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self._client.close()

    async def _call(self, make: Callable[[float], Awaitable[Resp]]) -> Resp:
        result, error, unknown = await call_with_retries(self._retry, make)
        if error is not None:
            # A definite answer after an unknown one is still definite (a landed change would have replayed);
            # only a budget that ran out on retryable answers leaves the outcome open.
            raise typed(error, outcome_unknown=unknown and error.code in RETRYABLE) from error
        assert result is not None
        return result

    # -- the calls --------------------------------------------------------------------------------------------

    async def spend(self, uid: str, amount: int, *, idempotency_key: str, reason: str = "") -> Spend:
        """Takes `amount` of the available tokens, exactly once per key. InsufficientTokens when short."""
        request = pb.SpendTokensRequest(uid=uid, amount=amount, idempotency_key=idempotency_key, reason=reason)
        reply = await self._call(lambda t: self._client.call(self._client.stub.SpendTokens, request, timeout_s=t))
        return Spend(reply.balance, reply.entry.entry_id, reply.already_applied)

    async def reserve(self, uid: str, amount: int, *, ttl: timedelta, idempotency_key: str, reason: str = "") -> Hold:
        """Holds `amount` for a job (at most 24 h); InsufficientTokens when the available tokens are short."""
        duration = duration_pb2.Duration()
        duration.FromTimedelta(ttl)
        request = pb.ReserveTokensRequest(
            uid=uid, amount=amount, ttl=duration, idempotency_key=idempotency_key, reason=reason
        )
        reply = await self._call(lambda t: self._client.call(self._client.stub.ReserveTokens, request, timeout_s=t))
        return Hold(reply.hold_id, reply.amount, to_datetime(reply.expires_at), reply.already_applied)

    async def capture(
        self, uid: str, hold_id: str, amount: int, *, overage: Overage = Overage.REJECT, reason: str = ""
    ) -> Capture:
        """Spends what the job used and releases the rest, once per hold (the same amount again replays)."""
        request = pb.CaptureHoldRequest(uid=uid, hold_id=hold_id, amount=amount, overage=overage.value, reason=reason)
        reply = await self._call(lambda t: self._client.call(self._client.stub.CaptureHold, request, timeout_s=t))
        return Capture(reply.balance, reply.captured, reply.released, reply.already_applied)

    async def release(self, uid: str, hold_id: str) -> Release:
        """Gives the whole hold back (a job that did not run)."""
        request = pb.ReleaseHoldRequest(uid=uid, hold_id=hold_id)
        reply = await self._call(lambda t: self._client.call(self._client.stub.ReleaseHold, request, timeout_s=t))
        return Release(reply.balance, reply.released, reply.already_applied)

    async def balance(self, uid: str) -> Balance:
        request = pb.GetProfileRequest(uid=uid)
        reply = await self._call(lambda t: self._client.call(self._client.stub.GetProfile, request, timeout_s=t))
        profile = reply.profile
        return Balance(profile.tokens, profile.available_tokens, profile.held_tokens)


class _WorkerSettings(CommonSettings):
    profile_target: str = "127.0.0.1:50051"


__all__ = ["Balance", "Capture", "Hold", "Overage", "Release", "RpcCallError", "Spend", "TokenClient"]

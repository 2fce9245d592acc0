"""When a call is repeated. Only answers that leave the outcome unknown (or say "nothing changed, try again")
are retried, always with the same request: ledger changes are idempotent by key, captures and releases by
hold id, so a retry can only replay."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import grpc

from service_kit.grpc_client import RpcCallError

T = TypeVar("T")

RETRYABLE = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.CANCELLED,
    }
)
# The service's own words that nothing changed; every other retryable answer may follow a change that happened
# (a deadline or a broken connection after the request was sent).
NOTHING_CHANGED = frozenset({"STORE_UNAVAILABLE", "DEADLINE_EXCEEDED_WHILE_QUEUED"})


def outcome_unknown(error: RpcCallError) -> bool:
    return error.code in RETRYABLE and error.code is not grpc.StatusCode.ABORTED and error.reason not in NOTHING_CHANGED


@dataclass(frozen=True)
class RetryPolicy:
    """attempt_timeout_s: the deadline of one attempt; total_timeout_s: of all attempts together;
    backoff: the first pause, doubled after each attempt up to max_backoff_s, with full jitter."""

    attempt_timeout_s: float = 5.0
    total_timeout_s: float = 30.0
    max_attempts: int = 6
    backoff_s: float = 0.1
    max_backoff_s: float = 2.0

    def pause(self, attempt: int) -> float:
        return random.uniform(0, min(self.max_backoff_s, self.backoff_s * 2 ** (attempt - 1)))


async def call_with_retries(
    policy: RetryPolicy, attempt: Callable[[float], Awaitable[T]]
) -> tuple[T | None, RpcCallError | None, bool]:
    """Runs `attempt(timeout_s)` until it answers, fails for good, or the budget runs out.
    Returns (result, final error, whether an unknown outcome was among the attempts)."""
    end = time.monotonic() + policy.total_timeout_s
    unknown = False
    last: RpcCallError | None = None
    for number in range(1, policy.max_attempts + 1):
        remaining = end - time.monotonic()
        if remaining <= 0:
            break
        try:
            return await attempt(min(policy.attempt_timeout_s, remaining)), None, unknown
        except RpcCallError as exc:
            last = exc
            if exc.code not in RETRYABLE:
                return None, exc, unknown
            unknown = unknown or outcome_unknown(exc)
        await asyncio.sleep(min(policy.pause(number), max(0.0, end - time.monotonic())))
    return None, last, unknown

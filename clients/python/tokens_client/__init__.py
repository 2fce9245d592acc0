"""The Python client for the app's backend workers: spend tokens, and reserve-then-capture for long jobs.

    from tokens_client import TokenClient, Overage

    async with TokenClient.from_env() as tokens:            # PROFILE_TARGET, AUTH_TOKEN_BACKEND, TLS_*
        hold = await tokens.reserve(uid, 500, ttl=timedelta(minutes=10), idempotency_key=f"job:{job_id}")
        ...                                                  # the job runs
        await tokens.capture(uid, hold.hold_id, used, overage=Overage.CAP)

Every call has a deadline, sends the worker's credential (and its client certificate with mTLS), and is
retried with the SAME request after an outcome the caller cannot know (UNAVAILABLE, DEADLINE_EXCEEDED,
a lost connection): the idempotency key (or the hold id) makes the retry a replay, never a second charge.
"""

from tokens_client.client import Balance, Capture, Hold, Overage, Release, Spend, TokenClient
from tokens_client.errors import (
    HoldAlreadySettled,
    HoldAmountExceeded,
    HoldExpired,
    InsufficientTokens,
    InvalidRequest,
    NotAllowed,
    NotFound,
    OutcomeUnknown,
    TokenClientError,
)
from tokens_client.retry import RetryPolicy

__all__ = [
    "Balance",
    "Capture",
    "Hold",
    "HoldAlreadySettled",
    "HoldAmountExceeded",
    "HoldExpired",
    "InsufficientTokens",
    "InvalidRequest",
    "NotAllowed",
    "NotFound",
    "Overage",
    "OutcomeUnknown",
    "Release",
    "RetryPolicy",
    "Spend",
    "TokenClient",
    "TokenClientError",
]

"""Per-user rate limit on the gateway's writes (POST /v1/checkout-sessions, POST /v1/billing-portal-sessions,
POST and PATCH /v1/profile), with the `limits` library: RATE_LIMIT_WRITES (e.g. "10/minute", or several as
"10/minute;100/hour"; empty = off) counted per signed-in user over a moving window, all write routes together
(each one ends in a Stripe or ledger write). Over the limit: 429 RESOURCE_EXHAUSTED / RATE_LIMITED with
Retry-After (seconds until the window lets the next one through), in the gateway's one error shape.

Where the counts live is RATE_LIMIT_STORAGE_URI: memory:// (default) counts in this process, so with N
gateway replicas a user gets up to N x the limit (each replica counts what it sees); a shared storage that
`limits` supports (redis://host:6379, ...) makes it one limit across replicas, given its driver is installed
(only the in-memory storage's is pinned here)."""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse_many
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import ConfigurationError as LimitsConfigurationError
from limits.storage import storage_from_string

from gateway.errors import api_error

NAMESPACE = "gateway-writes"


def parse_limits(spec: str) -> list[RateLimitItem]:
    """'10/minute;100/hour' -> the items; ValueError naming what is wrong."""
    try:
        items = parse_many(spec)
    except ValueError as exc:
        raise ValueError(f"{spec!r} is not a rate limit such as 10/minute or 10/minute;100/hour ({exc})") from None
    if not items:
        raise ValueError(f"{spec!r} is not a rate limit such as 10/minute")
    return list(items)


def open_storage(uri: str) -> Storage:
    """The async storage for `uri` (memory:// -> async+memory://); ValueError when limits cannot use it."""
    scheme = uri if uri.startswith("async+") else f"async+{uri}"
    try:
        storage = storage_from_string(scheme)
    except (LimitsConfigurationError, ValueError) as exc:
        raise ValueError(f"{uri!r}: {exc}") from None
    if not isinstance(storage, Storage):
        raise ValueError(f"{uri!r} is not an async storage")
    return storage


class WriteRateLimiter:
    def __init__(self, spec: str, storage_uri: str = "memory://") -> None:
        self.items = parse_limits(spec)
        self._limiter = MovingWindowRateLimiter(open_storage(storage_uri))

    async def check(self, uid: str) -> None:
        """Counts one write for `uid`, or raises the 429 (counting nothing) when a limit is used up."""
        for item in self.items:
            if not await self._limiter.test(item, NAMESPACE, uid):
                raise await self._refusal(item, uid)
        for item in self.items:
            # test() then hit(): hit() is the atomic take; a concurrent request may have used the last slot.
            if not await self._limiter.hit(item, NAMESPACE, uid):
                raise await self._refusal(item, uid)

    async def _refusal(self, item: RateLimitItem, uid: str) -> Exception:
        stats = await self._limiter.get_window_stats(item, NAMESPACE, uid)
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        return api_error(
            429,
            f"too many writes: at most {item} for each user; try again in {retry_after} s",
            "RATE_LIMITED",
            headers={"Retry-After": str(retry_after)},
        )

"""Idempotency-Key handling, as Stripe does it.

Keys are scoped per API key and kept 24 h. The first stored response (status + body) is replayed
for the same key and the same endpoint and parameters; a different endpoint or different
parameters is an `idempotency_error`. Requests with one key are serialised by an asyncio.Lock,
so two racing creates produce one object (the second replays the first).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from .errors import StripeError

MAX_KEY_LENGTH = 255
RETENTION_S = 24 * 3600


@dataclass(frozen=True)
class StoredResponse:
    endpoint: str  # "POST /v1/customers"
    fingerprint: tuple[tuple[str, str], ...]
    status: int
    body: bytes
    request_id: str
    stored_at: float


class IdempotencyCache:
    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self._entries: dict[tuple[str, str], StoredResponse] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    def __len__(self) -> int:
        return len(self._entries)

    @staticmethod
    def check_key(key: str) -> None:
        if len(key) > MAX_KEY_LENGTH:
            raise StripeError(
                400,
                f"Invalid Idempotency-Key: keys can be at most {MAX_KEY_LENGTH} characters long "
                f"(this one has {len(key)}).",
            )

    def lock(self, api_key: str, key: str) -> asyncio.Lock:
        return self._locks.setdefault((api_key, key), asyncio.Lock())

    def lookup(
        self, api_key: str, key: str, endpoint: str, fingerprint: tuple[tuple[str, str], ...]
    ) -> StoredResponse | None:
        entry = self._entries.get((api_key, key))
        if entry is None:
            return None
        if time.time() - entry.stored_at > RETENTION_S:
            del self._entries[(api_key, key)]
            return None
        if entry.endpoint != endpoint:
            raise StripeError(
                400,
                "Keys for idempotent requests can only be used for the same endpoint they were first used for "
                f"('{entry.endpoint}' vs '{endpoint}'). Try using a key other than '{key}' if you meant to "
                "execute a different request.",
                type="idempotency_error",
            )
        if entry.fingerprint != fingerprint:
            raise StripeError(
                400,
                "Keys for idempotent requests can only be used with the same parameters they were first used "
                f"with. Try using a key other than '{key}' if you meant to execute a different request.",
                type="idempotency_error",
            )
        return entry

    def entries(self) -> dict[tuple[str, str], StoredResponse]:
        return dict(self._entries)

    def store(self, api_key: str, key: str, entry: StoredResponse) -> None:
        self._entries[(api_key, key)] = entry

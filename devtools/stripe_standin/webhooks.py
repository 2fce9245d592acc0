"""Webhook signing and at-least-once delivery with retries, like Stripe's.

Every event gets a background task that POSTs the event's stored payload to the configured URL.
Non-2xx or a connection error is retried with backoff up to `max_attempts`; each attempt is
recorded. Control routes may await the tasks (`wait=true`) for a bounded time.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

# Seconds before retry n (n = 1, 2, ...); the last value repeats. Stripe spreads retries over
# three days; locally the same shape, compressed, keeps tests fast.
RETRY_DELAYS = (0.2, 0.5, 1.0, 2.0, 4.0, 8.0)
USER_AGENT = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"


def sign(payload: str, secret: str, timestamp: int | None = None) -> str:
    """`Stripe-Signature` value: t=TIMESTAMP,v1=HMAC_SHA256_HEX(secret, "TIMESTAMP.PAYLOAD")."""
    ts = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{ts}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac}"


@dataclass
class WebhookConfig:
    url: str
    secret: str
    delay_ms: int
    max_attempts: int
    timeout_s: float


@dataclass
class Attempt:
    number: int
    at: float
    url: str
    status_code: int | None
    error: str | None
    duration_ms: int

    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass
class Delivery:
    event_id: str
    # pending: attempts still to come; delivered: a 2xx was received; failed: attempts exhausted;
    # skipped: no webhook URL configured when the event was created.
    status: str = "pending"
    attempts: list[Attempt] = field(default_factory=list)
    task: asyncio.Task[None] | None = None

    def summary(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "status": self.status,
            "attempts": [a.__dict__ for a in self.attempts],
        }


class WebhookDispatcher:
    def __init__(self, config: WebhookConfig, payload_for: Callable[[str], str], on_delivered: Callable[[str], None]):
        self.config = config
        self._payload_for = payload_for
        self._on_delivered = on_delivered
        self.deliveries: dict[str, Delivery] = {}
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.config.timeout_s, trust_env=False)
        return self._client

    def enqueue(self, event_id: str) -> Delivery:
        delivery = self.deliveries.setdefault(event_id, Delivery(event_id))
        if not self.config.url:
            if not delivery.attempts:
                delivery.status = "skipped"
            return delivery
        if delivery.task is not None and not delivery.task.done():
            delivery.task.cancel()  # a redelivery restarts the schedule
        delivery.status = "pending"
        delivery.task = asyncio.get_running_loop().create_task(self._run(delivery), name=f"webhook-{event_id}")
        return delivery

    async def _run(self, delivery: Delivery) -> None:
        if self.config.delay_ms > 0:
            await asyncio.sleep(self.config.delay_ms / 1000)
        for n in range(max(1, self.config.max_attempts)):
            if n:
                await asyncio.sleep(RETRY_DELAYS[min(n - 1, len(RETRY_DELAYS) - 1)])
            attempt = await self._attempt(delivery)
            delivery.attempts.append(attempt)
            if attempt.ok():
                delivery.status = "delivered"
                self._on_delivered(delivery.event_id)
                return
        delivery.status = "failed"

    async def _attempt(self, delivery: Delivery) -> Attempt:
        url = self.config.url
        payload = self._payload_for(delivery.event_id)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": sign(payload, self.config.secret),
            "User-Agent": USER_AGENT,
            "Cache-Control": "no-cache",
        }
        started = time.monotonic()
        number = len(delivery.attempts) + 1
        try:
            resp = await self._http().post(url, content=payload.encode(), headers=headers)
            status, error = resp.status_code, None
        except httpx.HTTPError as exc:
            status, error = None, f"{type(exc).__name__}: {exc}"
        return Attempt(number, time.time(), url, status, error, int((time.monotonic() - started) * 1000))

    async def wait(self, event_ids: list[str], timeout_s: float) -> list[dict[str, Any]]:
        """Wait (bounded) for the deliveries of these events; retries continue afterwards if needed."""
        tasks = [d.task for e in event_ids if (d := self.deliveries.get(e)) and d.task and not d.task.done()]
        if tasks:
            await asyncio.wait(tasks, timeout=timeout_s)
        return [self.summary(e) for e in event_ids]

    def summary(self, event_id: str) -> dict[str, Any]:
        delivery = self.deliveries.get(event_id)
        return delivery.summary() if delivery else Delivery(event_id, status="skipped").summary()

    def cancel_all(self) -> None:
        for delivery in self.deliveries.values():
            if delivery.task is not None and not delivery.task.done():
                delivery.task.cancel()
        self.deliveries = {}

    async def aclose(self) -> None:
        self.cancel_all()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

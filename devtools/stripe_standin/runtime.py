"""The stand-in's live state: store, idempotency cache, faults, webhook dispatcher, and event emission."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from . import objects
from .config import StandinSettings
from .faults import FaultRegistry
from .idempotency import IdempotencyCache
from .ids import new_id
from .persistence import StateFile
from .store import Store
from .webhooks import WebhookConfig, WebhookDispatcher


@dataclass(frozen=True)
class RequestInfo:
    """Who caused an event: an API request (id + idempotency key) or the stand-in itself (None, None)."""

    request_id: str | None = None
    idempotency_key: str | None = None


SYSTEM = RequestInfo()


class Standin:
    def __init__(self, settings: StandinSettings) -> None:
        self.settings = settings
        self.public_url = settings.default_public_url()
        self.store = Store(settings.seed_prices())
        self.idempotency = IdempotencyCache()
        self.faults = FaultRegistry()
        self.webhooks = WebhookDispatcher(
            WebhookConfig(
                url=settings.webhook_url,
                secret=settings.webhook_secret,
                delay_ms=settings.webhook_delay_ms,
                max_attempts=settings.webhook_max_attempts,
                timeout_s=settings.webhook_timeout_s,
            ),
            payload_for=lambda event_id: self.store.event_payloads[event_id],
            on_delivered=self._delivered,
        )
        self.state_file = StateFile(settings.state_file) if settings.state_file else None
        if self.state_file is not None:
            self.state_file.load(self)

    def save_state(self) -> None:
        if self.state_file is not None:
            self.state_file.save(self)

    def bound(self, base_url: str) -> None:
        """Called by in-process servers once the real port is known."""
        if not self.settings.public_url:
            self.public_url = base_url.rstrip("/")

    def reset(self) -> None:
        """Everything back to the seeded state (prices and products stay)."""
        self.webhooks.cancel_all()
        self.store.reset()
        self.idempotency.clear()
        self.faults.clear()
        self.save_state()

    def emit(
        self,
        type: str,
        obj: dict[str, Any],
        request: RequestInfo = SYSTEM,
        previous_attributes: dict[str, Any] | None = None,
    ) -> str:
        """Record an event and schedule its delivery; returns the event id."""
        event = objects.event(
            new_id("evt_"),
            self.store.now(),
            type=type,
            data_object=obj,
            previous_attributes=previous_attributes,
            request_id=request.request_id,
            idempotency_key=request.idempotency_key,
            pending_webhooks=1 if self.webhooks.config.url else 0,
        )
        self.store.events[event["id"]] = event
        self.store.event_payloads[event["id"]] = json.dumps(event, indent=2)
        self.webhooks.enqueue(event["id"])
        return event["id"]

    def _delivered(self, event_id: str) -> None:
        event = self.store.events.get(event_id)
        if event is not None:
            event["pending_webhooks"] = 0

    async def aclose(self) -> None:
        await self.webhooks.aclose()

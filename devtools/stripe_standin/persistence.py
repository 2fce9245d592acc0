"""The stand-in's state in a JSON file (STRIPE_STANDIN_STATE_FILE), so customers, sessions, charges,
subscriptions, events and idempotency keys survive a restart of `make run`, as they do at Stripe. Written
atomically (temporary file + rename) after every request that may change something."""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import logging
import os
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from .idempotency import StoredResponse
from .store import SessionExtras

log = logging.getLogger("stripe_standin")

FORMAT_VERSION = 1
# Store attributes kept as they are (JSON-shaped already).
_PLAIN = (
    "customers",
    "prices",
    "products",
    "sessions",
    "line_items",
    "payment_intents",
    "charges",
    "refunds",
    "subscriptions",
    "invoices",
    "events",
    "event_payloads",
    "disputes",
    "portal_sessions",
    "clock_offset",
)


def snapshot(sd: Any) -> dict[str, Any]:
    store = sd.store
    state: dict[str, Any] = {name: getattr(store, name) for name in _PLAIN}
    state["session_extras"] = {k: dataclasses.asdict(v) for k, v in store.session_extras.items()}
    state["idempotency"] = [
        {
            "api_key": api_key,
            "key": key,
            "endpoint": e.endpoint,
            "fingerprint": [list(pair) for pair in e.fingerprint],
            "status": e.status,
            "body": base64.b64encode(e.body).decode(),
            "request_id": e.request_id,
            "stored_at": e.stored_at,
        }
        for (api_key, key), e in sd.idempotency.entries().items()
    ]
    return {"format": FORMAT_VERSION, "state": state}


def restore(sd: Any, data: dict[str, Any]) -> None:
    if data.get("format") != FORMAT_VERSION:
        raise ValueError(f"unknown stand-in state format {data.get('format')!r}")
    state = data["state"]
    store = sd.store
    for name in _PLAIN:
        if name in state:
            setattr(store, name, state[name])
    store.session_extras = {k: SessionExtras(**v) for k, v in state.get("session_extras", {}).items()}
    for item in state.get("idempotency", []):
        sd.idempotency.store(
            item["api_key"],
            item["key"],
            StoredResponse(
                item["endpoint"],
                tuple(tuple(pair) for pair in item["fingerprint"]),
                item["status"],
                base64.b64decode(item["body"]),
                item["request_id"],
                item["stored_at"],
            ),
        )


class StateFile:
    def __init__(self, path: str) -> None:
        self.path = Path(path)

    def load(self, sd: Any) -> bool:
        """Restores the saved state; False when there is none yet."""
        if not self.path.exists():
            return False
        restore(sd, json.loads(self.path.read_text()))
        log.info("stand-in state restored", extra={"fields": {"path": str(self.path)}})
        return True

    def save(self, sd: Any) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(self.path.name + ".tmp")
        temporary.write_text(json.dumps(snapshot(sd)))
        os.replace(temporary, self.path)

    def remove(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


class SaveStateMiddleware:
    """After each request other than GET/HEAD, saves the state (when a state file is configured)."""

    def __init__(self, app: ASGIApp, standin: Any) -> None:
        self.app = app
        self.standin = standin

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        finally:
            if scope["type"] == "http" and scope.get("method") not in ("GET", "HEAD"):
                self.standin.save_state()

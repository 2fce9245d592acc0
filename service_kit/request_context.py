"""Per-call request id, carried as gRPC metadata `x-request-id` from the gateway to every service."""

from __future__ import annotations

import contextvars
import secrets

REQUEST_ID_HEADER = "x-request-id"
request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


def new_request_id() -> str:
    """32 random hex digits (a uuid4's length, at a fraction of its cost: made for every request)."""
    return secrets.token_hex(16)


def outgoing_metadata(extra: tuple[tuple[str, str], ...] = ()) -> tuple[tuple[str, str], ...]:
    """Metadata for a downstream call: the current request id plus any extra pairs."""
    return ((REQUEST_ID_HEADER, request_id_var.get()),) + extra

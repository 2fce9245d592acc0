"""Fault injection for API requests: 500s, slow answers, and dropped connections.

`after_effect=True` lets the request run (object created, idempotency entry stored) and then
loses the response, which is how real networks fail: the client cannot tell whether Stripe acted.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import api_error
from .responses import dumps

Mode = Literal["500", "timeout", "drop"]


@dataclass
class Fault:
    id: int
    method: str | None  # None matches any method
    path_prefix: str
    mode: Mode
    times: int
    after_effect: bool
    seconds: float
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and path.startswith(self.path_prefix)


@dataclass
class FaultRegistry:
    faults: list[Fault] = field(default_factory=list)
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def add(self, match: str, mode: Mode, times: int, after_effect: bool, seconds: float) -> Fault:
        method, _, prefix = match.strip().partition(" ")
        if not prefix:  # just a path: any method
            method, prefix = "", method
        fault = Fault(next(self._ids), method.upper() or None, prefix.strip(), mode, times, after_effect, seconds)
        self.faults.append(fault)
        return fault

    def take(self, method: str, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.times > 0 and fault.matches(method, path):
                fault.times -= 1
                fault.hits += 1
                return fault
        return None

    def clear(self) -> None:
        self.faults.clear()

    def describe(self) -> list[dict[str, Any]]:
        return [asdict(f) for f in self.faults]


async def _drop(receive: Receive) -> None:
    """Close the TCP connection without answering.

    ASGI has no "abort"; uvicorn's receive() is a bound method of the request cycle that owns the
    transport, so abort that. Elsewhere (e.g. httpx's ASGITransport) raise, which the client also
    sees as a failed request.
    """
    transport = getattr(getattr(receive, "__self__", None), "transport", None)
    if transport is None:
        raise ConnectionAbortedError("stripe stand-in fault: connection dropped")
    transport.abort()
    # Let uvicorn's connection_lost run so it marks the cycle disconnected instead of sending a 500.
    for _ in range(3):
        await asyncio.sleep(0)


async def _wait_for_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _sleep_unless_disconnected(receive: Receive, seconds: float) -> None:
    # Stop early when the client gives up, so server shutdown is not held up by a sleeping fault.
    watcher = asyncio.ensure_future(_wait_for_disconnect(receive))
    try:
        await asyncio.wait([watcher], timeout=seconds)
    finally:
        watcher.cancel()


async def _send_500(send: Send) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 500,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": dumps(api_error().body())})


class FaultMiddleware:
    def __init__(self, app: ASGIApp, registry: FaultRegistry) -> None:
        self.app = app
        self.registry = registry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        fault = None
        if scope["type"] == "http" and scope["path"].startswith("/v1/"):
            fault = self.registry.take(scope["method"], scope["path"])
        if fault is None:
            await self.app(scope, receive, send)
            return

        captured: list[Message] = []
        if fault.after_effect:

            async def capture(message: Message) -> None:
                captured.append(message)

            await self.app(scope, receive, capture)

        if fault.mode == "500":
            await _send_500(send)
        elif fault.mode == "drop":
            await _drop(receive)
        else:  # timeout: answer late (with the real response if it ran), or never
            await _sleep_unless_disconnected(receive, fault.seconds)
            if captured:
                for message in captured:
                    await send(message)
            else:
                await _drop(receive)

"""Faults injected into a FirestoreStore's client at the transport, under the client's own retry/timeout layer.

The GAPIC client keeps, per RPC, a wrapper (retry, timeout, error mapping) around a target callable that does
the actual gRPC call. `TransportFaults` swaps that target, so everything above it runs as in production: the
client's retry resends a commit after UNAVAILABLE, and Google's emulator really refuses the resend of a
transaction that already committed ("Transaction is invalid or closed").

    faults = TransportFaults(store)           # after store.start()
    faults.set("commit", landed_then(gexc.DeadlineExceeded("lost answer")), times=1)
    ...
    faults.clear()
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from google.api_core import exceptions as gexc

METHODS = ("begin_transaction", "commit", "rollback", "batch_get_documents")

# fault(real_call, request, kwargs) -> response. real_call(request, **kwargs) does the real RPC.
Fault = Callable[[Callable[..., Awaitable[Any]], Any, dict[str, Any]], Awaitable[Any]]


def landed_then(error: Exception) -> Fault:
    """The RPC reaches the emulator and takes effect; the caller sees `error` instead of the answer."""

    async def fault(real, request, kwargs):
        await real(request, **kwargs)
        raise error

    return fault


def refused(error: Exception) -> Fault:
    """The RPC never reaches the emulator: nothing happens there; the caller sees `error`."""

    async def fault(real, request, kwargs):
        raise error

    return fault


class Hang:
    """The RPC does not answer: it waits for its own gRPC timeout when it has one (as a real call would, then
    DEADLINE_EXCEEDED), else `seconds`. `active` counts the calls still hanging and `idle` is set when there
    are none: a store that abandons the work at the caller's deadline cancels them."""

    def __init__(self, seconds: float = 600.0) -> None:
        self.seconds = seconds
        self.active = 0
        self.idle = asyncio.Event()
        self.idle.set()

    async def __call__(self, real, request, kwargs):
        timeout = kwargs.get("timeout")
        self.active += 1
        self.idle.clear()
        try:
            await asyncio.sleep(timeout if isinstance(timeout, int | float) and timeout > 0 else self.seconds)
        finally:
            self.active -= 1
            if not self.active:
                self.idle.set()
        raise gexc.DeadlineExceeded("injected: no answer before the RPC's deadline")


def hangs(seconds: float = 600.0) -> Hang:
    return Hang(seconds)


@dataclass
class _Armed:
    fault: Fault
    times: int | None  # None = every call
    calls: int = 0
    fired: int = 0


@dataclass
class TransportFaults:
    store: Any  # a started FirestoreStore
    _originals: dict[str, Any] = field(default_factory=dict)
    _armed: dict[str, _Armed] = field(default_factory=dict)

    def __post_init__(self) -> None:
        transport = self.store.client._firestore_api._client._transport
        for name in METHODS:
            wrapped = transport._wrapped_methods[getattr(transport, name)]
            real = wrapped._target
            self._originals[name] = (wrapped, real)
            wrapped._target = self._target(name, real)

    def _target(self, name: str, real):
        async def call_real(request, **kwargs):
            result = real(request, **kwargs)
            return await result if asyncio.iscoroutine(result) or hasattr(result, "__await__") else result

        async def target(request, *args, **kwargs):
            armed = self._armed.get(name)
            if armed is not None:
                armed.calls += 1
                if armed.times is None or armed.fired < armed.times:
                    armed.fired += 1
                    return await armed.fault(call_real, request, kwargs)
            return await call_real(request, *args, **kwargs)

        return target

    def set(self, method: str, fault: Fault, times: int | None = 1) -> _Armed:
        """Arms `fault` for the next `times` calls of `method` (None: every call until cleared)."""
        if method not in METHODS:
            raise ValueError(f"unknown method {method}")
        self._armed[method] = armed = _Armed(fault, times)
        return armed

    def clear(self, method: str | None = None) -> None:
        if method is None:
            self._armed.clear()
        else:
            self._armed.pop(method, None)

    def fired(self, method: str) -> int:
        armed = self._armed.get(method)
        return 0 if armed is None else armed.fired

    def uninstall(self) -> None:
        self._armed.clear()
        for wrapped, real in self._originals.values():
            wrapped._target = real

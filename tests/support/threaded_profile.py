"""The real profile service on its own event loop in a background thread, for synchronous callers
(hypothesis state machines, grpcurl-style clients)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator

from profile_service.settings import ProfileSettings
from profile_service.store.base import ProfileStore
from tests.support.profile_server import run_profile_service


@contextlib.contextmanager
def profile_service_in_thread(store: ProfileStore, settings: ProfileSettings | None = None) -> Iterator[str]:
    """Yields the target address; the server and store live on the thread's own loop."""
    loop = asyncio.new_event_loop()
    ready: asyncio.Future[str] | None = None
    started = threading.Event()
    stop = threading.Event()
    box: dict[str, object] = {}

    async def main() -> None:
        async with run_profile_service(store, settings) as running:
            box["target"] = running.target
            started.set()
            await asyncio.to_thread(stop.wait)

    def runner() -> None:
        try:
            loop.run_until_complete(main())
        except BaseException as exc:
            box["error"] = exc
            started.set()

    thread = threading.Thread(target=runner, daemon=True)
    thread.start()
    started.wait(30)
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    del ready
    try:
        yield str(box["target"])
    finally:
        stop.set()
        thread.join(30)
        loop.close()

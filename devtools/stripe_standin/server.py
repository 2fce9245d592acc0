"""Running the stand-in in-process for tests: in the current event loop, or in a thread."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import uvicorn

from .app import create_app
from .config import StandinSettings


class _Server(uvicorn.Server):
    """uvicorn.Server tuned for embedding: no signal handling, quick start/stop.

    uvicorn polls for exit every 0.1 s and sleeps 0.1 s more on shutdown; with one server per
    test that adds up, so poll at 10 ms instead.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # An embedded server must not take over Ctrl-C from pytest or the host program.
        yield

    async def main_loop(self) -> None:
        ticks = 0
        while not await self.on_tick(ticks // 10):  # on_tick refreshes the Date header when its arg % 10 == 0
            await asyncio.sleep(0.01)
            ticks = (ticks + 1) % 8_640_000

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()  # closes idle keep-alive connections, finishes busy ones
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.config.timeout_graceful_shutdown or 0)
        # uvicorn offers no event for "all connections closed": poll its state until the deadline.
        while (self.server_state.connections or self.server_state.tasks) and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        for task in list(self.server_state.tasks):
            task.cancel()
        for connection in list(self.server_state.connections):
            connection.transport.abort()  # type: ignore[attr-defined]
        if not self.force_exit:
            await self.lifespan.shutdown()


@contextlib.asynccontextmanager
async def serve_app(app: Any, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
    """Serve any ASGI app with uvicorn in the running loop; yields "http://HOST:PORT" once bound.

    Also handy for tiny test servers such as a webhook receiver.
    """
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        lifespan="on",
        access_log=False,
        timeout_graceful_shutdown=2,
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve(), name="uvicorn-in-process")
    try:
        while not server.started:
            if task.done():
                # uvicorn reports bind failures with sys.exit(); turn that into an error the caller sees.
                exc = task.exception() if not task.cancelled() else None
                raise RuntimeError(f"in-process server failed to start: {exc!r}")
            await asyncio.sleep(0.005)
        bound_port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://{host}:{bound_port}"
    finally:
        server.should_exit = True
        with contextlib.suppress(BaseException):
            await task


@contextlib.asynccontextmanager
async def run_standin(settings: StandinSettings | None = None, port: int = 0) -> AsyncIterator[str]:
    """Serve the stand-in on `settings.host` (127.0.0.1) and `port` (0 = a free one) in the running loop.

    Yields the base URL, e.g. "http://127.0.0.1:54321" (use it as the SDK's `api` base address).
    """
    settings = settings or StandinSettings()
    app = create_app(settings)
    async with serve_app(app, settings.host, port) as base_url:
        app.state.standin.bound(base_url)
        yield base_url


def start_standin_in_thread(settings: StandinSettings | None = None, port: int = 0) -> tuple[str, Callable[[], None]]:
    """Serve the stand-in from a daemon thread with its own event loop (for synchronous tests).

    Returns (base_url, stop); stop() is idempotent and waits for the server to shut down.
    """
    ready = threading.Event()
    state: dict[str, object] = {}

    async def main() -> None:
        stop_event = asyncio.Event()
        state["stop"] = stop_event
        state["loop"] = asyncio.get_running_loop()
        async with run_standin(settings, port) as base_url:
            state["url"] = base_url
            ready.set()
            await stop_event.wait()

    def runner() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:  # reported to the caller below
            state["error"] = exc
        finally:
            ready.set()

    thread = threading.Thread(target=runner, name="stripe-standin", daemon=True)
    thread.start()
    ready.wait(30)
    if "url" not in state:
        raise RuntimeError(f"stripe stand-in thread failed to start: {state.get('error')!r}")

    def stop() -> None:
        loop = state["loop"]
        if thread.is_alive():
            loop.call_soon_threadsafe(state["stop"].set)  # type: ignore[attr-defined]
            thread.join(10)

    return str(state["url"]), stop


@contextlib.contextmanager
def standin_in_thread(settings: StandinSettings | None = None, port: int = 0) -> Iterator[str]:
    """`with standin_in_thread(settings) as base_url:` — the thread variant as a context manager."""
    base_url, stop = start_standin_in_thread(settings, port)
    try:
        yield base_url
    finally:
        stop()

"""A job run at once and then every interval while a block runs: the expiry sweeper and the background
reconciler. A failed run is logged and tried again at the next interval; leaving the block stops the job."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

log = logging.getLogger(__name__)


async def run_periodically(job: Callable[[], Awaitable[None]], interval_s: float, name: str) -> None:
    """Runs `job` at once, then every interval_s, until cancelled."""
    while True:
        try:
            await job()
        except Exception as exc:
            log.warning(f"{name} failed", extra={"fields": {"error": repr(exc)}})
        await asyncio.sleep(interval_s)


@contextlib.asynccontextmanager
async def periodic(
    job: Callable[[], Awaitable[None]], interval_s: float, name: str
) -> AsyncIterator[asyncio.Task[None] | None]:
    """The job's task while the block runs, when interval_s > 0 (None otherwise); cancelled on exit."""
    if interval_s <= 0:
        yield None
        return
    task = asyncio.create_task(run_periodically(job, interval_s, name))
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

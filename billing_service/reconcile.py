"""`python -m billing_service reconcile [--since-hours N]` and the background reconciler
(RECONCILE_INTERVAL_S). Both run use_cases/reconciliation.py; see there for what is applied and how."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator
from typing import TextIO

from billing_service.settings import BillingSettings
from billing_service.standalone import open_billing
from billing_service.use_cases.reconciliation import Reconciliation

log = logging.getLogger("billing.reconcile")


async def run_reconcile(settings: BillingSettings, since_hours: int, out: TextIO = sys.stdout) -> int:
    """One run: prints the report; 0 when nothing failed, 1 otherwise."""
    async with open_billing(settings) as billing:
        report = await billing.reconciliation.run(since_hours)
    for line in report.lines():
        print(line, file=out)
    return report.exit_code


async def reconcile_periodically(reconciliation: Reconciliation, interval_s: float, since_hours: int) -> None:
    """Runs at once, then every interval_s, until cancelled. A failed run is logged and retried next time."""
    while True:
        try:
            report = await reconciliation.run(since_hours)
            if report.failed:
                failed = [f"{r.kind.name} {r.object_id}: {r.detail}" for r in report.failures]
                failed += [f"{kind.name} listing: {detail}" for kind, detail in report.listing_failures]
                log.warning("background reconcile had failures", extra={"fields": {"failed": failed}})
        except Exception as exc:
            log.warning("background reconcile failed", extra={"fields": {"error": repr(exc)}})
        await asyncio.sleep(interval_s)


@contextlib.asynccontextmanager
async def background_reconciler(settings: BillingSettings) -> AsyncIterator[asyncio.Task[None] | None]:
    """The reconciler while the block runs, when RECONCILE_INTERVAL_S > 0 (None otherwise); stopped on exit."""
    if settings.reconcile_interval_s <= 0:
        yield None
        return
    async with open_billing(settings) as billing:
        task = asyncio.create_task(
            reconcile_periodically(
                billing.reconciliation, settings.reconcile_interval_s, settings.reconcile_since_hours
            )
        )
        try:
            yield task
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

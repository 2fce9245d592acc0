"""`python -m billing_service reconcile [--since-hours N]` and the background reconciler
(RECONCILE_INTERVAL_S). Both run use_cases/reconciliation.py; see there for what is applied and how."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import sys
from collections.abc import AsyncIterator
from typing import TextIO

from billing_service.settings import BillingSettings
from billing_service.standalone import open_billing
from billing_service.use_cases.reconciliation import Reconciliation
from service_kit.periodic import periodic

log = logging.getLogger("billing.reconcile")


async def run_reconcile(settings: BillingSettings, since_hours: int, out: TextIO = sys.stdout) -> int:
    """One run: prints the report; 0 when nothing failed, 1 otherwise."""
    async with open_billing(settings) as billing:
        report = await billing.reconciliation.run(since_hours)
    for line in report.lines():
        print(line, file=out)
    return report.exit_code


async def reconcile_once(reconciliation: Reconciliation, since_hours: int) -> None:
    """One background run; its failures are logged (the next run tries again)."""
    report = await reconciliation.run(since_hours)
    if report.failed:
        failed = [f"{r.kind.name} {r.object_id}: {r.detail}" for r in report.failures]
        failed += [f"{kind.name} listing: {detail}" for kind, detail in report.listing_failures]
        log.warning("background reconcile had failures", extra={"fields": {"failed": failed}})


@contextlib.asynccontextmanager
async def background_reconciler(settings: BillingSettings) -> AsyncIterator[asyncio.Task[None] | None]:
    """The reconciler while the block runs, when RECONCILE_INTERVAL_S > 0 (None otherwise); stopped on exit."""
    if settings.reconcile_interval_s <= 0:
        yield None
        return
    async with open_billing(settings) as billing:
        once = functools.partial(reconcile_once, billing.reconciliation, settings.reconcile_since_hours)
        async with periodic(once, settings.reconcile_interval_s, "background reconcile") as task:
            yield task

"""python -m profile_service [serve|audit|migrate|sweep]"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Awaitable, Callable

from profile_service.audit import run_audit
from profile_service.migrate import run_migration
from profile_service.server import create_server
from profile_service.settings import ProfileSettings
from profile_service.store.base import ProfileStore
from profile_service.store.factory import build_store
from profile_service.sweep import background_sweeper, run_sweep
from service_kit.grpc_server import serve_until_signalled
from service_kit.logs import configure_logging
from service_kit.startup import run_main
from service_kit.tracing import configure_tracing, shutdown_tracing


async def _serve(settings: ProfileSettings) -> int:
    store = build_store(settings)
    await store.start()
    configure_tracing("profile_service", settings.otel_exporter_otlp_endpoint)
    serving, _ = create_server(settings, store)
    try:
        # EXPIRY_SWEEP_INTERVAL_S > 0: writes expiries and releases expired holds in the background.
        async with background_sweeper(store, settings.expiry_sweep_interval_s) as sweeper:

            async def stop() -> None:
                if sweeper is not None:  # before the store closes under it
                    sweeper.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await sweeper
                await store.close()

            await serve_until_signalled(serving, settings.shutdown_grace_s, on_stop=stop)
    finally:
        shutdown_tracing()
    return 0


async def _offline(settings: ProfileSettings, job: Callable[[ProfileStore], Awaitable[int]]) -> int:
    store = build_store(settings)
    await store.start()
    try:
        return await job(store)
    finally:
        await store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m profile_service")
    parser.add_argument(
        "command",
        nargs="?",
        default="serve",
        choices=["serve", "audit", "migrate", "sweep"],
        help="serve (default); audit: check every balance against its ledger; "
        "migrate: adopt balances written by the original app; "
        "sweep: write the expiries of grants and holds that are due",
    )
    args = parser.parse_args(argv)
    settings = ProfileSettings()
    configure_logging(settings.log_level)
    if args.command == "serve":
        return asyncio.run(_serve(settings))
    jobs = {"audit": run_audit, "migrate": run_migration, "sweep": run_sweep}
    return asyncio.run(_offline(settings, jobs[args.command]))


if __name__ == "__main__":
    sys.exit(run_main("profile_service", main))  # a misconfiguration: one line naming the variable, no traceback

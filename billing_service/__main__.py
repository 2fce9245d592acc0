"""python -m billing_service: serves BillingService until SIGTERM/SIGINT, then shuts down gracefully.

python -m billing_service reconcile [--since-hours N]: applies what Stripe has and the ledger lacks (paid
Checkout Sessions, refunds, disputes, subscription changes in the last N hours), prints what it found and
did, and exits 1 if anything failed. Running it again changes nothing."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from billing_service.domain.reconciliation import DEFAULT_SINCE_HOURS, MAX_SINCE_HOURS
from billing_service.reconcile import background_reconciler, run_reconcile
from billing_service.server import create_server
from billing_service.settings import BillingSettings
from service_kit.grpc_server import serve_until_signalled
from service_kit.logs import configure_logging
from service_kit.startup import run_main
from service_kit.tracing import configure_tracing, shutdown_tracing


async def _serve(settings: BillingSettings) -> int:
    configure_tracing("billing_service", settings.otel_exporter_otlp_endpoint)
    serving, _ = create_server(settings)
    # RECONCILE_INTERVAL_S > 0: reconciles in the background while serving (on its own profile channel).
    try:
        async with background_reconciler(settings):
            await serve_until_signalled(serving, settings.shutdown_grace_s)
    finally:
        shutdown_tracing()
    return 0


def _since_hours(value: str) -> int:
    hours = int(value)
    if not 1 <= hours <= MAX_SINCE_HOURS:
        raise argparse.ArgumentTypeError(f"must be 1..{MAX_SINCE_HOURS}")
    return hours


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m billing_service", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command")
    reconcile = commands.add_parser("reconcile", help="apply what Stripe has and the ledger lacks, then exit")
    reconcile.add_argument(
        "--since-hours",
        type=_since_hours,
        default=DEFAULT_SINCE_HOURS,
        help=f"look at Stripe objects created in the last N hours (default {DEFAULT_SINCE_HOURS})",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = BillingSettings()
    configure_logging(settings.log_level)
    if settings.log_level.upper() != "DEBUG":
        # The SDK logs every request at INFO; billing logs what it did instead.
        logging.getLogger("stripe").setLevel(logging.WARNING)
    if args.command == "reconcile":
        return asyncio.run(run_reconcile(settings, args.since_hours))
    return asyncio.run(_serve(settings))


if __name__ == "__main__":
    sys.exit(run_main("billing_service", main))  # a misconfiguration: one line naming the variable, no traceback

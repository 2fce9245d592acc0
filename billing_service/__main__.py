"""python -m billing_service: serves BillingService until SIGTERM/SIGINT, then shuts down gracefully."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from billing_service.server import create_server
from billing_service.settings import BillingSettings
from service_kit.grpc_server import serve_until_signalled
from service_kit.logs import configure_logging
from service_kit.startup import run_main


async def _serve(settings: BillingSettings) -> int:
    serving, _ = create_server(settings)
    await serve_until_signalled(serving, settings.shutdown_grace_s)
    return 0


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(prog="python -m billing_service", description=__doc__).parse_args(argv)
    settings = BillingSettings()
    configure_logging(settings.log_level)
    if settings.log_level.upper() != "DEBUG":
        # The SDK logs every request at INFO; billing logs what it did instead.
        logging.getLogger("stripe").setLevel(logging.WARNING)
    return asyncio.run(_serve(settings))


if __name__ == "__main__":
    sys.exit(run_main("billing_service", main))  # a misconfiguration: one line naming the variable, no traceback

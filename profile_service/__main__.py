"""python -m profile_service [serve|audit]"""
from __future__ import annotations

import argparse
import asyncio
import sys

from profile_service.audit import run_audit
from profile_service.server import create_server
from profile_service.settings import ProfileSettings
from profile_service.store.factory import build_store
from service_kit.grpc_server import serve_until_signalled
from service_kit.logs import configure_logging


async def _serve(settings: ProfileSettings) -> int:
    store = build_store(settings)
    await store.start()
    serving, _ = create_server(settings, store)
    await serve_until_signalled(serving, settings.shutdown_grace_s, on_stop=store.close)
    return 0


async def _audit(settings: ProfileSettings) -> int:
    store = build_store(settings)
    await store.start()
    try:
        return await run_audit(store)
    finally:
        await store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m profile_service")
    parser.add_argument("command", nargs="?", default="serve", choices=["serve", "audit"])
    args = parser.parse_args(argv)
    settings = ProfileSettings()
    configure_logging(settings.log_level)
    return asyncio.run(_serve(settings) if args.command == "serve" else _audit(settings))


if __name__ == "__main__":
    sys.exit(main())

"""Waits until every service reports SERVING / ready, prints the URLs, then idles until honcho stops it."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time

import httpx

from service_kit.health_probe import serving_status
from service_kit.settings import CommonSettings


async def grpc_serving(target: str, settings: CommonSettings) -> bool:
    return await serving_status(target, settings, timeout_s=1) == "SERVING"


async def http_ok(url: str) -> bool:
    try:
        async with httpx.AsyncClient(timeout=1) as client:
            return (await client.get(url)).status_code == 200
    except httpx.HTTPError:
        return False


async def wait_ready(timeout_s: float = 120) -> bool:
    settings = CommonSettings()
    host, _, port = os.environ.get("GATEWAY_LISTEN", "127.0.0.1:8080").rpartition(":")
    # A wildcard listen address is reached on loopback.
    gateway = f"http://{'127.0.0.1' if host in ('', '0.0.0.0', '[::]') else host}:{port}"
    checks = {
        "profile": lambda: grpc_serving(os.environ["PROFILE_TARGET"], settings),
        "billing": lambda: grpc_serving(os.environ["BILLING_TARGET"], settings),
        "gateway": lambda: http_ok(f"{gateway}/readyz"),
    }
    if os.environ.get("STRIPE_API_BASE"):
        checks["stripe stand-in"] = lambda: http_ok(f"{os.environ['STRIPE_API_BASE']}/_standin/state")
    deadline = time.monotonic() + timeout_s
    pending = dict(checks)
    while pending and time.monotonic() < deadline:
        for name, check in list(pending.items()):
            if await check():
                del pending[name]
        if pending:
            await asyncio.sleep(0.2)
    if pending:
        print(f"not ready after {timeout_s:.0f}s: {', '.join(pending)}", flush=True)
        return False
    started = float(os.environ.get("DEVSTACK_STARTED_AT", time.time()))
    print(
        f"\nAll services ready in {time.time() - started:.1f}s\n"
        f"  Try it:        {gateway}/\n"
        f"  API docs:      {gateway}/docs  and  {gateway}/redoc  (served offline)\n"
        f"  OpenAPI:       {gateway}/openapi.json\n"
        f"  Profile gRPC:  {os.environ['PROFILE_TARGET']}  (mTLS, see README: grpcurl)\n"
        f"  Billing gRPC:  {os.environ['BILLING_TARGET']}\n"
        + (f"  Stripe stand-in: {os.environ['STRIPE_API_BASE']}\n" if os.environ.get("STRIPE_API_BASE") else "")
        + "Ctrl-C stops everything.\n",
        flush=True,
    )
    return True


def main() -> int:
    if not asyncio.run(wait_ready()):
        return 1
    # Stay up: honcho stops the whole stack when any process exits.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        signal.pause()


if __name__ == "__main__":
    sys.exit(main())

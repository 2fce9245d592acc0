"""python -m service_kit.health_probe HOST:PORT [SERVICE] — exits 0 when the gRPC health check answers
SERVING. For container HEALTHCHECKs and exec probes (Kubernetes and Cloud Run can also probe gRPC health
natively). TLS settings come from the same environment variables as the services."""

from __future__ import annotations

import asyncio
import sys

from service_kit import health
from service_kit.channels import open_channel
from service_kit.settings import CommonSettings


async def serving_status(target: str, settings: CommonSettings, service: str = "", timeout_s: float = 3) -> str:
    """SERVING, NOT_SERVING, ... or the failed call's code name (UNAVAILABLE when nothing listens)."""
    async with open_channel(target, settings) as channel:
        return await health.check(channel, service, timeout_s)


def main() -> int:
    if len(sys.argv) < 2:
        sys.stderr.write(__doc__ or "")
        return 2
    target = sys.argv[1]
    status = asyncio.run(serving_status(target, CommonSettings(), sys.argv[2] if len(sys.argv) > 2 else ""))
    sys.stdout.write(f"{target}: {status}\n")
    return 0 if status == health.SERVING else 1


if __name__ == "__main__":
    sys.exit(main())

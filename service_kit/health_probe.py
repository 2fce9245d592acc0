"""python -m service_kit.health_probe HOST:PORT [SERVICE] — exits 0 when the gRPC health check answers
SERVING. For container HEALTHCHECKs and exec probes (Kubernetes and Cloud Run can also probe gRPC health
natively). TLS settings come from the same environment variables as the services."""

from __future__ import annotations

import asyncio
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from service_kit.channels import open_channel
from service_kit.settings import CommonSettings


async def serving_status(target: str, settings: CommonSettings, service: str = "", timeout_s: float = 3) -> str:
    """SERVING, NOT_SERVING, ... or the failed call's code name (UNAVAILABLE when nothing listens)."""
    async with open_channel(target, settings) as channel:
        try:
            reply = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=timeout_s
            )
        except grpc.RpcError as exc:
            return exc.code().name
    return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    target = sys.argv[1]
    status = asyncio.run(serving_status(target, CommonSettings(), sys.argv[2] if len(sys.argv) > 2 else ""))
    print(f"{target}: {status}")
    return 0 if status == "SERVING" else 1


if __name__ == "__main__":
    sys.exit(main())

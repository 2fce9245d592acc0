"""python -m service_kit.health_probe HOST:PORT [SERVICE] — exits 0 when the gRPC health check answers
SERVING. For container HEALTHCHECKs and exec probes (Kubernetes and Cloud Run can also probe gRPC health
natively). TLS settings come from the same environment variables as the services."""
from __future__ import annotations

import asyncio
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from service_kit.channels import client_credentials
from service_kit.settings import CommonSettings


async def check(target: str, service: str) -> bool:
    settings = CommonSettings()
    credentials = client_credentials(settings)
    options = [("grpc.ssl_target_name_override", settings.tls_server_name)] if settings.tls_server_name else []
    channel = grpc.aio.secure_channel(target, credentials, options=options) if credentials else grpc.aio.insecure_channel(target)
    async with channel:
        try:
            reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=service), timeout=3)
        except grpc.RpcError as exc:
            print(f"{target}: {exc.code().name}", file=sys.stderr)
            return False
    print(f"{target}: {health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)}")
    return reply.status == health_pb2.HealthCheckResponse.SERVING


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    return 0 if asyncio.run(check(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "")) else 1


if __name__ == "__main__":
    sys.exit(main())

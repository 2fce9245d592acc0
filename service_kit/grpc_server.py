"""Server bootstrap shared by the gRPC services: health and reflection registered in one place, and
graceful shutdown (NOT_SERVING first, then stop(grace)) on SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Sequence

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

log = logging.getLogger("server")


class ServingServer:
    """A grpc.aio server with its health servicer, so callers can flip health before stopping."""

    def __init__(
        self,
        server: grpc.aio.Server,
        health_servicer: health.aio.HealthServicer,
        service_names: Sequence[str],
        port: int,
    ) -> None:
        self.server = server
        self.health = health_servicer
        self.service_names = list(service_names)
        self.port = port

    async def start(self) -> None:
        await self.server.start()
        for name in [""] + self.service_names:
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)

    async def stop(self, grace: float) -> None:
        for name in [""] + self.service_names:
            await self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        await self.server.stop(grace)


def build_server(
    *,
    address: str,
    register: Callable[[grpc.aio.Server], None],
    service_names: Sequence[str],
    interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
    reflection_enabled: bool = True,
    server_credentials: grpc.ServerCredentials | None = None,
    max_message_bytes: int = 1 << 20,
) -> ServingServer:
    """Builds (does not start) a server; `address` may end in :0 and the bound port is returned."""
    server = grpc.aio.server(
        interceptors=list(interceptors),
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
        ],
    )
    register(server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    if reflection_enabled:
        reflection.enable_server_reflection(
            list(service_names) + [health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME],
            server,
        )
    if server_credentials is not None:
        port = server.add_secure_port(address, server_credentials)
    else:
        port = server.add_insecure_port(address)
    if port == 0:
        raise RuntimeError(f"could not bind {address}")
    return ServingServer(server, health_servicer, service_names, port)


async def serve_until_signalled(
    serving: ServingServer, grace: float, on_stop: Callable[[], object] | None = None
) -> None:
    """Starts the server and blocks until SIGTERM or SIGINT, then shuts down gracefully."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await serving.start()
    log.info("serving", extra={"fields": {"port": serving.port, "services": serving.service_names}})
    waiter = asyncio.create_task(serving.server.wait_for_termination())
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
    log.info("stopping", extra={"fields": {"grace_s": grace}})
    await serving.stop(grace)
    if on_stop is not None:
        result = on_stop()
        if asyncio.iscoroutine(result):
            await result
    waiter.cancel()
    stopper.cancel()

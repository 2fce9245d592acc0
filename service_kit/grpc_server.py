"""The one server builder for every gRPC service: the interceptor chain (trace span when tracing is on, gRPC
metrics, request log, service auth with the service's permission table, any extra interceptors, domain error
mapping), health, reflection, TLS/mTLS from the settings, the Prometheus registry served on METRICS_LISTEN,
and graceful shutdown (NOT_SERVING first, then stop(grace)) on SIGTERM/SIGINT.

    serving = build_service_server(settings, address=..., register=..., service_names=[...],
                                   permissions=PERMISSIONS, error_mapper=to_rpc_error)
    await serve_until_signalled(serving, settings.shutdown_grace_s)
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import signal
from collections.abc import Awaitable, Callable, Mapping, Sequence

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from prometheus_client import CollectorRegistry

from service_kit import tracing
from service_kit.auth import ServiceAuthInterceptor
from service_kit.channels import server_credentials
from service_kit.interceptors import ErrorMapper, ErrorMappingInterceptor, RequestLogInterceptor
from service_kit.metrics import GrpcServerMetrics, MetricsEndpoint, serve_metrics
from service_kit.reflection import enable_reflection
from service_kit.settings import CommonSettings
from service_kit.startup import ConfigurationError, check_listen_address

log = logging.getLogger("server")

Closer = Callable[[], Awaitable[object]]


class ServingServer:
    """A grpc.aio server with its health servicer, so callers can flip health before stopping, and whatever
    the service opened for serving (channels, HTTP clients), closed after the server stopped. `registry`
    holds the service's Prometheus metrics; `metrics_listen` is where serve_until_signalled serves them."""

    def __init__(
        self,
        server: grpc.aio.Server,
        health_servicer: health.aio.HealthServicer,
        service_names: Sequence[str],
        port: int,
        closers: Sequence[Closer] = (),
        registry: CollectorRegistry | None = None,
        metrics_listen: str = "",
    ) -> None:
        self.server = server
        self.health = health_servicer
        self.service_names = list(service_names)
        self.port = port
        self._closers = list(closers)
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self.metrics_listen = metrics_listen

    def serve_metrics(self, listen: str | None = None) -> MetricsEndpoint:
        """Serves the registry over HTTP on `listen` (default metrics_listen), closed when the server stops."""
        endpoint = serve_metrics(listen if listen is not None else self.metrics_listen, self.registry)

        async def close() -> None:
            endpoint.close()

        self.close_on_stop(close)
        return endpoint

    def close_on_stop(self, closer: Closer) -> None:
        self._closers.append(closer)

    async def start(self) -> None:
        await self.server.start()
        for name in ["", *self.service_names]:
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)

    async def stop(self, grace: float) -> None:
        try:
            for name in ["", *self.service_names]:
                await self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
            await self.server.stop(grace)
        finally:
            closers, self._closers = self._closers, []
            for close in closers:
                await close()


def build_server(
    *,
    address: str,
    register: Callable[[grpc.aio.Server], None],
    service_names: Sequence[str],
    interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
    reflection_enabled: bool = True,
    server_credentials: grpc.ServerCredentials | None = None,
    max_message_bytes: int = 1 << 20,
    closers: Sequence[Closer] = (),
    listen_setting: str = "listen address",
    registry: CollectorRegistry | None = None,
    metrics_listen: str = "",
) -> ServingServer:
    """Builds (does not start) a server with exactly these interceptors; `address` may end in :0 and the
    bound port is returned. Services use build_service_server, which sets the interceptors and TLS."""
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
        health_name = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
        enable_reflection([*service_names, health_name], server)
    check_listen_address(address, listen_setting)
    try:
        if server_credentials is not None:
            port = server.add_secure_port(address, server_credentials)
        else:
            port = server.add_insecure_port(address)
    except RuntimeError:  # grpc raises for an address it cannot bind
        port = 0
    if port == 0:
        raise ConfigurationError(listen_setting, f"cannot listen on {address} (in use, or not this machine's address)")
    return ServingServer(server, health_servicer, service_names, port, closers, registry, metrics_listen)


def service_interceptors(
    settings: CommonSettings,
    permissions: Mapping[str, frozenset[str]],
    error_mapper: ErrorMapper,
    extra: Sequence[grpc.aio.ServerInterceptor] = (),
    registry: CollectorRegistry | None = None,
) -> list[grpc.aio.ServerInterceptor]:
    """The chain every service runs. Order: the trace span first (when tracing is on; it makes a new handler
    per call, so nothing that caches handlers may sit before it), the gRPC metrics and the log (they see
    the final code, refusals by auth included), then service auth (when any caller token is configured),
    then the extras, then domain error mapping nearest the servicer."""
    observed: list[grpc.aio.ServerInterceptor] = [*tracing.server_interceptors()]
    if registry is not None:
        observed.append(GrpcServerMetrics(registry).interceptor())
    auth: list[grpc.aio.ServerInterceptor] = []
    if settings.service_auth_enabled:
        auth.append(
            ServiceAuthInterceptor(settings.accepted_tokens(), permissions, bind_to_certificate=settings.mtls_required)
        )
    return [*observed, RequestLogInterceptor(), *auth, *extra, ErrorMappingInterceptor(error_mapper)]


def build_service_server(
    settings: CommonSettings,
    *,
    address: str,
    register: Callable[[grpc.aio.Server], None],
    service_names: Sequence[str],
    permissions: Mapping[str, frozenset[str]],
    error_mapper: ErrorMapper,
    extra_interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
    closers: Sequence[Closer] = (),
    listen_setting: str = "listen address",
    registry: CollectorRegistry | None = None,
) -> ServingServer:
    """A service's server, built (not started) from its settings: interceptors, reflection, TLS/mTLS, and
    the gRPC server metrics in `registry` (a new one unless the service brings its own with more series).
    `listen_setting` names the variable `address` came from, for the start-up error when it cannot bind."""
    registry = registry or CollectorRegistry(auto_describe=True)
    return build_server(
        address=address,
        register=register,
        service_names=service_names,
        interceptors=service_interceptors(settings, permissions, error_mapper, extra_interceptors, registry),
        reflection_enabled=settings.grpc_reflection,
        server_credentials=server_credentials(settings),
        closers=closers,
        listen_setting=listen_setting,
        registry=registry,
        metrics_listen=settings.metrics_listen,
    )


async def serve_until_signalled(
    serving: ServingServer, grace: float, on_stop: Callable[[], object] | None = None
) -> None:
    """Serves the metrics on metrics_listen (when set), starts the server and blocks until SIGTERM or SIGINT,
    then shuts down gracefully: NOT_SERVING, then stop(grace), then `on_stop` (e.g. closing the store)."""
    if serving.metrics_listen:
        serving.serve_metrics()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await serving.start()
    log.info(
        "serving",
        extra={"fields": {"port": serving.port, "services": serving.service_names, "metrics": serving.metrics_listen}},
    )
    waiter = asyncio.create_task(serving.server.wait_for_termination())
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
    log.info("stopping", extra={"fields": {"grace_s": grace}})
    await serving.stop(grace)
    if on_stop is not None:
        result = on_stop()
        if inspect.isawaitable(result):
            await result
    waiter.cancel()
    stopper.cancel()

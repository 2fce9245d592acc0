"""Prometheus metrics for every service: the usual gRPC server series, and the one way a service serves its
registry on its own METRICS_LISTEN address (never on the public port).

The gRPC series follow go-grpc-prometheus (the names dashboards expect):
- grpc_server_started_total{grpc_type, grpc_service, grpc_method}
- grpc_server_handled_total{grpc_type, grpc_service, grpc_method, grpc_code}
- grpc_server_handling_seconds{grpc_type, grpc_service, grpc_method} (histogram)

py-grpc-prometheus only intercepts the synchronous server (grpc.ServerInterceptor), and neither
grpc-interceptor nor the OpenTelemetry gRPC instrumentation records these series for grpc.aio, so this is a
small grpc.aio interceptor on prometheus_client.
"""

from __future__ import annotations

import threading
import time
from typing import Any
from wsgiref.simple_server import WSGIServer

import grpc
import grpc.aio
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

from service_kit.interceptors import (
    Context,
    Handler,
    _UnaryWrappingInterceptor,
    _wrap_unary,
    final_code,
    unary_behaviour,
)
from service_kit.startup import ConfigurationError

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def split_method(full_method: str) -> tuple[str, str]:
    """'/tokens.profile.v1.ProfileService/GetProfile' -> ('tokens.profile.v1.ProfileService', 'GetProfile')."""
    service, _, method = full_method.lstrip("/").rpartition("/")
    return service or "?", method or "?"


class GrpcServerMetrics:
    """The gRPC server series in `registry`, recorded by `interceptor()` (put it first in the chain so it
    sees every call, those refused by service auth included, with its final code)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ["grpc_type", "grpc_service", "grpc_method"]
        self.started = Counter("grpc_server_started_total", "RPCs started on the server.", labels, registry=registry)
        self.handled = Counter(
            "grpc_server_handled_total",
            "RPCs completed on the server, whatever their status code.",
            [*labels, "grpc_code"],
            registry=registry,
        )
        self.handling = Histogram(
            "grpc_server_handling_seconds",
            "Time the server took to answer an RPC.",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )

    def interceptor(self) -> grpc.aio.ServerInterceptor:
        return _MetricsInterceptor(self)


class _MetricsInterceptor(_UnaryWrappingInterceptor):
    def __init__(self, metrics: GrpcServerMetrics) -> None:
        super().__init__()
        self._metrics = metrics

    def _wrap(self, handler: Handler, method: str) -> Handler:
        inner = unary_behaviour(handler)
        service, name = split_method(method)
        # Label children resolved once per method, not per call.
        started = self._metrics.started.labels("unary", service, name)
        handling = self._metrics.handling.labels("unary", service, name)
        handled = self._metrics.handled

        async def behaviour(request: Any, context: Context) -> Any:
            started.inc()
            began = time.perf_counter()
            raised = True
            try:
                reply = await inner(request, context)
                raised = False
                return reply
            finally:
                handling.observe(time.perf_counter() - began)
                handled.labels("unary", service, name, final_code(context, raised).name).inc()

        return _wrap_unary(handler, behaviour)


class MetricsEndpoint:
    """prometheus_client's HTTP exposition of one registry on a thread of its own (a scrape never waits
    for the event loop, and a busy loop never delays a scrape)."""

    def __init__(self, server: WSGIServer, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def serve_metrics(listen: str, registry: CollectorRegistry, setting: str = "METRICS_LISTEN") -> MetricsEndpoint:
    """Serves `registry` at http://`listen`/metrics (any path answers; :0 picks a free port). A taken or foreign
    address is a start-up error naming `setting`."""
    host, colon, port = listen.rpartition(":")
    if not colon or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigurationError(setting, f"expected HOST:PORT (e.g. 127.0.0.1:9460), got {listen!r}")
    try:
        server, thread = start_http_server(int(port), addr=host.strip("[]") or "127.0.0.1", registry=registry)
    except OSError as exc:
        raise ConfigurationError(setting, f"cannot listen on {listen} ({exc.strerror or exc})") from None
    return MetricsEndpoint(server, thread)

"""Prometheus metrics, in a registry of the app's own (several apps can live in one test process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "gateway_http_requests_total",
            "HTTP requests by route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "gateway_http_request_duration_seconds",
            "HTTP request latency by route template and status.",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.downstream = Histogram(
            "gateway_downstream_call_duration_seconds",
            "gRPC calls to the services, by method and status code.",
            ["service", "method", "code"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

        # Label children per (method, route, status): labels() costs a lock and a tuple build per call.
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self._downstream_children: dict[tuple[str, str, str], Histogram] = {}

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        children = self._children.get((method, route, status))
        if children is None:
            labels = (method, route, str(status))
            children = self._children[(method, route, status)] = (
                self.requests.labels(*labels),
                self.latency.labels(*labels),
            )
        children[0].inc()
        children[1].observe(seconds)

    def observe_downstream(self, service: str, method: str, code: str, seconds: float) -> None:
        """service_kit.grpc_client's CallObserver for the gateway's gRPC calls."""
        child = self._downstream_children.get((service, method, code))
        if child is None:
            child = self._downstream_children[(service, method, code)] = self.downstream.labels(service, method, code)
        child.observe(seconds)

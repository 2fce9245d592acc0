"""service_kit's metrics endpoint and tracing switches, without servers: a bad or taken METRICS_LISTEN is a
start-up error naming it; with tracing off nothing is installed and log lines carry no trace id."""

from __future__ import annotations

import json
import logging
import socket

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter

from service_kit import tracing
from service_kit.logs import JsonFormatter
from service_kit.metrics import serve_metrics, split_method
from service_kit.startup import ConfigurationError


def test_split_method() -> None:
    assert split_method("/tokens.profile.v1.ProfileService/GetProfile") == (
        "tokens.profile.v1.ProfileService",
        "GetProfile",
    )
    assert split_method("odd") == ("?", "odd")


def test_the_endpoint_serves_its_registry_and_stops() -> None:
    registry = CollectorRegistry()
    Counter("unit_things_total", "Things.", registry=registry).inc(3)
    endpoint = serve_metrics("127.0.0.1:0", registry)
    try:
        text = httpx.get(f"http://127.0.0.1:{endpoint.port}/metrics", timeout=5).text
    finally:
        endpoint.close()
    assert "unit_things_total 3.0" in text
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{endpoint.port}/metrics", timeout=1)


@pytest.mark.parametrize("listen", ["9460", "127.0.0.1:port", "127.0.0.1:70000"])
def test_a_malformed_address_names_the_variable(listen: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        serve_metrics(listen, CollectorRegistry())
    assert caught.value.variable == "METRICS_LISTEN" and "HOST:PORT" in caught.value.problem


def test_a_taken_port_names_the_variable() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigurationError) as caught:
            serve_metrics(f"127.0.0.1:{port}", CollectorRegistry())
    assert caught.value.variable == "METRICS_LISTEN"
    assert caught.value.problem.startswith(f"cannot listen on 127.0.0.1:{port}")


def test_tracing_off_installs_nothing_and_logs_no_trace_id() -> None:
    assert not tracing.configure_tracing("unit", "")
    assert not tracing.tracing_enabled()
    assert tracing.server_interceptors() == [] and tracing.client_interceptors() == []
    with tracing.span("unit.work") as current:
        assert not current.is_recording()
        record = logging.LogRecord("unit", logging.INFO, __file__, 1, "hello", None, None)
        line = json.loads(JsonFormatter().format(record))
    assert line["trace_id"] is None and line["msg"] == "hello"

"""python -m gateway: serves the gateway with uvicorn on GATEWAY_LISTEN (default 127.0.0.1:8080), and its Prometheus
metrics on METRICS_LISTEN (default 127.0.0.1:9460; never the public port). A misconfiguration exits with one line
naming the variable (service_kit.startup)."""

from __future__ import annotations

import logging
import sys

import uvicorn

from gateway.app import create_app
from gateway.serving import UVICORN_OPTIONS
from gateway.settings import GatewaySettings
from service_kit.logs import configure_logging
from service_kit.metrics import serve_metrics
from service_kit.startup import check_listen_address, run_main
from service_kit.tracing import configure_tracing, shutdown_tracing

log = logging.getLogger("gateway")


def main() -> int:
    settings = GatewaySettings()
    configure_logging(settings.log_level)
    # A taken or foreign address is named as GATEWAY_LISTEN now, rather than by uvicorn after start-up.
    check_listen_address(f"{settings.listen_host}:{settings.listen_port}", "GATEWAY_LISTEN")
    configure_tracing("gateway", settings.otel_exporter_otlp_endpoint)
    app = create_app(settings)
    metrics_endpoint = (
        serve_metrics(settings.metrics_listen, app.state.metrics.registry) if settings.metrics_listen else None
    )
    log.info(
        "serving",
        extra={
            "fields": {
                "listen": settings.gateway_listen,
                "loop": UVICORN_OPTIONS["loop"],
                "http": UVICORN_OPTIONS["http"],
                "metrics": settings.metrics_listen,
            }
        },
    )
    try:
        uvicorn.run(
            app,
            host=settings.listen_host,
            port=settings.listen_port,
            timeout_graceful_shutdown=int(settings.shutdown_grace_s),
            **UVICORN_OPTIONS,
        )
    finally:
        if metrics_endpoint is not None:
            metrics_endpoint.close()
        shutdown_tracing()
    return 0


if __name__ == "__main__":
    sys.exit(run_main("gateway", main))

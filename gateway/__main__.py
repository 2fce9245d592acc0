"""python -m gateway: serves the gateway with uvicorn on GATEWAY_LISTEN (default 127.0.0.1:8080)."""

from __future__ import annotations

import sys

import uvicorn

from gateway.app import create_app
from gateway.settings import GatewaySettings
from service_kit.logs import configure_logging


def main() -> int:
    settings = GatewaySettings()
    configure_logging(settings.log_level)
    app = create_app(settings)
    uvicorn.run(
        app,
        host=settings.listen_host,
        port=settings.listen_port,
        log_config=None,  # uvicorn's own lines go through the JSON formatter too
        access_log=False,  # RequestContextMiddleware writes one line per request, with the request id
        server_header=False,
        timeout_graceful_shutdown=int(settings.shutdown_grace_s),
        lifespan="on",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

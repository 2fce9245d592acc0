"""How the gateway is served: uvicorn with uvloop (event loop) and httptools (HTTP parser), the C-backed
implementations, instead of the pure-Python asyncio loop and h11. The bench's bare-FastAPI anchor is served
with the same options, so the ratio between them measures the gateway's own work."""

from __future__ import annotations

from typing import Any

UVICORN_OPTIONS: dict[str, Any] = {
    "loop": "uvloop",
    "http": "httptools",
    "log_config": None,  # uvicorn's own lines go through the JSON formatter too
    "access_log": False,  # RequestContextMiddleware writes one line per request, with the request id
    "server_header": False,
    "lifespan": "on",
}

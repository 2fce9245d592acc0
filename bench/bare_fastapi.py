"""The HTTP anchor: a bare FastAPI app under uvicorn, run the way `python -m gateway` runs its app (the same
uvicorn options, gateway.serving.UVICORN_OPTIONS: uvloop and httptools), with one route GET /v1/profile returning the same JSON the gateway returned. No auth, no
middleware, no gRPC: what it reaches is the limit of the HTTP layer on this machine.

    python -m bench.bare_fastapi --listen 127.0.0.1:PORT --body profile.json"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from gateway.serving import UVICORN_OPTIONS


def create_app(body: dict) -> FastAPI:
    app = FastAPI()

    @app.get("/v1/profile")
    async def profile() -> dict:
        return body

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bare_fastapi")
    parser.add_argument("--listen", required=True)
    parser.add_argument("--body", required=True, help="JSON file: what GET /v1/profile returns")
    args = parser.parse_args()
    host, _, port = args.listen.rpartition(":")
    app = create_app(json.loads(Path(args.body).read_text()))
    uvicorn.run(
        app,
        host=host,
        port=int(port),
        log_level="warning",
        **UVICORN_OPTIONS,  # the gateway's own: uvloop, httptools, no access log
    )


if __name__ == "__main__":
    main()

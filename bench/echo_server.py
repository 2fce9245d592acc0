"""The gRPC anchor: a bare grpc.aio server with one generic unary handler and identity (bytes) serializers.
It parses nothing and answers each method with fixed bytes (a real reply captured from the profile service,
so the message size is the same); methods it was not given are echoed back. What it reaches is the limit
of the Python gRPC runtime on this machine.

    python -m bench.echo_server --listen 127.0.0.1:PORT --replies replies.json
replies.json: {"/tokens.profile.v1.ProfileService/GetProfile": "<base64 of the reply>", ...}"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import signal
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc


class EchoHandler(grpc.GenericRpcHandler):
    def __init__(self, replies: dict[str, bytes]) -> None:
        self._handlers: dict[str, grpc.RpcMethodHandler] = {}
        for method, payload in replies.items():
            self._handlers[method] = grpc.unary_unary_rpc_method_handler(self._fixed(payload))
        self._echo = grpc.unary_unary_rpc_method_handler(self._echo_back)

    @staticmethod
    def _fixed(payload: bytes):
        async def reply(_request: bytes, _context: grpc.aio.ServicerContext) -> bytes:
            return payload

        return reply

    @staticmethod
    async def _echo_back(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return request

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        method = handler_call_details.method
        if method.startswith("/grpc.health.v1.Health/"):
            return None  # the registered health service answers
        return self._handlers.get(method, self._echo)


async def serve(listen: str, replies: dict[str, bytes]) -> None:
    health_servicer = health.aio.HealthServicer()
    server = grpc.aio.server()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    server.add_generic_rpc_handlers((EchoHandler(replies),))
    if server.add_insecure_port(listen) == 0:
        raise SystemExit(f"could not bind {listen}")
    await server.start()
    await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop(1)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.echo_server")
    parser.add_argument("--listen", required=True)
    parser.add_argument("--replies", help="JSON file: method path -> base64 reply bytes")
    args = parser.parse_args()
    replies = {}
    if args.replies:
        replies = {m: base64.b64decode(v) for m, v in json.loads(Path(args.replies).read_text()).items()}
    asyncio.run(serve(args.listen, replies))


if __name__ == "__main__":
    main()

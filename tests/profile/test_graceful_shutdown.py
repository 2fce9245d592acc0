"""On SIGTERM the service reports NOT_SERVING first, then stops within its grace period and exits 0."""

from __future__ import annotations

import asyncio
import signal

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.support.processes import profile_process


async def test_sigterm_flips_health_to_not_serving_then_exits_cleanly(tmp_path):
    service = profile_process(tmp_path / "p.sqlite3", tmp_path / "profile.log", SHUTDOWN_GRACE_S="2").start()
    try:
        await service.wait_serving()
        statuses = []
        async with grpc.aio.insecure_channel(service.target) as channel:
            watch = health_pb2_grpc.HealthStub(channel).Watch(
                health_pb2.HealthCheckRequest(service="tokens.profile.v1.ProfileService")
            )

            first = asyncio.Event()

            async def follow() -> None:
                try:
                    async for reply in watch:
                        statuses.append(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))
                        first.set()
                except grpc.RpcError:
                    pass  # the stream ends when the server stops

            follower = asyncio.create_task(follow())
            await asyncio.wait_for(first.wait(), 30)
            service.proc.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(service.proc.wait, 15)
            await asyncio.wait_for(follower, 10)
        assert statuses[0] == "SERVING"
        assert "NOT_SERVING" in statuses, statuses
        assert code == 0, service.log_path.read_text()[-2000:]
    finally:
        service.kill()

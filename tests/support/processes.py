"""Services as real subprocesses (`python -m <service>`), for kill/restart tests."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

ROOT = Path(__file__).resolve().parents[2]
SERVING_WITHIN_S = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ServiceProcess:
    module: str
    env: dict[str, str]
    target: str
    log_path: Path
    proc: subprocess.Popen | None = field(default=None)

    def start(self) -> ServiceProcess:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", self.module], cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        return self

    async def wait_serving(self) -> None:
        """Polls gRPC health until SERVING, for at most SERVING_WITHIN_S."""
        deadline = time.monotonic() + SERVING_WITHIN_S
        async with grpc.aio.insecure_channel(self.target) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while time.monotonic() < deadline:
                if self.proc is not None and self.proc.poll() is not None:
                    raise RuntimeError(f"{self.module} exited: {self.log_path.read_text()[-2000:]}")
                try:
                    reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.RpcError:
                    pass
                await asyncio.sleep(0.05)
        raise TimeoutError(f"{self.module} not serving at {self.target}: {self.log_path.read_text()[-2000:]}")

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, no flushing, like a crashed machine process."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def terminate(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


def service_env(**values: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PROFILE_", "BILLING_", "GATEWAY_", "STRIPE_", "AUTH_TOKEN_"))
    }
    env["PYTHONPATH"] = str(ROOT)
    env["LOG_LEVEL"] = "WARNING"
    env["METRICS_LISTEN"] = "127.0.0.1:0"  # a free port: test processes never take the default 946x ports
    env.update(values)
    return env


def profile_process(db_path: Path, log_path: Path, **extra: str) -> ServiceProcess:
    port = free_port()
    env = service_env(PROFILE_LISTEN=f"127.0.0.1:{port}", PROFILE_STORE="sqlite", SQLITE_PATH=str(db_path), **extra)
    return ServiceProcess("profile_service", env, f"127.0.0.1:{port}", log_path)

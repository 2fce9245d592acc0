"""Servers as subprocesses on free 127.0.0.1 ports: start, wait until ready (gRPC health or an HTTP URL), stop,
and read each process's peak resident set size (VmHWM) before it goes away."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import httpx

from service_kit import health

ROOT = Path(__file__).resolve().parents[1]
# Prefixes of variables that configure our services: never inherited from the caller's shell.
_SERVICE_PREFIXES = (
    "PROFILE_",
    "BILLING_",
    "GATEWAY_",
    "STRIPE_",
    "AUTH_TOKEN_",
    "SQLITE_",
    "FIREBASE_",
    "TLS_",
    "APP_ENV",
    "LOG_LEVEL",
    "CORS_",
)


# Every process this run started and has not stopped yet: killed at exit, whatever way the run ends.
_LIVE: dict[int, subprocess.Popen] = {}


@atexit.register
def _kill_leftovers() -> None:
    for pid, proc in list(_LIVE.items()):
        if proc.poll() is None:
            proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)
        _LIVE.pop(pid, None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def base_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SERVICE_PREFIXES)}
    env["PYTHONPATH"] = str(ROOT)
    env["PYTHONUNBUFFERED"] = "1"
    # Production-like logging volume: one JSON line per RPC at INFO would measure the terminal, not the service.
    env["LOG_LEVEL"] = "WARNING"
    env["METRICS_LISTEN"] = "127.0.0.1:0"  # served (as in production) on a free port, never the default 946x
    # The purchase scenario creates many Checkout Sessions as one user: the per-user write limit is not measured.
    env["RATE_LIMIT_WRITES"] = ""
    env.update({k: str(v) for k, v in values.items()})
    return env


def read_status_kb(pid: int, key: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


@dataclass
class Proc:
    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    target: str = ""  # host:port
    proc: subprocess.Popen | None = None
    peak_rss_kb: int | None = None
    extra: dict = field(default_factory=dict)

    @classmethod
    def module(
        cls, name: str, module: str, env: dict[str, str], log_dir: Path, target: str = "", args: tuple[str, ...] = ()
    ) -> Proc:
        return cls(name, [sys.executable, "-m", module, *args], env, log_dir / f"{name}.log", target)

    def start(self) -> Proc:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        _LIVE[self.proc.pid] = self.proc
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def _check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")

    async def wait_grpc(self, timeout_s: float = 60.0) -> Proc:
        deadline = time.monotonic() + timeout_s
        async with grpc.aio.insecure_channel(self.target) as channel:
            while time.monotonic() < deadline:
                self._check_alive()
                if await health.check(channel, timeout_s=1) == health.SERVING:
                    return self
                await asyncio.sleep(0.05)
        raise TimeoutError(f"{self.name} not serving at {self.target}:\n{self.log_tail()}")

    async def wait_http(self, path: str = "/", timeout_s: float = 60.0, ok=(200,)) -> Proc:
        deadline = time.monotonic() + timeout_s
        url = f"http://{self.target}{path}"
        last = ""
        async with httpx.AsyncClient(timeout=2) as client:
            while time.monotonic() < deadline:
                self._check_alive()
                try:
                    reply = await client.get(url)
                    if reply.status_code in ok:
                        return self
                    last = f"{reply.status_code} {reply.text[:300]}"
                except httpx.HTTPError as exc:
                    last = repr(exc)
                await asyncio.sleep(0.05)
        raise TimeoutError(f"{self.name} not ready at {url} ({last}):\n{self.log_tail()}")

    def sample_rss(self) -> int | None:
        """Peak RSS so far (kB). Read it before stopping: /proc/<pid> disappears with the process."""
        if self.proc is not None and self.proc.poll() is None:
            value = read_status_kb(self.proc.pid, "VmHWM")
            if value is not None:
                self.peak_rss_kb = max(self.peak_rss_kb or 0, value)
        return self.peak_rss_kb

    def stop(self, grace: float = 10.0) -> None:
        if self.proc is None:
            return
        self.sample_rss()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.proc.send_signal(signal.SIGKILL)
                self.proc.wait(10)
        _LIVE.pop(self.proc.pid, None)


class ProcGroup:
    """Processes of one scenario, stopped together (newest first) and reported together."""

    def __init__(self) -> None:
        self.procs: list[Proc] = []

    def add(self, proc: Proc) -> Proc:
        self.procs.append(proc.start())
        return proc

    def sample_rss(self) -> None:
        for proc in self.procs:
            proc.sample_rss()

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            try:
                proc.stop()
            except Exception as exc:
                print(f"  warning: stopping {proc.name}: {exc}", file=sys.stderr)

    def rss_mb(self) -> dict[str, float | None]:
        self.sample_rss()
        return {p.name: (round(p.peak_rss_kb / 1024, 1) if p.peak_rss_kb else None) for p in self.procs}

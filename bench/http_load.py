"""HTTP load: `wrk` (Debian package, installed on first use when we may) or, failing that, an httpx closed-loop
generator. One generator is chosen per run and used for the service and its anchor alike."""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Mapping

import httpx

from bench.grpc_load import LoadResult, summarise

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _apt(*args: str, timeout: float) -> bool:
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    try:
        done = subprocess.run(["apt-get", *args], env=env, capture_output=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def ensure_wrk(log=print) -> str | None:
    """Path of wrk, installing it from Debian's packages if missing and we are root. None: use httpx."""
    if os.environ.get("BENCH_HTTP_GENERATOR", "").lower() == "httpx":
        return None
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        log("  wrk is missing and cannot be installed here (needs root + apt-get): using the httpx generator")
        return None
    log("  installing wrk (apt-get install -y wrk) ...")
    if not _apt("install", "-y", "-q", "--no-install-recommends", "wrk", timeout=300):
        _apt("update", "-q", timeout=300)
        _apt("install", "-y", "-q", "--no-install-recommends", "wrk", timeout=300)
    found = shutil.which("wrk")
    if not found:
        log("  could not install wrk: using the httpx generator")
    return found


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not match:
        raise ValueError(f"unparsable wrk duration {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(output: str, concurrency: int) -> LoadResult:
    requests = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", output)
    if not requests:
        raise RuntimeError(f"wrk output not understood:\n{output}")
    total = int(requests.group(1))
    seconds = _ms(requests.group(2) + requests.group(3)) / 1000
    errors: dict[str, int] = {}
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non2xx:
        errors["non-2xx"] = int(non2xx.group(1))
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if sock:
        for name, value in zip(("connect", "read", "write", "timeout"), sock.groups(), strict=True):
            if int(value):
                errors[f"socket-{name}"] = int(value)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.M)
    ok = total - errors.get("non-2xx", 0)
    return LoadResult(
        concurrency, seconds, ok, errors, _ms(p50.group(1)) if p50 else None, _ms(p99.group(1)) if p99 else None, None
    )


class HttpLoad:
    """Closed-loop GET load against one URL with fixed headers."""

    def __init__(self, wrk_path: str | None) -> None:
        self.wrk = wrk_path
        self.name = "wrk" if wrk_path else "httpx"

    async def run(self, url: str, headers: Mapping[str, str], concurrency: int, seconds: float) -> LoadResult:
        if self.wrk:
            return await self._run_wrk(url, headers, concurrency, seconds)
        return await self._run_httpx(url, headers, concurrency, seconds)

    async def _run_wrk(self, url: str, headers: Mapping[str, str], concurrency: int, seconds: float) -> LoadResult:
        argv = [self.wrk, "-t1", f"-c{concurrency}", f"-d{max(1, round(seconds))}s", "--latency", "--timeout", "10s"]
        for name, value in headers.items():
            argv += ["-H", f"{name}: {value}"]
        argv.append(url)
        proc = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        out, _ = await proc.communicate()
        text = out.decode(errors="replace")
        if proc.returncode != 0:
            raise RuntimeError(f"wrk failed ({proc.returncode}):\n{text}")
        return parse_wrk(text, concurrency)

    async def _run_httpx(self, url: str, headers: Mapping[str, str], concurrency: int, seconds: float) -> LoadResult:
        latencies: list[float] = []
        errors: Counter = Counter()
        counter = itertools.count()
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(limits=limits, timeout=10, headers=dict(headers)) as client:
            deadline = time.perf_counter() + seconds

            async def worker() -> None:
                clock = time.perf_counter
                while True:
                    next(counter)
                    started = clock()
                    if started >= deadline:
                        return
                    try:
                        reply = await client.get(url)
                        await reply.aread()
                    except httpx.HTTPError as exc:
                        errors[type(exc).__name__] += 1
                        continue
                    if reply.status_code >= 400:
                        errors[f"http-{reply.status_code}"] += 1
                        continue
                    latencies.append(clock() - started)

            cpu0, t0 = time.process_time(), time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            elapsed = time.perf_counter() - t0
        return summarise(latencies, errors, concurrency, elapsed, time.process_time() - cpu0)

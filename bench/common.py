"""What the scenarios share: the run's settings, the alternating anchor/service measurement, service start-up
with the real per-caller service tokens, and small gRPC helpers."""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from bench.grpc_load import LoadResult
from bench.procs import ROOT, Proc, base_env, free_port
from service_kit.dev_credentials import dev_tokens

PROFILE_SERVICE = "/tokens.profile.v1.ProfileService/"


class ScenarioSkipped(Exception):
    """A scenario whose services are not available yet; the run goes on without it."""


@dataclass
class BenchConfig:
    seconds: float = 2.0
    repeats: int = 3
    levels: tuple[int, ...] = (1, 16, 64)
    warmup_s: float = 0.5
    purchases: int = 50
    history_entries: int = 100_000
    workdir: Path = Path("/tmp")
    tokens: dict[str, str] = field(default_factory=dev_tokens)
    wrk: str | None = None  # path of wrk, or None for the httpx generator
    log: Callable[[str], None] = print

    def auth_env(self) -> dict[str, str]:
        return {f"AUTH_TOKEN_{name.upper()}": value for name, value in self.tokens.items()}

    def metadata(self, caller: str) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.tokens[caller]}"),)

    def scenario_dir(self, name: str) -> Path:
        path = self.workdir / name
        path.mkdir(parents=True, exist_ok=True)
        return path


# ---- measuring -------------------------------------------------------------------------------------------

Runner = Callable[[int, float], Awaitable[LoadResult]]


def _median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 3) if present else None


def combine(runs: list[LoadResult]) -> dict:
    errors: dict[str, int] = {}
    for run in runs:
        for key, count in run.errors.items():
            errors[key] = errors.get(key, 0) + count
    return {
        "rps": _median([r.rps for r in runs]),
        "p50_ms": _median([r.p50_ms for r in runs]),
        "p99_ms": _median([r.p99_ms for r in runs]),
        "ok": sum(r.ok for r in runs),
        "errors": errors,
        "runs": [r.as_dict() for r in runs],
    }


async def alternate(
    cfg: BenchConfig,
    runners: dict[str, Runner],
    levels: Sequence[int] | None = None,
    repeats: int | None = None,
    title: str = "",
) -> dict[str, dict[int, dict]]:
    """For each concurrency level: a short warm-up of every runner, then `repeats` rounds of each runner in
    turn (anchor, service, anchor, service, ...). Medians over the rounds per runner and level."""
    levels = tuple(levels or cfg.levels)
    repeats = repeats or cfg.repeats
    out: dict[str, dict[int, dict]] = {label: {} for label in runners}
    for level in levels:
        if cfg.warmup_s > 0:
            for run in runners.values():
                await run(level, cfg.warmup_s)
        collected: dict[str, list[LoadResult]] = {label: [] for label in runners}
        for _ in range(repeats):
            for label, run in runners.items():
                collected[label].append(await run(level, cfg.seconds))
        for label, runs in collected.items():
            out[label][level] = combine(runs)
        cfg.log(
            "  "
            + f"{title} c={level}: "
            + " | ".join(
                f"{label} {out[label][level]['rps']:.0f} rps p50 {fmt_ms(out[label][level]['p50_ms'])}"
                f" p99 {fmt_ms(out[label][level]['p99_ms'])}"
                + (f" err {out[label][level]['errors']}" if out[label][level]["errors"] else "")
                for label in runners
            )
        )
    return out


def fmt_ms(value: float | None) -> str:
    return "-" if value is None else (f"{value:.2f}ms" if value < 10 else f"{value:.1f}ms")


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else round(a / b, 3)


# ---- services ----------------------------------------------------------------------------------------------


def profile_proc(
    cfg: BenchConfig, folder: Path, name: str = "profile", db: Path | None = None, port: int | None = None
) -> Proc:
    port = port or free_port()
    env = base_env(
        PROFILE_LISTEN=f"127.0.0.1:{port}",
        PROFILE_STORE="sqlite",
        SQLITE_PATH=str(db or folder / "profile.sqlite3"),
        **cfg.auth_env(),
    )
    return Proc.module(name, "profile_service", env, folder, f"127.0.0.1:{port}")


def echo_proc(folder: Path, replies: Path, name: str = "echo") -> Proc:
    port = free_port()
    return Proc.module(
        name,
        "bench.echo_server",
        base_env(),
        folder,
        f"127.0.0.1:{port}",
        args=("--listen", f"127.0.0.1:{port}", "--replies", str(replies)),
    )


def run_audit(cfg: BenchConfig, db: Path | None = None, **store: str) -> tuple[int, str]:
    """`python -m profile_service audit` on a stopped service's SQLite file `db`, or on the store `store` names
    (PROFILE_STORE=firestore, GOOGLE_CLOUD_PROJECT=..., ...)."""
    env = base_env(**(store or {"PROFILE_STORE": "sqlite", "SQLITE_PATH": str(db)}), **cfg.auth_env())
    done = subprocess.run(
        [sys.executable, "-m", "profile_service", "audit"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return done.returncode, (done.stdout + done.stderr).strip()


def stub_call(channel: grpc.aio.Channel, method: str, request_cls, response_cls):
    return channel.unary_unary(
        PROFILE_SERVICE + method,
        request_serializer=request_cls.SerializeToString,
        response_deserializer=response_cls.FromString,
    )


def raw_call(channel: grpc.aio.Channel, method: str, request_cls):
    """The reply as bytes, as they came over the wire (to feed the echo server)."""
    return channel.unary_unary(
        PROFILE_SERVICE + method, request_serializer=request_cls.SerializeToString, response_deserializer=None
    )


async def gather_limited(coros, limit: int = 16):
    sem = asyncio.Semaphore(limit)

    async def one(coro):
        async with sem:
            return await coro

    return await asyncio.gather(*(one(c) for c in coros))


class Stopwatch:
    def __init__(self) -> None:
        self.t0 = time.perf_counter()

    @property
    def seconds(self) -> float:
        return round(time.perf_counter() - self.t0, 2)

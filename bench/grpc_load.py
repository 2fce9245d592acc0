"""A closed-loop grpc.aio load generator: C workers each send one unary call, wait for the reply, and send
the next, for T seconds. Latencies of every completed call give requests/s, p50 and p99; failed calls are
counted per status code (and ErrorInfo reason, e.g. INSUFFICIENT_TOKENS)."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import grpc

from service_kit.rich_errors import details_of


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile of an already sorted sequence."""
    if not sorted_values:
        return None
    rank = max(1, min(len(sorted_values), round(q / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


@dataclass
class LoadResult:
    concurrency: int
    seconds: float
    ok: int
    errors: dict[str, int] = field(default_factory=dict)
    p50_ms: float | None = None
    p99_ms: float | None = None
    client_cpu_s: float | None = None

    @property
    def rps(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict:
        return {
            "concurrency": self.concurrency,
            "seconds": round(self.seconds, 3),
            "ok": self.ok,
            "rps": round(self.rps, 1),
            "p50_ms": _r(self.p50_ms),
            "p99_ms": _r(self.p99_ms),
            "errors": dict(self.errors),
            "client_cpu_s": _r(self.client_cpu_s),
        }


def _r(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def summarise(
    latencies_s: list[float], errors: Counter, concurrency: int, elapsed: float, cpu_s: float | None = None
) -> LoadResult:
    latencies_s.sort()
    p50, p99 = percentile(latencies_s, 50), percentile(latencies_s, 99)
    return LoadResult(
        concurrency,
        elapsed,
        len(latencies_s),
        dict(errors),
        None if p50 is None else p50 * 1000,
        None if p99 is None else p99 * 1000,
        cpu_s,
    )


class UnaryTarget:
    """One unary method on one channel, called the same way for the service and for its anchor."""

    def __init__(
        self,
        target: str,
        method: str,
        request_serializer: Callable | None,
        response_deserializer: Callable | None,
        metadata: Sequence[tuple[str, str]] = (),
        timeout: float = 10.0,
    ) -> None:
        self.target = target
        self.channel = grpc.aio.insecure_channel(target)
        self.call = self.channel.unary_unary(
            method, request_serializer=request_serializer, response_deserializer=response_deserializer
        )
        self.metadata = tuple(metadata)
        self.timeout = timeout

    async def ready(self, timeout_s: float = 10.0) -> None:
        await asyncio.wait_for(self.channel.channel_ready(), timeout_s)

    async def close(self) -> None:
        await self.channel.close()


async def run_load(
    target: UnaryTarget,
    make_request: Callable[[int, int], object],
    concurrency: int,
    seconds: float,
    on_reply: Callable[[object], None] | None = None,
    max_requests: int | None = None,
) -> LoadResult:
    """make_request(worker, n) builds the n-th request (n unique across workers within this run). With
    max_requests, the run also ends once that many calls have been started."""
    counter = itertools.count()
    latencies: list[float] = []
    errors: Counter = Counter()
    deadline = time.perf_counter() + seconds
    call, metadata, timeout = target.call, target.metadata, target.timeout

    async def worker(w: int) -> None:
        clock = time.perf_counter
        while True:
            n = next(counter)
            if max_requests is not None and n >= max_requests:
                return
            request = make_request(w, n)
            started = clock()
            if started >= deadline:
                return
            try:
                reply = await call(request, metadata=metadata, timeout=timeout)
            except grpc.aio.AioRpcError as exc:
                info = details_of(exc)
                errors[f"{info.code.name}/{info.reason}" if info.reason != info.code.name else info.code.name] += 1
                continue
            latencies.append(clock() - started)
            if on_reply is not None:
                on_reply(reply)

    cpu0, t0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    elapsed = time.perf_counter() - t0
    return summarise(latencies, errors, concurrency, elapsed, time.process_time() - cpu0)

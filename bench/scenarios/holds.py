"""Scenario: ReserveTokens + CaptureHold pairs per second (a long job's reserve-then-capture) next to plain
SpendTokens, over gRPC against the profile service on SQLite, 64 users, a new idempotency key every call.
A pair is two ledger writes (the HOLD entry, then the SPEND under hold-settle:{hold_id}) and two round trips,
so about half the spend rate is the expected ceiling; the ratio says what holds cost beyond that."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter

import grpc
from google.protobuf import duration_pb2

from bench.common import PROFILE_SERVICE, BenchConfig, alternate, profile_proc, ratio, stub_call
from bench.grpc_load import LoadResult, UnaryTarget, run_load, summarise
from bench.procs import ProcGroup
from service_kit.rich_errors import details_of
from tokens.profile.v1 import profile_service_pb2 as pb

USERS = 64
NAME = "holds"
TTL = duration_pb2.Duration(seconds=600)


async def _pairs(
    reserve: UnaryTarget, capture: UnaryTarget, uids: list[str], prefix: str, concurrency: int, seconds: float
) -> LoadResult:
    """Closed loop: each worker reserves 2 tokens, then captures 1 of them (the rest is released)."""
    counter = itertools.count()
    latencies: list[float] = []
    errors: Counter = Counter()
    deadline = time.perf_counter() + seconds

    async def worker(w: int) -> None:
        uid = uids[w % len(uids)]
        while True:
            n = next(counter)
            started = time.perf_counter()
            if started >= deadline:
                return
            try:
                hold = await reserve.call(
                    pb.ReserveTokensRequest(uid=uid, amount=2, ttl=TTL, idempotency_key=f"{prefix}{n}"),
                    metadata=reserve.metadata,
                    timeout=reserve.timeout,
                )
                await capture.call(
                    pb.CaptureHoldRequest(uid=uid, hold_id=hold.hold_id, amount=1),
                    metadata=capture.metadata,
                    timeout=capture.timeout,
                )
            except grpc.aio.AioRpcError as exc:
                info = details_of(exc)
                errors[f"{info.code.name}/{info.reason}"] += 1
                continue
            latencies.append(time.perf_counter() - started)

    cpu0, t0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    return summarise(latencies, errors, concurrency, time.perf_counter() - t0, time.process_time() - cpu0)


async def run(cfg: BenchConfig) -> dict:
    folder = cfg.scenario_dir(NAME)
    group = ProcGroup()
    try:
        profile = group.add(profile_proc(cfg, folder))
        await profile.wait_grpc()
        uids = [f"bench-hold-{i:03d}" for i in range(USERS)]
        async with grpc.aio.insecure_channel(profile.target) as channel:
            create = stub_call(channel, "CreateProfile", pb.CreateProfileRequest, pb.CreateProfileResponse)
            grant = stub_call(channel, "GrantTokens", pb.GrantTokensRequest, pb.GrantTokensResponse)
            for uid in uids:
                await create(
                    pb.CreateProfileRequest(uid=uid, email=f"{uid}@example.com"), metadata=cfg.metadata("gateway")
                )
                await grant(
                    pb.GrantTokensRequest(
                        uid=uid, amount=1_000_000, type=pb.TOKEN_ENTRY_TYPE_PURCHASE, idempotency_key="seed"
                    ),
                    metadata=cfg.metadata("billing"),
                )

        def target(method: str, req, resp) -> UnaryTarget:
            return UnaryTarget(
                profile.target,
                PROFILE_SERVICE + method,
                req.SerializeToString,
                resp.FromString,
                cfg.metadata("backend"),
            )

        spend = target("SpendTokens", pb.SpendTokensRequest, pb.SpendTokensResponse)
        reserve = target("ReserveTokens", pb.ReserveTokensRequest, pb.ReserveTokensResponse)
        capture = target("CaptureHold", pb.CaptureHoldRequest, pb.CaptureHoldResponse)
        run_ids = itertools.count()

        async def spends(c: int, s: float) -> LoadResult:
            prefix = f"spend-{next(run_ids)}-"
            return await run_load(
                spend,
                lambda w, n: pb.SpendTokensRequest(uid=uids[w % USERS], amount=1, idempotency_key=f"{prefix}{n}"),
                c,
                s,
            )

        async def pairs(c: int, s: float) -> LoadResult:
            return await _pairs(reserve, capture, uids, f"job-{next(run_ids)}-", c, s)

        for t in (spend, reserve, capture):
            await t.ready()
        try:
            fig = await alternate(
                cfg, {"SpendTokens": spends, "Reserve+Capture": pairs}, title="holds (pairs/s vs spends/s)"
            )
        finally:
            for t in (spend, reserve, capture):
                await t.close()
        rss = group.rss_mb()
    finally:
        group.stop_all()
    ratios = {
        f"reserve_capture_pairs_vs_spend_c{c}": ratio(fig["Reserve+Capture"][c]["rps"], fig["SpendTokens"][c]["rps"])
        for c in cfg.levels
    }
    return {
        "name": NAME,
        "title": "ReserveTokens + CaptureHold pairs/s vs SpendTokens/s over gRPC (SQLite, 64 users)",
        "comparisons": {
            "holds": {"anchor": "SpendTokens", "service": "Reserve+Capture", "figures": fig},
        },
        "ratios": ratios,
        "peak_rss_mb": rss,
    }

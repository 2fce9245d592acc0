"""Scenario 5: SpendTokens contention. Spenders on one user (every transaction wants the same row) next to the
same number of spenders each on their own user, alternating; outcomes counted per status/reason. Then a
drain: 64 spenders race to spend 1 token at a time from a balance of exactly DRAIN tokens; exactly DRAIN
spends may succeed, the rest must be INSUFFICIENT_TOKENS, and the audit must pass afterwards."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter

import grpc

from bench.common import PROFILE_SERVICE, BenchConfig, alternate, profile_proc, ratio, run_audit, stub_call
from bench.grpc_load import UnaryTarget, run_load
from bench.procs import ProcGroup
from service_kit.rich_errors import details_of
from tokens.profile.v1 import profile_service_pb2 as pb

NAME = "spend_contention"
HOT, DRAIN_UID = "spend-hot", "spend-drain"
SPREAD = 64
DRAIN = 2000
MAX_GRANT = 1_000_000


async def _drain(target: UnaryTarget, spenders: int) -> dict:
    counter = itertools.count()
    outcomes: Counter = Counter()
    latencies: list[float] = []

    async def spender() -> None:
        while True:
            n = next(counter)
            t0 = time.perf_counter()
            try:
                await target.call(
                    pb.SpendTokensRequest(uid=DRAIN_UID, amount=1, idempotency_key=f"drain-{n}", reason="bench drain"),
                    metadata=target.metadata,
                    timeout=target.timeout,
                )
            except grpc.aio.AioRpcError as exc:
                info = details_of(exc)
                outcomes[info.reason if info.reason != info.code.name else info.code.name] += 1
                if info.reason == "INSUFFICIENT_TOKENS":
                    return
                continue
            latencies.append(time.perf_counter() - t0)
            outcomes["OK"] += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(spender() for _ in range(spenders)))
    elapsed = time.perf_counter() - t0
    return {
        "spenders": spenders,
        "balance_before": DRAIN,
        "outcomes": dict(outcomes),
        "seconds": round(elapsed, 3),
        "ok_rps": round(outcomes["OK"] / elapsed, 1) if elapsed else None,
        "exactly_drained": outcomes["OK"] == DRAIN,
    }


async def run(cfg: BenchConfig) -> dict:
    folder = cfg.scenario_dir(NAME)
    db = folder / "profile.sqlite3"
    group = ProcGroup()
    try:
        profile = group.add(profile_proc(cfg, folder, db=db))
        await profile.wait_grpc()
        spread = [f"spend-cold-{i:02d}" for i in range(SPREAD)]
        async with grpc.aio.insecure_channel(profile.target) as channel:
            create = stub_call(channel, "CreateProfile", pb.CreateProfileRequest, pb.CreateProfileResponse)
            grant = stub_call(channel, "GrantTokens", pb.GrantTokensRequest, pb.GrantTokensResponse)
            for uid in [HOT, DRAIN_UID, *spread]:
                await create(
                    pb.CreateProfileRequest(uid=uid, email=f"{uid}@example.com"), metadata=cfg.metadata("gateway")
                )
            # Enough that the timed runs never run dry (a few thousand spends a second at most).
            for uid, amount in [
                (HOT, MAX_GRANT),
                (HOT, MAX_GRANT),
                (DRAIN_UID, DRAIN),
                *((uid, MAX_GRANT) for uid in spread),
            ]:
                await grant(
                    pb.GrantTokensRequest(
                        uid=uid,
                        amount=amount,
                        type=pb.TOKEN_ENTRY_TYPE_ADJUSTMENT,
                        idempotency_key=f"seed-{uid}-{amount}",
                    ),
                    metadata=cfg.metadata("billing"),
                )
            balance_before = (
                await stub_call(channel, "GetProfile", pb.GetProfileRequest, pb.GetProfileResponse)(
                    pb.GetProfileRequest(uid=HOT), metadata=cfg.metadata("backend")
                )
            ).profile.tokens

        spend = UnaryTarget(
            profile.target,
            PROFILE_SERVICE + "SpendTokens",
            pb.SpendTokensRequest.SerializeToString,
            pb.SpendTokensResponse.FromString,
            cfg.metadata("backend"),
        )
        await spend.ready()
        run_ids = itertools.count()
        totals = {"one user": Counter(), "own user each": Counter()}

        def runner(label: str, uid_of):
            async def go(c: int, s: float):
                prefix = f"spend-{next(run_ids)}-"
                result = await run_load(
                    spend,
                    lambda w, n: pb.SpendTokensRequest(
                        uid=uid_of(w), amount=1, idempotency_key=prefix + str(n), reason="bench"
                    ),
                    c,
                    s,
                )
                totals[label]["OK"] += result.ok
                totals[label].update(result.errors)
                return result

            return go

        try:
            fig = await alternate(
                cfg,
                {
                    "own user each": runner("own user each", lambda w: spread[w % SPREAD]),
                    "one user": runner("one user", lambda w: HOT),
                },
                title="SpendTokens",
            )
            drain = await _drain(spend, 64)
            cfg.log(f"  drain: {drain}")
            async with grpc.aio.insecure_channel(profile.target) as channel:
                balance_after = (
                    await stub_call(channel, "GetProfile", pb.GetProfileRequest, pb.GetProfileResponse)(
                        pb.GetProfileRequest(uid=HOT), metadata=cfg.metadata("backend")
                    )
                ).profile.tokens
        finally:
            await spend.close()
        rss = group.rss_mb()
    finally:
        group.stop_all()
    audit_rc, audit_out = run_audit(cfg, db)
    spent_ok = totals["one user"]["OK"]
    return {
        "name": NAME,
        "title": "5. SpendTokens contention: spenders on one user vs each on their own user",
        "comparisons": {"spend": {"anchor": "own user each", "service": "one user", "figures": fig}},
        "ratios": {
            f"one_user_vs_spread_c{c}": ratio(fig["one user"][c]["rps"], fig["own user each"][c]["rps"])
            for c in cfg.levels
        },
        "outcomes": {label: dict(counter) for label, counter in totals.items()},
        "hot_user_balance": {
            "before": balance_before,
            "after": balance_after,
            "successful_spends": spent_ok,
            "consistent": balance_before - balance_after == spent_ok,
        },
        "retries": (
            "none: the SQLite store runs every transaction on one writer thread (BEGIN IMMEDIATE), so "
            "contending spends queue instead of conflicting; aborts would show as UNAVAILABLE/"
            "STORE_UNAVAILABLE (busy timeout) in the outcome counts"
        ),
        "drain": drain,
        "audit": {"exit_code": audit_rc, "output": audit_out.splitlines()[-1] if audit_out else ""},
        "peak_rss_mb": rss,
    }

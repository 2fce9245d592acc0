"""Scenario 1: GetProfile and GrantTokens (a new idempotency key every call) over gRPC against the profile
service on SQLite, each next to the bare grpc.aio echo server answering with a reply of the same bytes."""

from __future__ import annotations

import base64
import itertools
import json

import grpc

from bench.common import PROFILE_SERVICE, BenchConfig, alternate, echo_proc, profile_proc, ratio, raw_call, stub_call
from bench.grpc_load import UnaryTarget, run_load
from bench.procs import ProcGroup
from tokens.profile.v1 import profile_service_pb2 as pb

USERS = 64
NAME = "grpc_profile"


def _source(n: int) -> dict[str, str]:
    # What billing records for a purchase.
    return {
        "checkout_session_id": f"cs_bench_{n}",
        "price_id": "price_onetime_5_tokens",
        "product_id": "prod_token_pack",
    }


async def run(cfg: BenchConfig) -> dict:
    folder = cfg.scenario_dir(NAME)
    group = ProcGroup()
    try:
        profile = group.add(profile_proc(cfg, folder))
        await profile.wait_grpc()
        uids = [f"bench-user-{i:03d}" for i in range(USERS)]
        async with grpc.aio.insecure_channel(profile.target) as channel:
            create = stub_call(channel, "CreateProfile", pb.CreateProfileRequest, pb.CreateProfileResponse)
            for uid in uids:
                await create(
                    pb.CreateProfileRequest(uid=uid, email=f"{uid}@example.com"), metadata=cfg.metadata("gateway")
                )
            # Real replies, byte for byte, for the echo server.
            get_reply = await raw_call(channel, "GetProfile", pb.GetProfileRequest)(
                pb.GetProfileRequest(uid=uids[0]), metadata=cfg.metadata("gateway")
            )
            grant_reply = await raw_call(channel, "GrantTokens", pb.GrantTokensRequest)(
                pb.GrantTokensRequest(
                    uid=uids[0],
                    amount=5,
                    type=pb.TOKEN_ENTRY_TYPE_PURCHASE,
                    idempotency_key="cs_bench_warm",
                    source=_source(0),
                ),
                metadata=cfg.metadata("billing"),
            )
        replies = folder / "echo_replies.json"
        replies.write_text(
            json.dumps(
                {
                    PROFILE_SERVICE + "GetProfile": base64.b64encode(get_reply).decode(),
                    PROFILE_SERVICE + "GrantTokens": base64.b64encode(grant_reply).decode(),
                }
            )
        )
        echo = group.add(echo_proc(folder, replies))
        await echo.wait_grpc()

        def target(addr: str, method: str, req, resp, caller: str) -> UnaryTarget:
            return UnaryTarget(
                addr, PROFILE_SERVICE + method, req.SerializeToString, resp.FromString, cfg.metadata(caller)
            )

        get_targets = {
            "echo": target(echo.target, "GetProfile", pb.GetProfileRequest, pb.GetProfileResponse, "gateway"),
            "GetProfile": target(profile.target, "GetProfile", pb.GetProfileRequest, pb.GetProfileResponse, "gateway"),
        }
        grant_targets = {
            "echo": target(echo.target, "GrantTokens", pb.GrantTokensRequest, pb.GrantTokensResponse, "billing"),
            "GrantTokens": target(
                profile.target, "GrantTokens", pb.GrantTokensRequest, pb.GrantTokensResponse, "billing"
            ),
        }
        get_requests = [pb.GetProfileRequest(uid=uid) for uid in uids]
        run_ids = itertools.count()

        def get_runner(t: UnaryTarget):
            return lambda c, s: run_load(t, lambda w, n: get_requests[n % USERS], c, s)

        def grant_runner(t: UnaryTarget):
            async def go(c: int, s: float):
                prefix = f"cs_bench_{next(run_ids)}_"
                return await run_load(
                    t,
                    lambda w, n: pb.GrantTokensRequest(
                        uid=uids[w % USERS],
                        amount=5,
                        type=pb.TOKEN_ENTRY_TYPE_PURCHASE,
                        idempotency_key=prefix + str(n),
                        source=_source(n),
                    ),
                    c,
                    s,
                )

            return go

        for t in (*get_targets.values(), *grant_targets.values()):
            await t.ready()
        try:
            get_fig = await alternate(cfg, {k: get_runner(t) for k, t in get_targets.items()}, title="GetProfile")
            grant_fig = await alternate(
                cfg, {k: grant_runner(t) for k, t in grant_targets.items()}, title="GrantTokens"
            )
        finally:
            for t in (*get_targets.values(), *grant_targets.values()):
                await t.close()
        rss = group.rss_mb()
    finally:
        group.stop_all()

    ratios = {
        f"{method}_vs_echo_c{c}": ratio(fig[svc][c]["rps"], fig["echo"][c]["rps"])
        for method, svc, fig in (("get_profile", "GetProfile", get_fig), ("grant_tokens", "GrantTokens", grant_fig))
        for c in cfg.levels
    }
    return {
        "name": NAME,
        "title": "1. GetProfile / GrantTokens over gRPC (SQLite) vs bare grpc.aio echo",
        "comparisons": {
            "get_profile": {
                "anchor": "echo",
                "service": "GetProfile",
                "figures": get_fig,
                "reply_bytes": len(get_reply),
            },
            "grant_tokens": {
                "anchor": "echo",
                "service": "GrantTokens",
                "figures": grant_fig,
                "reply_bytes": len(grant_reply),
            },
        },
        "ratios": ratios,
        "peak_rss_mb": rss,
    }

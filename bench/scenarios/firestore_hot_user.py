"""Scenario 6: one hot user on Firestore (Google's emulator, started here with a capped heap): 64 concurrent
SpendTokens callers on the same user, profile service with the per-user write queue (group commit) and without
it (PROFILE_WRITE_QUEUE=false: one transaction per call, contending on the user document). Each mode has its
own service process and project; with the queue first, so work the other mode leaves behind in the emulator
cannot slow it. Every call has a deadline (CALL_TIMEOUT_S), so a mode that crawls cannot hang the bench.
Afterwards: balance before - after == successful spends, and the audit passes."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import grpc

from bench.common import PROFILE_SERVICE, BenchConfig, ScenarioSkipped, combine, fmt_ms, run_audit, stub_call
from bench.grpc_load import UnaryTarget, run_load
from bench.procs import Proc, ProcGroup, base_env, free_port, read_status_kb
from tokens.profile.v1 import profile_service_pb2 as pb

NAME = "firestore_hot_user"
HOT = "firestore-hot"
SPENDERS = 64
SEED_GRANTS = 3  # x 1,000,000 tokens: the timed runs never run dry
CALL_TIMEOUT_S = 5.0
MODES = (("with queue", "true"), ("without queue", "false"))


def _start_emulator():
    from devtools.firestore_emulator import FirestoreEmulatorUnavailable, start_firestore_emulator

    try:
        return start_firestore_emulator()
    except FirestoreEmulatorUnavailable as exc:
        raise ScenarioSkipped(str(exc)) from exc


def _profile_proc(cfg: BenchConfig, folder, name: str, host: str, project: str, queue: str) -> Proc:
    port = free_port()
    env = base_env(
        PROFILE_LISTEN=f"127.0.0.1:{port}",
        PROFILE_STORE="firestore",
        GOOGLE_CLOUD_PROJECT=project,
        FIRESTORE_EMULATOR_HOST=host,
        PROFILE_WRITE_QUEUE=queue,
        **cfg.auth_env(),
    )
    return Proc.module(name, "profile_service", env, folder, f"127.0.0.1:{port}")


def _audit(cfg: BenchConfig, host: str, project: str) -> tuple[int, str]:
    return run_audit(cfg, PROFILE_STORE="firestore", GOOGLE_CLOUD_PROJECT=project, FIRESTORE_EMULATOR_HOST=host)


def _group_peak_rss_mb(pgid: int) -> float | None:
    """The largest VmHWM in the emulator's process group (the java process; the launcher is a shell)."""
    peak = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # Fields after the command name (which may hold spaces): state, ppid, pgrp, ...
            if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[2]) == pgid:
                peak = max(peak, read_status_kb(int(entry.name), "VmHWM") or 0)
        except (OSError, ValueError, IndexError):
            continue
    return round(peak / 1024, 1) if peak else None


def _outcomes(errors: dict[str, int], ok: int) -> dict[str, int]:
    out = Counter({"OK": ok, "UNAVAILABLE": 0, "other": 0})
    for key, count in errors.items():
        out["UNAVAILABLE" if key.startswith("UNAVAILABLE") else "other"] += count
    return dict(out)


async def _balance(cfg: BenchConfig, target: str) -> int:
    async with grpc.aio.insecure_channel(target) as channel:
        get = stub_call(channel, "GetProfile", pb.GetProfileRequest, pb.GetProfileResponse)
        reply = await get(pb.GetProfileRequest(uid=HOT), metadata=cfg.metadata("backend"), timeout=30)
        return reply.profile.tokens


async def _measure(cfg: BenchConfig, folder, host: str, label: str, queue: str, run_no: int) -> dict:
    project = f"bench-hot-{queue}-{run_no}"
    group = ProcGroup()
    try:
        profile = group.add(_profile_proc(cfg, folder, f"profile-{queue}-queue", host, project, queue))
        await profile.wait_grpc()
        async with grpc.aio.insecure_channel(profile.target) as channel:
            create = stub_call(channel, "CreateProfile", pb.CreateProfileRequest, pb.CreateProfileResponse)
            grant = stub_call(channel, "GrantTokens", pb.GrantTokensRequest, pb.GrantTokensResponse)
            await create(pb.CreateProfileRequest(uid=HOT, email=f"{HOT}@example.com"), metadata=cfg.metadata("gateway"))
            for i in range(SEED_GRANTS):
                await grant(
                    pb.GrantTokensRequest(
                        uid=HOT, amount=1_000_000, type=pb.TOKEN_ENTRY_TYPE_ADJUSTMENT, idempotency_key=f"seed-{i}"
                    ),
                    metadata=cfg.metadata("billing"),
                    timeout=30,
                )
        balance_before = await _balance(cfg, profile.target)
        spend = UnaryTarget(
            profile.target,
            PROFILE_SERVICE + "SpendTokens",
            pb.SpendTokensRequest.SerializeToString,
            pb.SpendTokensResponse.FromString,
            cfg.metadata("backend"),
            timeout=CALL_TIMEOUT_S,
        )
        runs = []
        all_ok = 0  # warm-up included: every OK answer took one token
        try:
            await spend.ready()
            for round_no in range(-1 if cfg.warmup_s > 0 else 0, cfg.repeats):
                prefix = f"spend-{round_no}-"
                seconds = cfg.warmup_s if round_no < 0 else cfg.seconds
                result = await run_load(
                    spend,
                    lambda w, n, prefix=prefix: pb.SpendTokensRequest(
                        uid=HOT, amount=1, idempotency_key=prefix + str(n), reason="bench"
                    ),
                    SPENDERS,
                    seconds,
                )
                all_ok += result.ok
                if round_no >= 0:
                    runs.append(result)
                cfg.log(
                    f"  {label}{' (warm-up)' if round_no < 0 else ''}: {result.rps:.0f} spends/s, p50 "
                    f"{fmt_ms(result.p50_ms)} p99 {fmt_ms(result.p99_ms)}, {_outcomes(result.errors, result.ok)}"
                )
        finally:
            await spend.close()
        # Spends of the warm-up count too: compare the balance with every OK answer.
        balance_after = await _balance(cfg, profile.target)
        rss = group.rss_mb()
    finally:
        group.stop_all()
    audit_rc, audit_out = await asyncio.to_thread(_audit, cfg, host, project)
    figures = combine(runs)
    total_ok = sum(r.ok for r in runs)
    errors: Counter = Counter()
    for r in runs:
        errors.update(r.errors)
    return {
        "figures": figures,
        "outcomes": _outcomes(dict(errors), total_ok),
        # spent - ok_answers: spends that landed although their caller got no OK (deadline): unknown outcomes.
        "balance": {
            "before": balance_before,
            "after": balance_after,
            "spent": balance_before - balance_after,
            "ok_answers": all_ok,
        },
        "audit": {"exit_code": audit_rc, "output": audit_out.splitlines()[-1] if audit_out else ""},
        "peak_rss_mb": rss,
    }


async def run(cfg: BenchConfig) -> dict:
    folder = cfg.scenario_dir(NAME)
    emulator = await asyncio.to_thread(_start_emulator)
    try:
        cfg.log(f"  Google's Firestore emulator on {emulator.host} (-Xmx512m)")
        measured = {}
        for run_no, (label, queue) in enumerate(MODES):
            measured[label] = await _measure(cfg, folder, emulator.host, label, queue, run_no)
        emulator_rss = _group_peak_rss_mb(emulator.process.pid)
    finally:
        emulator.stop()
    with_q, without_q = measured["with queue"], measured["without queue"]
    return {
        "name": NAME,
        "title": "6. Firestore (Google's emulator): one hot user, 64 SpendTokens callers, write queue vs none",
        "comparisons": {
            "hot user spends": {
                "anchor": "without queue",
                "service": "with queue",
                "figures": {label: {SPENDERS: m["figures"]} for label, m in measured.items()},
            }
        },
        "firestore_hot_user_spends_per_s": with_q["figures"]["rps"],
        "firestore_hot_user_spends_per_s_no_queue": without_q["figures"]["rps"],
        "outcomes": {label: m["outcomes"] for label, m in measured.items()},
        "balances": {label: m["balance"] for label, m in measured.items()},
        "audit": {label: m["audit"] for label, m in measured.items()},
        "call_timeout_s": CALL_TIMEOUT_S,
        "peak_rss_mb": {
            **{f"{label}: {k}": v for label, m in measured.items() for k, v in m["peak_rss_mb"].items()},
            "firestore emulator (java)": emulator_rss,
        },
    }

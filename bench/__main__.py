"""python -m bench [--quick] [--only grpc_profile,history,...] [--seconds S] [--repeats R]

Starts every server it needs as a subprocess on a free 127.0.0.1 port with a fresh temporary data directory,
measures each service next to its anchor (alternating, medians), stops everything, prints a table and writes
bench/results/latest.json and bench/results/latest.png. Environment: BENCH_SECONDS, BENCH_REPEATS,
BENCH_HTTP_GENERATOR=httpx (skip wrk)."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

from bench.common import BenchConfig, ScenarioSkipped
from bench.report import plot, table, target_rows

RESULTS = Path(__file__).resolve().parent / "results"
# Order matters a little: the cheap gRPC scenarios first, then the ones that need the whole stack.
SCENARIOS = (
    "grpc_profile",
    "gateway_profile",
    "purchase",
    "history",
    "spend_contention",
    "firestore_hot_user",
    "holds",
)


def log(message: str) -> None:
    print(message, flush=True)


def machine_info() -> dict:
    cpu_model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import grpc

    return {
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model,
        "python": platform.python_version(),
        "grpcio": grpc.__version__,
        "platform": platform.platform(),
    }


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


async def run_all(cfg: BenchConfig, names: list[str]) -> list[dict]:
    results = []
    for name in names:
        log(f"\n-- scenario {name}")
        started = time.perf_counter()
        try:
            module = importlib.import_module(f"bench.scenarios.{name}")
            outcome = await module.run(cfg)
        except ScenarioSkipped as exc:
            log(f"  skipped: {exc}")
            outcome = {"name": name, "title": name, "skipped": str(exc)}
        except Exception as exc:
            traceback.print_exc()
            outcome = {"name": name, "title": name, "error": f"{type(exc).__name__}: {exc}"}
        outcome["seconds"] = round(time.perf_counter() - started, 1)
        outcome["loadavg_after"] = loadavg()
        log(f"  ({outcome['seconds']}s, load {outcome['loadavg_after']})")
        results.append(outcome)
    return results


def headline(scenarios: list[dict]) -> tuple[dict, dict | None]:
    by_name = {s["name"]: s for s in scenarios}
    r1 = by_name.get("grpc_profile", {}).get("ratios", {})
    r2 = by_name.get("gateway_profile", {}).get("ratios", {})
    ratios = {
        "get_profile_vs_echo_c16": r1.get("get_profile_vs_echo_c16"),
        "grant_tokens_vs_echo_c16": r1.get("grant_tokens_vs_echo_c16"),
        "gateway_vs_fastapi_c16": r2.get("gateway_vs_fastapi_c16"),
        "history_100k_vs_10": by_name.get("history", {}).get("history_100k_vs_10"),
        # Not one of the keys: the same history ratio for writes (GrantTokens p50, c16).
        "history_100k_vs_10_writes": by_name.get("history", {}).get("history_100k_vs_10_writes"),
        # Absolute figures (spends/s, c64, one user, Google's emulator): with the write queue and without.
        "firestore_hot_user_spends_per_s": by_name.get("firestore_hot_user", {}).get("firestore_hot_user_spends_per_s"),
        "firestore_hot_user_spends_per_s_no_queue": by_name.get("firestore_hot_user", {}).get(
            "firestore_hot_user_spends_per_s_no_queue"
        ),
        # ReserveTokens + CaptureHold pairs/s over SpendTokens/s (SQLite, c16; a pair is two writes).
        "reserve_capture_pairs_vs_spend_c16": by_name.get("holds", {})
        .get("ratios", {})
        .get("reserve_capture_pairs_vs_spend_c16"),
    }
    purchase = by_name.get("purchase", {}).get("purchase")
    p2b = {"p50": purchase["p50_ms"], "p99": purchase["p99_ms"]} if purchase else None
    return ratios, p2b


def carry_over(scenarios: list[dict], names: list[str]) -> list[dict]:
    """A partial run (--only) keeps the other scenarios' latest results, marked with the run they come from, so
    latest.json always holds every figure (e.g. grant_tokens_vs_echo_c16 after `--only firestore_hot_user`)."""
    previous_path = RESULTS / "latest.json"
    if set(names) >= set(SCENARIOS) or not previous_path.is_file():
        return scenarios
    try:
        previous = json.loads(previous_path.read_text())
    except (OSError, ValueError):
        return scenarios
    kept = []
    for old in previous.get("scenarios", []):
        if old.get("name") in names or old.get("name") not in SCENARIOS or old.get("skipped") or old.get("error"):
            continue
        kept.append({**old, "from_run": old.get("from_run") or previous.get("started_at")})
    order = {name: i for i, name in enumerate(SCENARIOS)}
    return sorted([*scenarios, *kept], key=lambda s: order.get(s["name"], len(order)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[1])
    parser.add_argument("--quick", action="store_true", help="1s measurements, 1 round, 10k history (development)")
    parser.add_argument("--only", default="", help=f"comma-separated subset of {','.join(SCENARIOS)}")
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the temporary data directory")
    args = parser.parse_args(argv)

    cfg = BenchConfig(log=log)
    if args.quick:
        cfg.seconds, cfg.repeats, cfg.warmup_s, cfg.purchases, cfg.history_entries = 1.0, 1, 0.2, 10, 10_000
    env_seconds, env_repeats = os.environ.get("BENCH_SECONDS"), os.environ.get("BENCH_REPEATS")
    cfg.seconds = args.seconds or (float(env_seconds) if env_seconds else cfg.seconds)
    cfg.repeats = args.repeats or (int(env_repeats) if env_repeats else cfg.repeats)
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(SCENARIOS)
    unknown = set(names) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")

    # SIGTERM ends the run like Ctrl-C: servers are stopped (bench/procs.py kills any left at exit).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    from bench.http_load import ensure_wrk

    cfg.wrk = ensure_wrk(log) if {"gateway_profile"} & set(names) else shutil.which("wrk")
    workdir = Path(tempfile.mkdtemp(prefix="token-bench-"))
    cfg.workdir = workdir
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    machine = machine_info()
    machine["loadavg_before"] = loadavg()
    log(
        f"bench: {machine['nproc']} cpus, load average {machine['loadavg_before']}, {cfg.seconds}s x {cfg.repeats} "
        f"rounds per level {list(cfg.levels)}, data in {workdir}"
    )
    try:
        scenarios = asyncio.run(run_all(cfg, names))
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    machine["loadavg_after"] = loadavg()
    machine.update(
        {
            "grpc_generator": "grpc.aio closed loop (bench/grpc_load.py), in the bench process",
            "http_generator": "wrk -t1" if cfg.wrk else "httpx closed loop",
            "seconds_per_measurement": cfg.seconds,
            "repeats": cfg.repeats,
            "levels": list(cfg.levels),
            "warmup_s": cfg.warmup_s,
        }
    )
    scenarios = carry_over(scenarios, names)
    ratios, p2b = headline(scenarios)
    result = {
        "started_at": started_at,
        "total_seconds": round(time.perf_counter() - t0, 1),
        "quick": args.quick,
        "ratios": ratios,
        "purchase_to_balance_ms": p2b,
        "machine": machine,
        "scenarios": scenarios,
    }
    result["targets"] = target_rows(result)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(result, indent=2, default=str))
    try:
        plot(result, RESULTS / "latest.png")
    except Exception:
        traceback.print_exc()
    log("\n" + table(result))
    log(f"\nwrote {RESULTS / 'latest.json'} and {RESULTS / 'latest.png'}")
    return 0 if not any(s.get("error") for s in scenarios) else 1


if __name__ == "__main__":
    sys.exit(main())

"""Scenario 3: purchase to balance. The whole stack runs (stand-in, profile, billing, gateway). For each
purchase: a Checkout Session is created through the gateway and paid on the Stripe stand-in (not timed; the
stand-in records the event but delivers nothing); then the clock starts, the signed
`checkout.session.completed` event is POSTed to the gateway's /v1/stripe/webhook (signed with billing's
webhook secret, HMAC-SHA256 over "t.payload" as Stripe does), and the clock stops when GET /v1/profile shows
the tokens."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import statistics
import time

import httpx

from bench.common import BenchConfig, fmt_ms, profile_proc
from bench.firebase_tokens import FirebaseIssuer
from bench.grpc_load import percentile
from bench.procs import Proc, ProcGroup, base_env, free_port
from bench.scenarios.gateway_profile import ServiceCredentialRejected, gateway_proc, require

NAME = "purchase"
UID = "bench-buyer"
PRICE_ID = "price_onetime_5_tokens"
TOKENS_PER_PURCHASE = 5
STANDIN_KEY = "sk_test_local_standin"


def stripe_signature(payload: str, secret: str, timestamp: int | None = None) -> str:
    ts = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{ts}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac}"


def standin_proc(folder, secret: str) -> Proc:
    port = free_port()
    env = base_env(STRIPE_STANDIN_HOST="127.0.0.1", STRIPE_STANDIN_PORT=str(port), STRIPE_WEBHOOK_SECRET=secret)
    return Proc.module("stripe-standin", "devtools.stripe_standin", env, folder, f"127.0.0.1:{port}")


def billing_proc(cfg: BenchConfig, folder, profile_target: str, standin: str, secret: str) -> Proc:
    port = free_port()
    env = base_env(
        BILLING_LISTEN=f"127.0.0.1:{port}",
        PROFILE_TARGET=profile_target,
        STRIPE_API_BASE=f"http://{standin}",
        STRIPE_SECRET_KEY=STANDIN_KEY,
        STRIPE_WEBHOOK_SECRET=secret,
        STRIPE_MAX_NETWORK_RETRIES="0",
        **cfg.auth_env(),
    )
    return Proc.module("billing", "billing_service", env, folder, f"127.0.0.1:{port}")


async def run(cfg: BenchConfig) -> dict:
    require(
        "gateway.__main__",
        "gateway.app",
        "billing_service.__main__",
        "billing_service.server",
        "devtools.stripe_standin.__main__",
        "devtools.stripe_standin.app",
    )
    return await _run(cfg)


async def _prepare(client: httpx.AsyncClient, gateway_url: str, standin_url: str, n: int) -> tuple[str, str]:
    """Creates and pays one Checkout Session; returns (session id, the checkout.session.completed payload)."""
    made = await client.post(
        f"{gateway_url}/v1/checkout-sessions",
        json={"price_id": PRICE_ID, "mode": "payment"},
        headers={"Idempotency-Key": f"bench-purchase-{n}"},
    )
    if made.status_code == 401 and "service credential" in made.text:
        raise ServiceCredentialRejected(f"a service refused its caller's credential ({made.text[:200]})")
    if made.status_code not in (200, 201):
        raise RuntimeError(f"POST /v1/checkout-sessions: {made.status_code} {made.text[:500]}")
    session_id = made.json()["id"]
    paid = await client.post(
        f"{standin_url}/_standin/checkout/sessions/{session_id}/complete", json={"outcome": "paid"}
    )
    if paid.status_code != 200:
        raise RuntimeError(f"stand-in complete: {paid.status_code} {paid.text[:500]}")
    for event_id in paid.json()["events"]:
        signed = await client.get(f"{standin_url}/_standin/events/{event_id}/signed")
        signed.raise_for_status()
        payload = signed.json()["payload"]
        if '"checkout.session.completed"' in payload:
            return session_id, payload
    raise RuntimeError(f"no checkout.session.completed event for {session_id}")


async def _run(cfg: BenchConfig) -> dict:
    folder = cfg.scenario_dir(NAME)
    secret = "whsec_bench_" + secrets.token_hex(16)
    group = ProcGroup()
    samples: list[float] = []
    webhook_ms: list[float] = []
    polls: list[int] = []
    with FirebaseIssuer() as issuer:
        try:
            standin = group.add(standin_proc(folder, secret))
            profile = group.add(profile_proc(cfg, folder))
            await profile.wait_grpc()
            await standin.wait_http("/_standin/state")
            billing = group.add(billing_proc(cfg, folder, profile.target, standin.target, secret))
            await billing.wait_grpc()
            gateway = group.add(gateway_proc(cfg, folder, issuer, profile.target, billing.target))
            await gateway.wait_http("/readyz")
            gateway_url, standin_url = f"http://{gateway.target}", f"http://{standin.target}"
            headers = issuer.headers(UID, f"{UID}@example.com")
            async with (
                httpx.AsyncClient(timeout=15, headers=headers) as client,
                httpx.AsyncClient(timeout=15) as stripe_side,
            ):
                created = await client.post(f"{gateway_url}/v1/profile")
                if created.status_code == 401 and "service credential" in created.text:
                    raise ServiceCredentialRejected(f"the profile service refused the gateway ({created.text[:200]})")
                created.raise_for_status()
                balance = created.json()["tokens"]
                # Warm-up purchase (first Stripe call, first grant): not counted.
                for n in range(-1, cfg.purchases):
                    session_id, payload = await _prepare(client, gateway_url, standin_url, n)
                    expected = balance + TOKENS_PER_PURCHASE
                    body = payload.encode()
                    t0 = time.perf_counter()
                    hook = await stripe_side.post(
                        f"{gateway_url}/v1/stripe/webhook",
                        content=body,
                        headers={
                            "Content-Type": "application/json",
                            "Stripe-Signature": stripe_signature(payload, secret),
                        },
                    )
                    t_hook = time.perf_counter()
                    if hook.status_code != 200:
                        raise RuntimeError(f"webhook: {hook.status_code} {hook.text[:500]}")
                    count = 0
                    while True:
                        count += 1
                        seen = await client.get(f"{gateway_url}/v1/profile")
                        seen.raise_for_status()
                        if seen.json()["tokens"] >= expected:
                            break
                        if time.perf_counter() - t0 > 10:
                            raise RuntimeError(f"tokens of {session_id} not visible after 10s: {seen.text[:300]}")
                    t1 = time.perf_counter()
                    balance = seen.json()["tokens"]
                    if n >= 0:
                        samples.append((t1 - t0) * 1000)
                        webhook_ms.append((t_hook - t0) * 1000)
                        polls.append(count)
                history = await client.get(f"{gateway_url}/v1/profile/token-history", params={"page_size": 100})
                history.raise_for_status()
            rss = group.rss_mb()
        finally:
            group.stop_all()
    ordered = sorted(samples)
    result = {
        "count": len(samples),
        "p50_ms": round(percentile(ordered, 50), 2),
        "p99_ms": round(percentile(ordered, 99), 2),
        "mean_ms": round(statistics.fmean(samples), 2),
        "min_ms": round(ordered[0], 2),
        "max_ms": round(ordered[-1], 2),
        "webhook_p50_ms": round(percentile(sorted(webhook_ms), 50), 2),
        "webhook_p99_ms": round(percentile(sorted(webhook_ms), 99), 2),
        "profile_reads_per_purchase": dict(sorted({c: polls.count(c) for c in set(polls)}.items())),
        "final_balance": balance,
        "history_entries_seen": len(history.json()["entries"]),
        "samples_ms": [round(s, 2) for s in samples],
    }
    cfg.log(
        f"  purchase -> balance over {len(samples)}: p50 {fmt_ms(result['p50_ms'])} p99 {fmt_ms(result['p99_ms'])}"
        f" (webhook alone p50 {fmt_ms(result['webhook_p50_ms'])})"
    )
    return {
        "name": NAME,
        "title": "3. Purchase to balance: signed checkout.session.completed -> gateway webhook -> GET /v1/profile",
        "purchase": result,
        "service_auth": "on (AUTH_TOKEN_GATEWAY/BILLING/BACKEND set for every process)",
        "peak_rss_mb": rss,
    }

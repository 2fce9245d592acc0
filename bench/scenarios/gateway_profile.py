"""Scenario 2: GET /v1/profile through the gateway (HTTP -> Firebase ID token check -> gRPC -> SQLite) with a
valid RS256 token, next to a bare FastAPI/uvicorn route returning the same JSON; same HTTP generator."""

from __future__ import annotations

import importlib

import httpx

from bench.common import BenchConfig, ScenarioSkipped, alternate, profile_proc, ratio
from bench.firebase_tokens import FirebaseIssuer
from bench.http_load import HttpLoad
from bench.procs import Proc, ProcGroup, base_env, free_port

NAME = "gateway_profile"
UID = "bench-gateway-user"


def require(*modules: str) -> None:
    for module in modules:
        try:
            importlib.import_module(module)
        except Exception as exc:
            raise ScenarioSkipped(f"{module} is not importable yet ({type(exc).__name__}: {exc})") from None


def gateway_proc(
    cfg: BenchConfig, folder, issuer: FirebaseIssuer, profile_target: str, billing_target: str | None = None
) -> Proc:
    port = free_port()
    env = base_env(
        GATEWAY_LISTEN=f"127.0.0.1:{port}",
        PROFILE_TARGET=profile_target,
        BILLING_TARGET=billing_target or f"127.0.0.1:{free_port()}",
        FIREBASE_PROJECT_ID=issuer.project_id,
        FIREBASE_CERT_URL=issuer.cert_url,
        **cfg.auth_env(),
    )
    return Proc.module("gateway", "gateway", env, folder, f"127.0.0.1:{port}")


def fastapi_proc(folder, body_file) -> Proc:
    port = free_port()
    return Proc.module(
        "bare-fastapi",
        "bench.bare_fastapi",
        base_env(),
        folder,
        f"127.0.0.1:{port}",
        args=("--listen", f"127.0.0.1:{port}", "--body", str(body_file)),
    )


class ServiceCredentialRejected(RuntimeError):
    """A service refused its caller's credential: the bench measures the real (authenticated) setup or
    nothing."""


async def run(cfg: BenchConfig) -> dict:
    require("gateway.__main__", "gateway.app", "gateway.settings")
    return await _run(cfg)


async def _run(cfg: BenchConfig) -> dict:
    folder = cfg.scenario_dir(NAME)
    group = ProcGroup()
    http = HttpLoad(cfg.wrk)
    with FirebaseIssuer() as issuer:
        try:
            profile = group.add(profile_proc(cfg, folder))
            await profile.wait_grpc()
            gateway = group.add(gateway_proc(cfg, folder, issuer, profile.target))
            await gateway.wait_http("/healthz")
            headers = issuer.headers(UID, f"{UID}@example.com")
            url = f"http://{gateway.target}/v1/profile"
            async with httpx.AsyncClient(timeout=10, headers=headers) as client:
                created = await client.post(url)
                if created.status_code == 401 and "service credential" in created.text:
                    raise ServiceCredentialRejected(
                        f"the gateway's calls to the profile service were refused ({created.text[:200]})"
                    )
                if created.status_code not in (200, 201):
                    raise RuntimeError(f"POST /v1/profile: {created.status_code} {created.text[:500]}")
                reply = await client.get(url)
                if reply.status_code != 200:
                    raise RuntimeError(f"GET /v1/profile: {reply.status_code} {reply.text[:500]}")
            body_file = folder / "profile.json"
            body_file.write_text(reply.text)
            bare = group.add(fastapi_proc(folder, body_file))
            await bare.wait_http("/healthz")
            async with httpx.AsyncClient(timeout=10) as client:
                anchor_reply = await client.get(f"http://{bare.target}/v1/profile")
            same_json = anchor_reply.json() == reply.json()

            bare_url = f"http://{bare.target}/v1/profile"
            fig = await alternate(
                cfg,
                {
                    "bare FastAPI": lambda c, s: http.run(bare_url, headers, c, s),
                    "gateway": lambda c, s: http.run(url, headers, c, s),
                },
                title="GET /v1/profile",
            )
            rss = group.rss_mb()
            cert_fetches = issuer.fetches
        finally:
            group.stop_all()
    return {
        "name": NAME,
        "title": "2. GET /v1/profile through the gateway (token check + gRPC + SQLite) vs bare FastAPI",
        "comparisons": {
            "get_profile_http": {
                "anchor": "bare FastAPI",
                "service": "gateway",
                "figures": fig,
                "body_bytes": len(reply.content),
                "same_json": same_json,
                "gateway_body_bytes": len(reply.content),
                "anchor_body_bytes": len(anchor_reply.content),
            }
        },
        "ratios": {
            f"gateway_vs_fastapi_c{c}": ratio(fig["gateway"][c]["rps"], fig["bare FastAPI"][c]["rps"])
            for c in cfg.levels
        },
        "generator": http.name,
        "service_auth": "on (AUTH_TOKEN_GATEWAY/BILLING/BACKEND set for every process)",
        "certificate_fetches": cert_fetches,
        "peak_rss_mb": rss,
    }

"""`python -m gateway` serves: uvicorn on GATEWAY_LISTEN, JSON log lines with the request id, clean SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.processes import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_python_m_gateway_serves(tmp_path: Path, firebase) -> None:
    port, metrics_port = free_port(), free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "FIREBASE_", "PROFILE_", "BILLING_"))},
        "PYTHONPATH": str(ROOT),
        "APP_ENV": "local",
        "GATEWAY_LISTEN": f"127.0.0.1:{port}",
        "METRICS_LISTEN": f"127.0.0.1:{metrics_port}",
        "PROFILE_TARGET": "127.0.0.1:1",
        "BILLING_TARGET": "127.0.0.1:1",
        "FIREBASE_PROJECT_ID": firebase.project_id,
        "FIREBASE_CERT_URL": firebase.cert_url,
        "DOWNSTREAM_TIMEOUT_S": "1",
    }
    log_path = tmp_path / "gateway.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.1)
        response = httpx.get(
            f"{base}/v1/profile",
            headers={**firebase.auth_headers("main-user"), "X-Request-ID": "main-test-1"},
            timeout=10,
        )
        assert response.status_code == 503 and response.headers["x-request-id"] == "main-test-1"
        assert httpx.get(f"{base}/openapi.json", timeout=5).json()["info"]["title"]
        assert httpx.get(f"{base}/docs", timeout=5).status_code == 200
        # Metrics on METRICS_LISTEN only; the public port does not have them.
        assert httpx.get(f"{base}/metrics", timeout=5).status_code == 404
        scraped = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
        assert 'gateway_http_requests_total{method="GET",route="/v1/profile",status="503"} 1.0' in scraped
        assert 'gateway_downstream_call_duration_seconds_count{code="UNAVAILABLE",method="GetProfile"' in scraped
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=20)
    # uvicorn re-raises the signal it caught once shutdown is done, so SIGTERM is also a clean exit.
    assert code in (0, -signal.SIGTERM), log_path.read_text()
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    assert any(line["msg"] == "Application shutdown complete." for line in lines), lines
    # Served on uvloop with the httptools parser (gateway.serving), not asyncio's loop and h11.
    assert any(line["msg"] == "serving" and line["http"] == "httptools" for line in lines), lines
    started = [line for line in lines if line["msg"] == "gateway started"]
    assert started and started[0]["event_loop"].startswith("uvloop."), lines
    routes = {line.get("route") for line in lines if line["logger"] == "gateway.http"}
    assert {"/healthz", "/v1/profile", "/openapi.json", "/docs"} <= routes
    request_lines = [line for line in lines if line.get("request_id") == "main-test-1"]
    assert any(line["logger"] == "gateway.http" and line["status"] == 503 for line in request_lines), lines
    assert any(line["logger"] == "gateway.errors" for line in request_lines), lines

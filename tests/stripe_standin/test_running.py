"""Ways to run the stand-in: thread helper (sync SDK), settings from the environment, `python -m`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import stripe

from devtools.stripe_standin import StandinControlSync, StandinSettings, standin_in_thread, start_standin_in_thread

REPO = Path(__file__).resolve().parents[2]


def test_thread_variant_serves_the_sync_sdk() -> None:
    base_url, stop = start_standin_in_thread(StandinSettings())
    try:
        assert base_url.startswith("http://127.0.0.1:")
        client = stripe.StripeClient("sk_test_sync", base_addresses={"api": base_url}, max_network_retries=0)
        customer = client.v1.customers.create({"email": "sync@example.com"})
        session = client.v1.checkout.sessions.create(
            {
                "mode": "payment",
                "line_items": [{"price": "price_onetime_5_tokens", "quantity": 1}],
                "success_url": "https://app.example/ok",
                "customer": customer.id,
            }
        )
        assert session.url == f"{base_url}/checkout/{session.id}"  # public URL follows the bound port
        with StandinControlSync(base_url) as ctl:
            result = ctl.complete_session(session.id)
            assert result["session"]["payment_status"] == "paid"
            assert ctl.state()["counts"]["charges"] == 1
            ctl.reset()
            assert ctl.state()["counts"] == {
                "customers": 0,
                "prices": 2,
                "products": 2,
                "checkout_sessions": 0,
                "payment_intents": 0,
                "charges": 0,
                "refunds": 0,
                "subscriptions": 0,
                "invoices": 0,
                "events": 0,
                "disputes": 0,
                "billing_portal_sessions": 0,
            }
    finally:
        stop()
        stop()  # idempotent
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{base_url}/healthz")


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRIPE_STANDIN_PORT", "23456")
    monkeypatch.setenv("STRIPE_STANDIN_WEBHOOK_URL", "http://127.0.0.1:9/hook")
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", "whsec_from_env")
    monkeypatch.setenv(
        "STRIPE_STANDIN_PRICES",
        '[{"id": "price_pack_50", "unit_amount": 4000, "product": "prod_pack", "product_name": "50 tokens"},'
        ' {"id": "price_yearly", "unit_amount": 9900, "product": "prod_sub", "recurring": {"interval": "year"}}]',
    )
    settings = StandinSettings()
    assert settings.port == 23456 and settings.webhook_secret == "whsec_from_env"
    assert settings.default_public_url() == "http://127.0.0.1:23456"
    assert [(p.id, p.type) for p in settings.seed_prices()] == [
        ("price_pack_50", "one_time"),
        ("price_yearly", "recurring"),
    ]

    with standin_in_thread(settings) as base_url:
        client = stripe.StripeClient("sk_test_env", base_addresses={"api": base_url}, max_network_retries=0)
        ids = {p.id for p in client.v1.prices.list().data}
        assert ids == {"price_pack_50", "price_yearly"}
        assert client.v1.prices.retrieve("price_yearly").recurring.interval == "year"  # type: ignore[union-attr]
        # A configured public URL wins over the bound port.
    explicit = StandinSettings(public_url="https://pay.local.test/")
    assert explicit.default_public_url() == "https://pay.local.test"


def test_python_dash_m_serves_on_configured_port() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "STRIPE_STANDIN_PORT": str(port), "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "devtools.stripe_standin"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                resp = httpx.get(f"http://127.0.0.1:{port}/v1/prices", headers={"Authorization": "Bearer sk_test_cli"})
                break
            except httpx.ConnectError:
                assert proc.poll() is None and time.monotonic() < deadline, "stand-in did not start"
                time.sleep(0.05)
        assert resp.status_code == 200
        assert len(resp.json()["data"]) == 2
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert f"stripe stand-in serving http://127.0.0.1:{port}" in out

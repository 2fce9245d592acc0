"""Builds the stack's environment: defaults for one laptop, overridden by the user's .env and shell."""

from __future__ import annotations

import os
from pathlib import Path

from dotenv import dotenv_values

from service_kit.dev_credentials import CALLERS, dev_tokens, write_dev_tls

ROOT = Path(__file__).resolve().parents[2]
DEV = ROOT / ".dev"
LOCAL_STRIPE_KEY = "sk_test_local_standin"


def _credentials() -> dict[str, str]:
    """Per-caller tokens and mTLS files, made once and kept, so restarts keep working."""
    creds_file = DEV / "credentials.env"
    tls_dir = DEV / "tls"
    # Made again when a caller was added since (every caller needs its token and certificate).
    if not creds_file.exists() or any(not (tls_dir / f"{caller}.pem").exists() for caller in CALLERS):
        DEV.mkdir(exist_ok=True)
        write_dev_tls(tls_dir)
        tokens = dev_tokens()
        creds_file.write_text("".join(f"AUTH_TOKEN_{k.upper()}={v}\n" for k, v in tokens.items()))
        creds_file.chmod(0o600)
    values = {k: v for k, v in dotenv_values(creds_file).items() if v is not None}
    values.update(
        {
            "TLS_CERT_FILE": str(tls_dir / "server.pem"),
            "TLS_KEY_FILE": str(tls_dir / "server.key"),
            "TLS_CLIENT_CA_FILE": str(tls_dir / "ca.pem"),
            "TLS_CA_FILE": str(tls_dir / "ca.pem"),
            "TLS_SERVER_NAME": "localhost",
        }
    )
    return values


def uses_real_stripe(env: dict[str, str]) -> bool:
    key = env.get("STRIPE_SECRET_KEY", "")
    return bool(key) and key != LOCAL_STRIPE_KEY


def build_environment() -> dict[str, str]:
    user = {k: v for k, v in dotenv_values(ROOT / ".env").items() if v is not None} if (ROOT / ".env").exists() else {}
    user.update(os.environ)
    gateway_listen = user.get("GATEWAY_LISTEN", "127.0.0.1:8080")
    gateway_host, _, gateway_port = gateway_listen.rpartition(":")
    # Where the browser reaches the gateway: Checkout sends it back there, so billing must agree.
    browser_host = gateway_host.strip("[]")
    if browser_host in ("", "0.0.0.0", "::"):
        browser_host = "127.0.0.1"
    gateway_origin = (
        f"http://{browser_host}:{gateway_port}"
        if ":" not in browser_host
        else (f"http://[{browser_host}]:{gateway_port}")
    )
    standin_port = user.get("STRIPE_STANDIN_PORT", "12111")
    env = {
        "APP_ENV": "local",
        "PROFILE_STORE": "sqlite",
        "SQLITE_PATH": str(ROOT / "data" / "profile.sqlite3"),
        "PROFILE_LISTEN": "127.0.0.1:50051",
        "BILLING_LISTEN": "127.0.0.1:50052",
        "PROFILE_TARGET": "127.0.0.1:50051",
        "BILLING_TARGET": "127.0.0.1:50052",
        "GATEWAY_LISTEN": gateway_listen,
        "STRIPE_STANDIN_HOST": "127.0.0.1",
        "STRIPE_STANDIN_PORT": standin_port,
        "STRIPE_STANDIN_WEBHOOK_URL": f"{gateway_origin}/v1/stripe/webhook",
        "STRIPE_STANDIN_STATE_FILE": str(ROOT / "data" / "stripe_standin.json"),
        "STRIPE_API_BASE": f"http://127.0.0.1:{standin_port}",
        "STRIPE_SECRET_KEY": LOCAL_STRIPE_KEY,
        "STRIPE_WEBHOOK_SECRET": "whsec_local_standin_secret",
        "ALLOWED_REDIRECT_ORIGINS": ",".join(dict.fromkeys([gateway_origin, f"http://localhost:{gateway_port}"])),
        "DEFAULT_SUCCESS_URL": f"{gateway_origin}/success?session_id={{CHECKOUT_SESSION_ID}}",
        "DEFAULT_CANCEL_URL": f"{gateway_origin}/cancel",
        "LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
        **_credentials(),
    }
    env.update(user)
    if env.get("APP_ENV", "local") == "local":
        # The gateway's development sign-in key (the page at GET /), kept so signed-in tabs survive restarts.
        env.setdefault("LOCAL_DEV_KEY_FILE", str(DEV / "firebase-dev-key.pem"))
    if uses_real_stripe(env):
        env.pop("STRIPE_API_BASE", None) if "STRIPE_API_BASE" not in user else None
    env["PATH"] = f"{ROOT / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(ROOT)
    return env

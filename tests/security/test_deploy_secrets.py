"""deploy/kubernetes.yaml gives each service a Secret with only its own credentials (issue: a gateway
compromise must not yield billing's token or the Stripe keys)."""

from __future__ import annotations

from pathlib import Path

import yaml

from service_kit.settings import is_placeholder

MANIFEST = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes.yaml"
ALLOWED = {
    "token-gateway": {"AUTH_TOKEN_GATEWAY"},
    "token-billing": {"AUTH_TOKEN_BILLING", "AUTH_TOKEN_GATEWAY", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET"},
    "token-profile": {"AUTH_TOKEN_GATEWAY", "AUTH_TOKEN_BILLING", "AUTH_TOKEN_BACKEND"},
}


def documents() -> list[dict]:
    return [doc for doc in yaml.safe_load_all(MANIFEST.read_text()) if doc]


def test_each_service_reads_only_its_own_secret() -> None:
    secrets = {doc["metadata"]["name"]: doc for doc in documents() if doc["kind"] == "Secret"}
    assert {name: set(doc["stringData"]) for name, doc in secrets.items()} == ALLOWED
    # Left unfilled, APP_ENV=production refuses them at start-up.
    assert all(is_placeholder(v) for doc in secrets.values() for v in doc["stringData"].values())
    for deployment in (doc for doc in documents() if doc["kind"] == "Deployment"):
        name = deployment["metadata"]["name"]
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["envFrom"] == [{"secretRef": {"name": name}}], name
        volumes = deployment["spec"]["template"]["spec"]["volumes"]
        assert [v["secret"]["secretName"] for v in volumes] == [f"{name}-tls"], name


def test_the_gateway_never_sees_billings_or_stripes_secrets() -> None:
    text = MANIFEST.read_text()
    gateway = next(d for d in documents() if d["kind"] == "Secret" and d["metadata"]["name"] == "token-gateway")
    assert not any(
        key.startswith(("STRIPE_", "AUTH_TOKEN_BILLING", "AUTH_TOKEN_BACKEND")) for key in gateway["stringData"]
    )
    assert "secretRef: {name: token-backend}" not in text  # the old shared Secret

"""The gateway's channels are service_kit's: mTLS when configured and the gateway's own service credential on
every call, as `make run` and production run them. Profile and billing refuse anyone else."""

from __future__ import annotations

from pathlib import Path

from profile_service.settings import ProfileSettings
from profile_service.store.sqlite_store import SqliteStore
from service_kit.dev_credentials import dev_tokens, write_dev_tls
from tests.gateway.harness import gateway_client, gateway_test_settings
from tests.support.profile_server import run_profile_service


async def test_mtls_and_service_credentials(tmp_path: Path, firebase, uid: str) -> None:
    tls = write_dev_tls(tmp_path / "tls")
    tokens = dev_tokens()
    profile_settings = ProfileSettings(
        _env_file=None,
        app_env="local",
        auth_token_gateway=tokens["gateway"],
        auth_token_billing=tokens["billing"],
        tls_cert_file=str(tls.server_cert),
        tls_key_file=str(tls.server_key),
        tls_client_ca_file=str(tls.ca_cert),
    )
    cert, key = tls.client_certs["gateway"]
    client_tls = dict(tls_ca_file=str(tls.ca_cert), tls_client_cert_file=str(cert), tls_client_key_file=str(key))
    async with run_profile_service(SqliteStore(tmp_path / "p.sqlite3"), profile_settings) as profile:
        good = gateway_test_settings(
            firebase, profile_target=profile.target, auth_token_gateway=tokens["gateway"], **client_tls
        )
        async with gateway_client(good) as (_app, client):
            created = await client.post("/v1/profile", headers=firebase.auth_headers(uid))
            assert created.status_code == 201, created.text
            assert (await client.get("/v1/profile", headers=firebase.auth_headers(uid))).status_code == 200

        # Billing's credential over billing's own certificate is a real caller, but not allowed to edit profiles:
        # 403, nothing changed.
        billing_cert, billing_key = tls.client_certs["billing"]
        as_billing = gateway_test_settings(
            firebase,
            profile_target=profile.target,
            auth_token_gateway=tokens["billing"],
            tls_ca_file=str(tls.ca_cert),
            tls_client_cert_file=str(billing_cert),
            tls_client_key_file=str(billing_key),
        )
        async with gateway_client(as_billing) as (_app, client):
            edit = await client.patch("/v1/profile", json={"display_name": "x"}, headers=firebase.auth_headers(uid))
            assert edit.status_code == 403 and edit.json()["error"]["code"] == "PERMISSION_DENIED"

        # Billing's credential over the gateway's certificate is nobody: the service answers UNAUTHENTICATED,
        # which for the gateway is its own misconfiguration (502).
        stolen = gateway_test_settings(
            firebase, profile_target=profile.target, auth_token_gateway=tokens["billing"], **client_tls
        )
        async with gateway_client(stolen) as (_app, client):
            refused = await client.get("/v1/profile", headers=firebase.auth_headers(uid))
            assert refused.status_code == 502 and refused.json()["error"]["code"] == "UNAUTHENTICATED"
            assert refused.json()["error"]["reason"] == "CREDENTIAL_CERTIFICATE_MISMATCH"

        # A wrong service credential is the gateway's misconfiguration: 502, never a 401 that would send the
        # browser back to sign-in.
        wrong = gateway_test_settings(
            firebase, profile_target=profile.target, auth_token_gateway="local-wrong", **client_tls
        )
        async with gateway_client(wrong) as (_app, client):
            refused = await client.get("/v1/profile", headers=firebase.auth_headers(uid))
            assert refused.status_code == 502 and refused.json()["error"]["code"] == "UNAUTHENTICATED"
            assert "www-authenticate" not in refused.headers

        # Without TLS the connection itself fails: the service is unavailable to this gateway.
        plain = gateway_test_settings(
            firebase, profile_target=profile.target, auth_token_gateway=tokens["gateway"], downstream_timeout_s=2
        )
        async with gateway_client(plain) as (_app, client):
            response = await client.get("/v1/profile", headers=firebase.auth_headers(uid))
            assert response.status_code == 503

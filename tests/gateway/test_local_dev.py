"""The local profile's development sign-in and try-it page (gateway/local_dev), and production refusing both."""

from __future__ import annotations

import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from google.auth import jwt
from pydantic import ValidationError

from gateway.local_dev import load_signer
from gateway.local_dev.signing import DevSigner, _load_or_create
from gateway.settings import GatewaySettings
from tests.gateway.harness import gateway_client, gateway_test_settings
from tests.gateway.test_http_behaviour import assert_error_shape

PRODUCTION_SECRET = "a-real-looking-gateway-credential-0123456789"
ROOT = Path(__file__).resolve().parents[2]
PAGE_CLIENT = ROOT / "gateway" / "local_dev" / "static" / "token-client.js"
BUILD_PAGE_CLIENT = "node clients/typescript/scripts/build-page-module.mjs"


def production_settings(firebase, **overrides: object) -> GatewaySettings:
    return gateway_test_settings(firebase, app_env="production", auth_token_gateway=PRODUCTION_SECRET, **overrides)


async def sign_in(client, uid: str, email: str | None = "dev@example.com") -> str:
    response = await client.post("/local/sign-in", json={"uid": uid, "email": email})
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {"id_token", "expires_in"} and body["expires_in"] == 3600
    return body["id_token"]


async def test_dev_token_is_firebase_shaped_and_works_without_fetching(profile_gateway, uid) -> None:
    gw = profile_gateway
    fetches = gw.issuer.fetches
    token = await sign_in(gw.client, uid, "alice@example.com")

    header = jwt.decode_header(token)
    assert header["alg"] == "RS256" and header["kid"].startswith("local-dev-")
    claims = jwt.decode(token, verify=False)
    project = gw.settings.firebase_project_id
    assert claims["iss"] == f"https://securetoken.google.com/{project}" and claims["aud"] == project
    assert claims["sub"] == claims["user_id"] == uid and claims["email"] == "alice@example.com"
    assert claims["firebase"]["sign_in_provider"] == "custom"
    assert claims["iat"] == claims["auth_time"] and claims["exp"] - claims["iat"] == 3600

    auth = {"Authorization": f"Bearer {token}"}
    created = await gw.client.post("/v1/profile", headers=auth)
    assert created.status_code == 201, created.text
    assert created.json()["email"] == "alice@example.com"
    assert (await gw.client.post("/v1/profile", headers=auth)).status_code == 200  # idempotent sign-up
    assert (await gw.client.get("/v1/profile", headers=auth)).json()["tokens"] == 0
    # The development certificate is static: nothing was fetched for it.
    assert gw.issuer.fetches == fetches


async def test_dev_tokens_still_get_every_claim_check(profile_gateway, uid) -> None:
    signer = profile_gateway.app.state.local_dev_signer
    project = profile_gateway.settings.firebase_project_id
    expired = signer.id_token(project, uid, lifetime_s=-3600)
    other_project = signer.sign(signer.claims("another-project", uid, None))
    for token, reason in ((expired, "TOKEN_EXPIRED"), (other_project, "INVALID_AUDIENCE")):
        response = await profile_gateway.client.get("/v1/profile", headers={"Authorization": f"Bearer {token}"})
        assert_error_shape(response, 401, reason)


async def test_sign_in_refuses_bad_requests_in_the_error_shape(profile_gateway) -> None:
    client = profile_gateway.client
    assert_error_shape(
        await client.post("/local/sign-in", content="uid=a", headers={"Content-Type": "text/plain"}),
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    )
    assert_error_shape(await client.post("/local/sign-in", json={"uid": "has space"}), 422)
    assert_error_shape(await client.post("/local/sign-in", json={"uid": "a" * 129}), 422)
    assert_error_shape(await client.post("/local/sign-in", json={"uid": "a", "email": "not-an-email"}), 422)
    assert_error_shape(await client.post("/local/sign-in", json={"uid": "a", "admin": True}), 422, "UNKNOWN_FIELD")
    assert_error_shape(
        await client.post("/local/sign-in", content=b"{" * 100_000, headers={"Content-Type": "application/json"}),
        413,
        "PAYLOAD_TOO_LARGE",
    )
    assert_error_shape(await client.get("/local/sign-in"), 405)


async def test_sign_in_says_what_a_good_user_id_and_email_look_like(profile_gateway) -> None:
    # The page shows these messages: words, not the regular expression behind them.
    client = profile_gateway.client
    for body, field, words in (
        ({"uid": "has space"}, "uid", "use 1 to 128 letters, digits"),
        ({"uid": ""}, "uid", "use 1 to 128 letters, digits"),
        ({"uid": "a", "email": "not-an-email"}, "email", "enter an email address"),
    ):
        error = assert_error_shape(await client.post("/local/sign-in", json=body), 422, "INVALID_FIELD")
        assert error["field"] == field and words in error["message"] and "^[" not in error["message"], error
    # An empty email is no email.
    assert (await client.post("/local/sign-in", json={"uid": "a", "email": ""})).status_code == 200


async def test_page_and_its_files_are_served_with_a_strict_policy(profile_gateway) -> None:
    client = profile_gateway.client
    for path in ("/", "/success?session_id=cs_test_1", "/cancel"):
        page = await client.get(path)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["cache-control"] == "no-store"
        assert 'id="sign-in"' in page.text and "/local/static/app.js" in page.text
    script = await client.get("/local/static/app.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert "innerHTML" not in script.text  # every value goes in through textContent
    assert (await client.get("/local/static/app.css")).headers["content-type"].startswith("text/css")
    # The page's script is a module built on the TypeScript client, served next to it.
    assert '<script type="module" src="/local/static/app.js">' in page.text
    assert 'from "./token-client.js"' in script.text
    module = await client.get("/local/static/token-client.js")
    assert module.status_code == 200 and module.headers["content-type"].startswith("text/javascript")
    assert module.content == PAGE_CLIENT.read_bytes() and "export function createTokenClient" in module.text
    assert_error_shape(await client.get("/local/static/index.html"), 404)
    assert_error_shape(await client.get("/local/static/..%2Fsigning.py"), 404)
    # Not part of the API description.
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert not [p for p in paths if p == "/" or p.startswith(("/local", "/success", "/cancel"))]


async def test_production_mounts_nothing_and_trusts_no_dev_key(firebase, uid) -> None:
    settings = production_settings(firebase)
    assert settings.local_dev_sign_in is False
    dev_token = load_signer().id_token(settings.firebase_project_id, uid)
    async with gateway_client(settings) as (app, client):
        assert_error_shape(await client.post("/local/sign-in", json={"uid": uid}), 404, "ROUTE_NOT_FOUND")
        for path in ("/", "/success", "/cancel", "/local/static/app.js"):
            assert_error_shape(await client.get(path), 404, "ROUTE_NOT_FOUND")
        refused = await client.get("/v1/profile", headers={"Authorization": f"Bearer {dev_token}"})
        assert_error_shape(refused, 401, "UNKNOWN_SIGNING_KEY")
        assert not hasattr(app.state, "local_dev_signer")


def test_production_settings_refuse_the_dev_sign_in(firebase, tmp_path) -> None:
    with pytest.raises(ValidationError, match="LOCAL_DEV_SIGN_IN"):
        production_settings(firebase, local_dev_sign_in=True)
    with pytest.raises(ValidationError, match="LOCAL_DEV_KEY_FILE"):
        production_settings(firebase, local_dev_key_file=str(tmp_path / "key.pem"))
    assert gateway_test_settings(firebase).local_dev_sign_in is True
    assert gateway_test_settings(firebase, local_dev_sign_in=False).local_dev_sign_in is False


async def test_local_can_switch_it_off(firebase) -> None:
    async with gateway_client(gateway_test_settings(firebase, local_dev_sign_in=False)) as (_app, client):
        assert (await client.post("/local/sign-in", json={"uid": "a"})).status_code == 404
        assert (await client.get("/")).status_code == 404


def test_key_file_keeps_the_key_across_restarts(tmp_path) -> None:
    path = tmp_path / "dev" / "firebase-dev-key.pem"
    first = DevSigner(_load_or_create(path))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    second = DevSigner(_load_or_create(path))
    assert first.kid == second.kid
    token = first.id_token("demo-tokens", "u1")
    assert jwt.decode(token, certs=second.trusted_certs(), audience="demo-tokens")["sub"] == "u1"


def test_the_page_client_module_is_current(tmp_path) -> None:
    """token-client.js is committed (`make run` needs no Node); it must be what the pinned tsc makes of
    clients/typescript/src today."""
    node, tsc = shutil.which("node"), ROOT / "node_modules" / ".bin" / "tsc"
    if node is None:
        pytest.skip("node is not installed: cannot rebuild gateway/local_dev/static/token-client.js")
    if not tsc.exists():
        pytest.skip(f"{tsc.relative_to(ROOT)} is missing: run `make node` to check token-client.js")
    rebuilt = tmp_path / "token-client.js"
    script = ROOT / "clients" / "typescript" / "scripts" / "build-page-module.mjs"
    done = subprocess.run(
        [node, str(script), str(rebuilt)], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, f"{BUILD_PAGE_CLIENT} failed:\n{done.stdout}{done.stderr}"
    assert rebuilt.read_text() == PAGE_CLIENT.read_text(), (
        f"{PAGE_CLIENT.relative_to(ROOT)} is not current with clients/typescript/src: run `{BUILD_PAGE_CLIENT}`"
    )

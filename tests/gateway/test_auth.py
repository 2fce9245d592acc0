"""Firebase ID token verification: every bad token is 401 with the JSON body and WWW-Authenticate: Bearer,
and nothing changes behind it. Tokens are real RS256 JWTs signed by a test key whose certificate is served
from 127.0.0.1 (never Google)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import grpc
import pytest

from gateway.settings import GOOGLE_SECURETOKEN_CERTS
from tests.gateway.conftest import ProfileGateway
from tests.gateway.harness import gateway_client, gateway_test_settings
from tests.support.firebase_tokens import FirebaseTestIssuer, firebase_issuer, generate_key
from tokens.profile.v1 import profile_service_pb2 as pb


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _hs256_with_public_cert(issuer: FirebaseTestIssuer, uid: str) -> str:
    """The classic algorithm-confusion forgery: HMAC keyed with the (public) certificate."""
    header = {"alg": "HS256", "typ": "JWT", "kid": issuer.kid}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(issuer.claims(uid)).encode())}"
    cert = issuer._server.certs[issuer.kid].encode()
    signature = hmac.new(cert, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def bad_authorizations(issuer: FirebaseTestIssuer, uid: str) -> dict[str, tuple[str | None, str]]:
    """name -> (Authorization header or None, expected reason)."""
    now = time.time()
    return {
        "missing": (None, "MISSING_CREDENTIALS"),
        "basic scheme": ("Basic dXNlcjpwYXNz", "MISSING_CREDENTIALS"),
        "empty bearer": ("Bearer ", "MISSING_CREDENTIALS"),
        "not a jwt": ("Bearer not-a-token", "MALFORMED_TOKEN"),
        "two segments": ("Bearer abc.def", "MALFORMED_TOKEN"),
        "garbage segments": ("Bearer @@@.###.$$$", "MALFORMED_TOKEN"),
        "json garbage": (f"Bearer {_b64(b'[1]')}.{_b64(b'nope')}.{_b64(b'sig')}", "MALFORMED_TOKEN"),
        "expired": (f"Bearer {issuer.mint(uid, expires_in=-60, issued_at=now - 3600)}", "TOKEN_EXPIRED"),
        "issued in the future": (f"Bearer {issuer.mint(uid, issued_at=now + 600)}", "TOKEN_NOT_YET_VALID"),
        "not valid before a future time": (f"Bearer {issuer.mint(uid, nbf=int(now) + 600)}", "TOKEN_NOT_YET_VALID"),
        "wrong audience": (f"Bearer {issuer.mint(uid, audience='another-project')}", "INVALID_AUDIENCE"),
        "wrong issuer": (
            f"Bearer {issuer.mint(uid, issuer='https://securetoken.google.com/another-project')}",
            "INVALID_ISSUER",
        ),
        "wrong signature (other key, same kid)": (
            f"Bearer {issuer.mint(uid, key=issuer.other_key)}",
            "INVALID_SIGNATURE",
        ),
        "tampered payload": (f"Bearer {_tamper(issuer.mint(uid), uid)}", "INVALID_SIGNATURE"),
        "unknown kid": (
            f"Bearer {issuer.mint(uid, key=issuer.other_key, kid='not-a-google-key')}",
            "UNKNOWN_SIGNING_KEY",
        ),
        "alg none (emulator off)": (f"Bearer {issuer.mint_unsigned(uid)}", "UNSUPPORTED_ALGORITHM"),
        "HS256 keyed with the certificate": (f"Bearer {_hs256_with_public_cert(issuer, uid)}", "UNSUPPORTED_ALGORITHM"),
        "empty sub": (f"Bearer {issuer.mint('')}", "INVALID_SUBJECT"),
        "sub over 128 chars": (f"Bearer {issuer.mint('u' * 129)}", "INVALID_SUBJECT"),
        "exp not a number": (f"Bearer {issuer.sign({**issuer.claims(uid), 'exp': 'tomorrow'})}", "INVALID_CLAIMS"),
    }


def _tamper(token: str, uid: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = claims["user_id"] = uid + "-admin"
    return f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"


def assert_unauthenticated(response, reason: str) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == "UNAUTHENTICATED"
    assert error["reason"] == reason, error
    assert error["message"]


async def test_every_bad_token_is_401_and_changes_nothing(profile_gateway: ProfileGateway, uid: str) -> None:
    gw = profile_gateway
    created = await gw.client.post("/v1/profile", headers=gw.auth(uid, email="owner@example.com"))
    assert created.status_code == 201
    newcomer = uid + "-new"

    for name, (authorization, reason) in bad_authorizations(gw.issuer, uid).items():
        headers = {} if authorization is None else {"Authorization": authorization}
        for method, path, body in [
            ("GET", "/v1/profile", None),
            ("PATCH", "/v1/profile", {"display_name": "hacked"}),
            ("GET", "/v1/profile/token-history", None),
            ("GET", "/v1/prices", None),
            ("POST", "/v1/checkout-sessions", {"price_id": "price_onetime_5_tokens", "mode": "payment"}),
            ("GET", "/v1/checkout-sessions/cs_test_123", None),
        ]:
            response = await gw.client.request(method, path, json=body, headers=headers)
            try:
                assert_unauthenticated(response, reason)
            except AssertionError as exc:
                raise AssertionError(f"{name}: {method} {path}: {exc}") from exc
        # A bad token for a uid without a profile must not create one either.
        bad_new = {} if authorization is None else {"Authorization": authorization.replace(uid, newcomer)}
        assert (await gw.client.post("/v1/profile", headers=bad_new)).status_code == 401, name

    profile = (await gw.profile.stub.GetProfile(pb.GetProfileRequest(uid=uid))).profile
    assert profile.display_name == ""
    assert profile.tokens == 0
    with pytest.raises(grpc.RpcError) as missing:
        await gw.profile.stub.GetProfile(pb.GetProfileRequest(uid=newcomer))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND


async def test_valid_token_reaches_only_its_own_profile(profile_gateway: ProfileGateway, uid: str) -> None:
    gw = profile_gateway
    other = uid + "-other"
    assert (await gw.client.post("/v1/profile", headers=gw.auth(uid, email="a@example.com"))).status_code == 201
    assert (await gw.client.post("/v1/profile", headers=gw.auth(other, email="b@example.com"))).status_code == 201

    mine = await gw.client.get("/v1/profile", headers=gw.auth(uid))
    assert mine.status_code == 200 and mine.json()["uid"] == uid and mine.json()["email"] == "a@example.com"
    # The other user edits: only their own profile changes.
    edited = await gw.client.patch("/v1/profile", json={"display_name": "Bee"}, headers=gw.auth(other))
    assert edited.status_code == 200 and edited.json()["uid"] == other
    assert (await gw.client.get("/v1/profile", headers=gw.auth(uid))).json()["display_name"] is None


async def test_a_history_page_token_of_another_user_is_refused(profile_gateway: ProfileGateway, uid: str) -> None:
    gw = profile_gateway
    other = uid + "-other"
    for who in (uid, other):
        await gw.client.post("/v1/profile", headers=gw.auth(who))
    for n in range(3):
        await gw.profile.stub.GrantTokens(
            pb.GrantTokensRequest(uid=uid, amount=1, type=pb.TOKEN_ENTRY_TYPE_PROMOTIONAL, idempotency_key=f"promo-{n}")
        )
    first = await gw.client.get("/v1/profile/token-history?page_size=1", headers=gw.auth(uid))
    token = first.json()["next_page_token"]
    assert token
    stolen = await gw.client.get("/v1/profile/token-history", params={"page_token": token}, headers=gw.auth(other))
    assert stolen.status_code == 400
    assert stolen.json()["error"]["field"] == "page_token"


async def test_certificates_are_fetched_once_and_cached(sqlite_profile, firebase: FirebaseTestIssuer, uid: str) -> None:
    settings = gateway_test_settings(firebase, profile_target=sqlite_profile.target)
    async with gateway_client(settings) as (_app, client):
        before = firebase.fetches
        for _ in range(5):
            response = await client.get("/v1/profile", headers=firebase.auth_headers(uid))
            assert response.status_code == 404  # authenticated; no profile yet
        assert firebase.fetches - before == 1


async def test_rotated_keys_are_picked_up_and_an_unreachable_cert_url_is_503(sqlite_profile, uid: str) -> None:
    with firebase_issuer() as issuer:
        settings = gateway_test_settings(issuer, profile_target=sqlite_profile.target, auth_certs_min_refresh_s=0)
        async with gateway_client(settings) as (_app, client):
            assert (await client.get("/v1/profile", headers=issuer.auth_headers(uid))).status_code == 404
            # Google rotates: a new key id appears at the URL; a token signed with it triggers one refresh.
            from tests.support.firebase_tokens import self_signed_cert_pem

            new_key = generate_key()
            issuer.set_certs({"rotated-kid": self_signed_cert_pem(new_key)})
            rotated = issuer.mint(uid, key=new_key, kid="rotated-kid")
            response = await client.get("/v1/profile", headers={"Authorization": f"Bearer {rotated}"})
            assert response.status_code == 404, response.text
            # The retired key is no longer accepted once the refreshed set lacks it.
            old = await client.get("/v1/profile", headers=issuer.auth_headers(uid))
            assert_unauthenticated(old, "UNKNOWN_SIGNING_KEY")

        # No certificates obtainable at all: the token may be fine, so 503 (retry), not 401.
        issuer.set_status(500)
        async with gateway_client(settings) as (_app, client):
            response = await client.get("/v1/profile", headers=issuer.auth_headers(uid))
            assert response.status_code == 503
            assert response.json()["error"]["reason"] == "AUTH_KEYS_UNAVAILABLE"
            assert "retry-after" in response.headers


async def test_emulator_tokens_only_when_the_emulator_is_configured(sqlite_profile, firebase, uid: str) -> None:
    unsigned = {"Authorization": f"Bearer {firebase.mint_unsigned(uid, email='e@example.com')}"}
    off = gateway_test_settings(firebase, profile_target=sqlite_profile.target)
    async with gateway_client(off) as (_app, client):
        assert_unauthenticated(await client.post("/v1/profile", headers=unsigned), "UNSUPPORTED_ALGORITHM")

    on = gateway_test_settings(
        firebase, profile_target=sqlite_profile.target, firebase_auth_emulator_host="127.0.0.1:9099"
    )
    async with gateway_client(on) as (_app, client):
        created = await client.post("/v1/profile", headers=unsigned)
        assert created.status_code == 201 and created.json()["email"] == "e@example.com"
        # Claims are still checked for emulator tokens.
        wrong = {"Authorization": f"Bearer {firebase.mint_unsigned(uid, audience='elsewhere')}"}
        assert_unauthenticated(await client.get("/v1/profile", headers=wrong), "INVALID_AUDIENCE")
        expired = {"Authorization": f"Bearer {firebase.mint_unsigned(uid, expires_in=-3600)}"}
        assert_unauthenticated(await client.get("/v1/profile", headers=expired), "TOKEN_EXPIRED")
        # Signed tokens keep working alongside.
        assert (await client.get("/v1/profile", headers=firebase.auth_headers(uid))).status_code == 200


def test_production_refuses_the_emulator_and_tests_never_use_googles_url(firebase) -> None:
    from gateway.settings import GatewaySettings

    with pytest.raises(ValueError):
        GatewaySettings(
            _env_file=None, app_env="production", firebase_project_id="p", firebase_auth_emulator_host="127.0.0.1:9099"
        )
    with pytest.raises(ValueError):
        GatewaySettings(_env_file=None, app_env="production")  # no project id
    assert GatewaySettings(_env_file=None).firebase_cert_url == GOOGLE_SECURETOKEN_CERTS
    assert gateway_test_settings(firebase).firebase_cert_url.startswith("http://127.0.0.1:")


async def test_a_remembered_token_still_expires_and_a_tampered_copy_is_checked(
    firebase: FirebaseTestIssuer, monkeypatch, uid: str
) -> None:
    """Verified tokens are remembered to skip the RSA check, but their claims (expiry) are re-checked on
    every request, and any other token string goes through the full signature check."""
    import httpx

    from gateway import auth as auth_module
    from gateway.auth import CertificateCache, FirebaseTokenVerifier
    from gateway.errors import ApiError

    async with httpx.AsyncClient() as http:
        certs = CertificateCache(firebase.cert_url, http)
        verifier = FirebaseTokenVerifier(firebase.project_id, certs, clock_skew_s=0)
        token = firebase.mint(uid, expires_in=60)
        assert (await verifier.verify(token)).uid == uid
        fetches = firebase.fetches
        assert (await verifier.verify(token)).uid == uid  # from memory
        assert firebase.fetches == fetches

        head, body, signature = token.split(".")
        flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
        with pytest.raises(ApiError) as tampered:
            await verifier.verify(f"{head}.{body}.{flipped}")
        assert tampered.value.reason in ("INVALID_SIGNATURE", "MALFORMED_TOKEN")

        real_time = time.time
        monkeypatch.setattr(auth_module.time, "time", lambda: real_time() + 61)
        with pytest.raises(ApiError) as expired:
            await verifier.verify(token)
        assert expired.value.reason == "TOKEN_EXPIRED"

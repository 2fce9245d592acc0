"""FirebaseTokenVerifier's checks, with a key minted here and trusted as a static certificate (no server, no fetch)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from gateway.auth import CertificateCache, FirebaseTokenVerifier
from gateway.errors import ApiError
from tests.support.firebase_tokens import firebase_claims, generate_key, self_signed_cert_pem, sign_id_token

PROJECT = "demo-unit"
KID = "unit-key"
SKEW_S = 10
KEY = generate_key()
OTHER_KEY = generate_key()
FUTURE = object()  # a claim time beyond the skew, computed when the test runs


@pytest.fixture
async def verifier() -> AsyncIterator[FirebaseTokenVerifier]:
    async with httpx.AsyncClient() as http:
        # Nothing listens on port 1: a fetch would fail; a static kid never fetches.
        certs = CertificateCache("http://127.0.0.1:1/certs", http)
        yield FirebaseTokenVerifier(PROJECT, certs, clock_skew_s=SKEW_S, static_certs={KID: self_signed_cert_pem(KEY)})


def token(uid: str = "user-1", *, key: Any = KEY, kid: str = KID, **claims: Any) -> str:
    return sign_id_token(firebase_claims(PROJECT, uid, **claims), key, kid)


async def refused(verifier: FirebaseTokenVerifier, jwt: str) -> str:
    with pytest.raises(ApiError) as info:
        await verifier.verify(jwt)
    assert info.value.status == 401 and "WWW-Authenticate" in info.value.headers
    return info.value.reason


async def test_a_good_token_names_its_user(verifier: FirebaseTokenVerifier) -> None:
    user = await verifier.verify(token("user-1", email="a@example.com"))
    assert (user.uid, user.email, user.email_verified, user.sign_in_provider) == (
        "user-1",
        "a@example.com",
        True,
        "password",
    )


@pytest.mark.parametrize(
    "claims,reason",
    [
        ({"expires_in": -SKEW_S - 5}, "TOKEN_EXPIRED"),
        ({"issued_at": FUTURE}, "TOKEN_NOT_YET_VALID"),
        ({"auth_time": FUTURE}, "TOKEN_NOT_YET_VALID"),
        ({"nbf": FUTURE}, "TOKEN_NOT_YET_VALID"),
        ({"nbf": "later"}, "INVALID_CLAIMS"),
        ({"audience": "another-project"}, "INVALID_AUDIENCE"),
        ({"issuer": "https://securetoken.google.com/another-project"}, "INVALID_ISSUER"),
        ({"exp": "soon"}, "INVALID_CLAIMS"),
        ({"iat": True}, "INVALID_CLAIMS"),
    ],
)
async def test_claims_outside_the_rules_are_refused(
    verifier: FirebaseTokenVerifier, claims: dict[str, Any], reason: str
) -> None:
    # Times are taken now, not at collection: FUTURE is beyond the skew from the moment the token is checked.
    now = int(time.time())
    timed = {name: now + SKEW_S + 60 if value is FUTURE else value for name, value in claims.items()}
    assert await refused(verifier, token(**timed)) == reason


async def test_within_the_skew_is_accepted(verifier: FirebaseTokenVerifier) -> None:
    assert (await verifier.verify(token(expires_in=-(SKEW_S - 5)))).uid == "user-1"
    assert (await verifier.verify(token(issued_at=time.time() + SKEW_S - 5, expires_in=3600))).uid == "user-1"
    assert (await verifier.verify(token(nbf=int(time.time()) + SKEW_S - 5))).uid == "user-1"
    assert (await verifier.verify(token(nbf=int(time.time()) - 60))).uid == "user-1"


@pytest.mark.parametrize("uid", ["", "u" * 129])
async def test_the_subject_must_be_a_uid(verifier: FirebaseTokenVerifier, uid: str) -> None:
    assert await refused(verifier, token(uid)) == "INVALID_SUBJECT"


async def test_signatures_and_keys(verifier: FirebaseTokenVerifier) -> None:
    assert await refused(verifier, token(key=OTHER_KEY)) == "INVALID_SIGNATURE"
    good = token()
    head, body, _signature = good.split(".")
    assert await refused(verifier, f"{head}.{body}.") == "INVALID_SIGNATURE"
    assert await refused(verifier, "not-a-jwt") == "MALFORMED_TOKEN"


async def test_unsigned_tokens_only_with_the_emulator_allowed(verifier: FirebaseTokenVerifier) -> None:
    import base64
    import json

    def b64(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    unsigned = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(firebase_claims(PROJECT, 'emu-user'))}."
    assert await refused(verifier, unsigned) == "UNSUPPORTED_ALGORITHM"
    async with httpx.AsyncClient() as http:
        emulator = FirebaseTokenVerifier(PROJECT, CertificateCache("http://127.0.0.1:1/", http), allow_unsigned=True)
        assert (await emulator.verify(unsigned)).uid == "emu-user"

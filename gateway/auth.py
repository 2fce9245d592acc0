"""Firebase ID token verification (google-auth), with the signing certificates cached per Cache-Control.

A token is accepted only when all of these hold:
- the header says ``alg: RS256`` and names a ``kid`` found in the certificates at ``firebase_cert_url``, or in
  the static certificates the verifier was given (the local profile's development signing key, see
  gateway/local_dev; production never passes any), or, only when ``firebase_auth_emulator_host`` is set,
  ``alg: none`` as the Auth emulator issues;
- the signature verifies against that certificate;
- ``iss`` is ``https://securetoken.google.com/<project>`` and ``aud`` is ``<project>``;
- ``exp`` is in the future, ``iat``, ``auth_time`` and ``nbf`` (when present) are not, each with the configured
  clock skew (AUTH_CLOCK_SKEW_S);
- ``sub`` is a non-empty string of at most 128 characters: it is the uid.
Anything else is 401 with ``WWW-Authenticate: Bearer`` and the JSON error body.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import httpx
from google.auth import crypt, jwt

from gateway.errors import ApiError
from tokens import contract_rules as limits

# google-auth has no type information: the calls used here, with their types.
_verifier_from_pem = cast(Callable[[str], crypt.RSAVerifier], crypt.RSAVerifier.from_string)
_decode_header = cast(Callable[[str], object], jwt.decode_header)
_decode_unverified = cast(Callable[..., object], jwt.decode)

log = logging.getLogger("gateway.auth")

MAX_TOKEN_LEN = 16 * 1024
_MAX_AGE = re.compile(r"(?:^|[,\s])max-age\s*=\s*(\d+)", re.IGNORECASE)


def issuer_for(project_id: str) -> str:
    return f"https://securetoken.google.com/{project_id}"


@dataclass(frozen=True)
class FirebaseUser:
    uid: str
    email: str = ""
    email_verified: bool = False
    sign_in_provider: str | None = None
    claims: Mapping[str, Any] = field(default_factory=dict, repr=False)


def unauthenticated(message: str, reason: str) -> ApiError:
    # RFC 6750: no error attribute when no credentials were sent at all.
    challenge = (
        'Bearer realm="tokens"' if reason == "MISSING_CREDENTIALS" else ('Bearer realm="tokens", error="invalid_token"')
    )
    return ApiError(401, "UNAUTHENTICATED", message, reason, headers={"WWW-Authenticate": challenge})


def parse_max_age(cache_control: str | None, default: int) -> int:
    if not cache_control:
        return default
    if "no-store" in cache_control.lower() or "no-cache" in cache_control.lower():
        return 0
    match = _MAX_AGE.search(cache_control)
    return int(match.group(1)) if match else default


class CertificateCache:
    """``{kid: x509 PEM}`` from the certificate URL, kept until its Cache-Control max-age runs out.

    An unknown ``kid`` (Google rotated keys) triggers a refresh, at most once per ``min_refresh_s``. When a
    refresh fails, the previous certificates stay in use; with none at all the caller gets 503.
    """

    def __init__(
        self,
        url: str,
        http: httpx.AsyncClient,
        *,
        default_max_age_s: int = 300,
        max_max_age_s: int = 24 * 3600,
        min_refresh_s: float = 30.0,
        retry_after_s: int = 1,
    ) -> None:
        self._url = url
        self._http = http
        self._default_max_age_s = default_max_age_s
        self._max_max_age_s = max_max_age_s
        self._min_refresh_s = min_refresh_s
        self._retry_after_s = retry_after_s
        self._verifiers: dict[str, crypt.RSAVerifier] = {}
        self._expires_at = 0.0
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()
        self.fetch_count = 0

    async def verifier(self, kid: str) -> crypt.RSAVerifier | None:
        now = time.monotonic()
        if now >= self._expires_at or (kid not in self._verifiers and self._may_refresh(now)):
            async with self._lock:
                now = time.monotonic()
                if now >= self._expires_at or (kid not in self._verifiers and self._may_refresh(now)):
                    await self._refresh(now)
        return self._verifiers.get(kid)

    def _may_refresh(self, now: float) -> bool:
        return self._fetched_at is None or now - self._fetched_at >= self._min_refresh_s

    async def _refresh(self, now: float) -> None:
        self._fetched_at = now
        self.fetch_count += 1
        try:
            response = await self._http.get(self._url)
            response.raise_for_status()
            data = response.json()
            if not isinstance(data, dict):
                raise ValueError("certificate document is not a JSON object")
            verifiers: dict[str, crypt.RSAVerifier] = {}
            for kid, pem in data.items():
                if isinstance(kid, str) and isinstance(pem, str):
                    try:
                        verifiers[kid] = _verifier_from_pem(pem)
                    except Exception:
                        log.warning("unusable signing certificate", extra={"fields": {"kid": kid}})
            if not verifiers:
                raise ValueError("no usable certificates")
        except Exception as exc:
            log.warning(
                "could not fetch Firebase signing certificates",
                extra={"fields": {"url": self._url, "error": repr(exc)}},
            )
            if self._verifiers:
                # Keep using the previous keys for a short while rather than locking everyone out.
                self._expires_at = now + self._min_refresh_s
                return
            raise ApiError(
                503,
                "UNAVAILABLE",
                "token signing keys are unavailable, try again shortly",
                "AUTH_KEYS_UNAVAILABLE",
                headers={"Retry-After": str(self._retry_after_s)},
            ) from None
        max_age = min(
            parse_max_age(response.headers.get("cache-control"), self._default_max_age_s), self._max_max_age_s
        )
        self._verifiers = verifiers
        self._expires_at = now + max_age


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


class FirebaseTokenVerifier:
    """``static_certs`` (``{kid: x509 PEM}``) are trusted besides the fetched ones and never cause a fetch;
    a fetched certificate never replaces a static one with the same ``kid``."""

    def __init__(
        self,
        project_id: str,
        certs: CertificateCache,
        *,
        allow_unsigned: bool = False,
        clock_skew_s: int = 10,
        static_certs: Mapping[str, str] | None = None,
        verified_cache_size: int = 4096,
    ) -> None:
        self.project_id = project_id
        self.issuer = issuer_for(project_id)
        self._certs = certs
        self._allow_unsigned = allow_unsigned
        self._skew = clock_skew_s
        self._static: dict[str, crypt.RSAVerifier] = {
            kid: _verifier_from_pem(pem) for kid, pem in (static_certs or {}).items()
        }
        # Tokens whose RS256 signature already checked out, with their claims: a browser sends the same
        # token for up to an hour, and the RSA check plus decoding dominated the gateway's CPU per request.
        # The claims (expiry included) are still checked on every request.
        # The signing key id is kept too: a token stops being accepted once its key is no longer published.
        self._verified: OrderedDict[str, tuple[str, Mapping[str, Any]]] = OrderedDict()
        self._verified_max = verified_cache_size

    async def verify(self, token: str) -> FirebaseUser:
        if not token or len(token) > MAX_TOKEN_LEN or token.count(".") != 2 or not token.isascii():
            raise unauthenticated("the bearer token is not a JWT", "MALFORMED_TOKEN")
        cached = self._verified.get(token)
        if cached is not None:
            kid, claims = cached
            if kid in self._static or await self._certs.verifier(kid) is not None:
                self._verified.move_to_end(token)
                return self._check_claims(claims)
            del self._verified[token]
            raise unauthenticated("the ID token was signed with an unknown key", "UNKNOWN_SIGNING_KEY")
        try:
            header = _decode_header(token)
            payload = _decode_unverified(token, verify=False)
            signed_section, _, signature_b64 = token.rpartition(".")
            signature = _b64decode(signature_b64)
        except Exception:
            raise unauthenticated("the bearer token is not a JWT", "MALFORMED_TOKEN") from None
        if not isinstance(header, Mapping) or not isinstance(payload, Mapping):
            raise unauthenticated("the bearer token is not a JWT", "MALFORMED_TOKEN")

        alg = header.get("alg")
        if alg == "none" and self._allow_unsigned:
            pass  # Firebase Auth emulator token: unsigned by design, claims are still checked.
        elif alg != "RS256":
            raise unauthenticated("ID tokens must be signed with RS256", "UNSUPPORTED_ALGORITHM")
        else:
            key_id = header.get("kid")
            if not isinstance(key_id, str) or not key_id or len(key_id) > 256:
                raise unauthenticated("the ID token names no signing key", "MALFORMED_TOKEN")
            verifier = self._static.get(key_id) or await self._certs.verifier(key_id)
            if verifier is None:
                raise unauthenticated("the ID token was signed with an unknown key", "UNKNOWN_SIGNING_KEY")
            if not verifier.verify(signed_section.encode("ascii"), signature):
                raise unauthenticated("the ID token signature is invalid", "INVALID_SIGNATURE")
            user = self._check_claims(payload)
            self._remember(token, key_id, payload)
            return user
        return self._check_claims(payload)

    def _remember(self, token: str, kid: str, claims: Mapping[str, Any]) -> None:
        self._verified[token] = (kid, claims)
        if len(self._verified) > self._verified_max:
            self._verified.popitem(last=False)

    def _check_claims(self, claims: Mapping[str, Any]) -> FirebaseUser:
        now = time.time()

        def number(name: str, required: bool = True) -> float | None:
            value = claims.get(name)
            if value is None and not required:
                return None
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise unauthenticated(f"the ID token has no valid '{name}' claim", "INVALID_CLAIMS")
            return float(value)

        exp = number("exp")
        iat = number("iat")
        auth_time = number("auth_time", required=False)
        nbf = number("nbf", required=False)
        assert exp is not None and iat is not None
        if now >= exp + self._skew:
            raise unauthenticated("the ID token has expired", "TOKEN_EXPIRED")
        if iat > now + self._skew or (auth_time is not None and auth_time > now + self._skew):
            raise unauthenticated("the ID token was issued in the future", "TOKEN_NOT_YET_VALID")
        if nbf is not None and nbf > now + self._skew:
            raise unauthenticated("the ID token is not valid yet (nbf)", "TOKEN_NOT_YET_VALID")
        if claims.get("aud") != self.project_id:
            raise unauthenticated("the ID token is for another Firebase project", "INVALID_AUDIENCE")
        if claims.get("iss") != self.issuer:
            raise unauthenticated("the ID token has the wrong issuer", "INVALID_ISSUER")
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub or len(sub) > limits.UID_MAX_LEN:
            raise unauthenticated("the ID token has no valid subject", "INVALID_SUBJECT")
        email = claims.get("email")
        if not isinstance(email, str) or len(email) > limits.EMAIL_MAX_LEN:
            email = ""
        firebase = claims.get("firebase")
        provider = firebase.get("sign_in_provider") if isinstance(firebase, Mapping) else None
        return FirebaseUser(
            uid=sub,
            email=email,
            email_verified=claims.get("email_verified") is True,
            sign_in_provider=provider if isinstance(provider, str) else None,
            claims=dict(claims),
        )

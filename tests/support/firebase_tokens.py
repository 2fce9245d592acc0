"""Real RS256 Firebase ID tokens for tests, and a local stand-in for Google's certificate URL.

    with firebase_issuer(project_id="demo-tokens") as issuer:
        settings = GatewaySettings(firebase_project_id=issuer.project_id, firebase_cert_url=issuer.cert_url)
        token = issuer.mint("user-1", email="a@example.com")
        expired = issuer.mint("user-1", expires_in=-3600)
        wrong_aud = issuer.mint("user-1", audience="another-project")
        forged = issuer.mint("user-1", key=issuer.other_key)          # same kid, wrong key
        unsigned = issuer.mint_unsigned("user-1")                     # Auth emulator style (alg none)

    # Tokens needed before any server runs (e.g. at pytest collection):
    key = generate_key()
    token = sign_id_token(firebase_claims("demo-tokens", "user-1"), key, kid="k1")
    with firebase_issuer("demo-tokens", key=key, kid="k1") as issuer: ...

The certificate server is a tiny threaded HTTP server on 127.0.0.1:0 serving ``{kid: x509 PEM}`` with
``Cache-Control: public, max-age=<max_age>``, as Google does; ``issuer.fetches`` counts requests to it.
Nothing here ever touches Google.
"""

from __future__ import annotations

import base64
import contextlib
import http.server
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import crypt, jwt

from gateway.local_dev import signing

DEFAULT_PROJECT = "demo-tokens"


def generate_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def self_signed_cert_pem(key: rsa.RSAPrivateKey, common_name: str = "securetoken.test") -> str:
    return signing.self_signed_cert_pem(key, common_name, valid_days=7)


def firebase_claims(
    project_id: str,
    uid: str,
    *,
    email: str | None = None,
    audience: str | None = None,
    issuer: str | None = None,
    expires_in: int = 3600,
    issued_at: float | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The claims Firebase Auth puts in an ID token (iss, aud, auth_time, user_id, sub, iat, exp, firebase)."""
    now = int(issued_at if issued_at is not None else time.time())
    claims: dict[str, Any] = {
        "iss": issuer if issuer is not None else f"https://securetoken.google.com/{project_id}",
        "aud": audience if audience is not None else project_id,
        "auth_time": now,
        "user_id": uid,
        "sub": uid,
        "iat": now,
        "exp": now + expires_in,
        "firebase": {"identities": {"email": [email]} if email else {}, "sign_in_provider": "password"},
    }
    if email is not None:
        claims["email"] = email
        claims["email_verified"] = True
    claims.update(extra)
    return claims


def sign_id_token(
    claims: dict[str, Any], key: rsa.RSAPrivateKey, kid: str, header: dict[str, Any] | None = None
) -> str:
    """RS256 JWT with ``kid`` in the header, signed by google-auth as Google's signer would."""
    signer = crypt.RSASigner.from_string(private_pem(key), key_id=kid)
    return jwt.encode(signer, claims, header=header).decode()


class _CertHandler(http.server.BaseHTTPRequestHandler):
    server: _CertServer

    def do_GET(self) -> None:
        self.server.fetches += 1
        body = json.dumps(self.server.certs).encode()
        self.send_response(self.server.status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Cache-Control", f"public, max-age={self.server.max_age}, must-revalidate, no-transform")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


class _CertServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    certs: dict[str, str]
    max_age: int
    status: int = 200
    fetches: int = 0


@dataclass
class FirebaseTestIssuer:
    project_id: str
    key: rsa.RSAPrivateKey
    kid: str
    cert_url: str
    other_key: rsa.RSAPrivateKey
    _server: _CertServer = field(repr=False)

    @property
    def issuer(self) -> str:
        return f"https://securetoken.google.com/{self.project_id}"

    @property
    def fetches(self) -> int:
        return self._server.fetches

    def set_certs(self, certs: dict[str, str]) -> None:
        """Replaces what the certificate URL serves (key rotation)."""
        self._server.certs = dict(certs)

    def set_status(self, status: int) -> None:
        self._server.status = status

    def claims(self, uid: str, **options: Any) -> dict[str, Any]:
        """Firebase ID token claims for ``uid`` in this project; see :func:`firebase_claims`."""
        return firebase_claims(self.project_id, uid, **options)

    def sign(
        self,
        claims: dict[str, Any],
        *,
        key: rsa.RSAPrivateKey | None = None,
        kid: str | None = None,
        header: dict[str, Any] | None = None,
    ) -> str:
        return sign_id_token(claims, key or self.key, kid or self.kid, header=header)

    def mint(
        self,
        uid: str,
        *,
        key: rsa.RSAPrivateKey | None = None,
        kid: str | None = None,
        header: dict[str, Any] | None = None,
        **claim_options: Any,
    ) -> str:
        """A Firebase-shaped RS256 ID token for ``uid``. ``claim_options`` go to :func:`firebase_claims`."""
        return self.sign(self.claims(uid, **claim_options), key=key, kid=kid, header=header)

    def mint_unsigned(self, uid: str, **claim_options: Any) -> str:
        """What the Firebase Auth emulator issues: ``alg: none`` and an empty signature."""

        def b64(data: dict[str, Any]) -> str:
            return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

        return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(self.claims(uid, **claim_options))}."

    def auth_headers(self, uid: str, **options: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.mint(uid, **options)}"}


@contextlib.contextmanager
def firebase_issuer(
    project_id: str = DEFAULT_PROJECT,
    *,
    max_age: int = 3600,
    key: rsa.RSAPrivateKey | None = None,
    kid: str | None = None,
) -> Iterator[FirebaseTestIssuer]:
    """A signing key (given, or a new one), its self-signed certificate served on 127.0.0.1:0, and a minter.
    Passing ``key``/``kid`` lets tokens be minted (with :func:`sign_id_token`) before the server starts."""
    key, other = key or generate_key(), generate_key()
    kid = kid or uuid.uuid4().hex
    server = _CertServer(("127.0.0.1", 0), _CertHandler)
    server.certs = {kid: self_signed_cert_pem(key)}
    server.max_age = max_age
    thread = threading.Thread(target=server.serve_forever, name="firebase-certs", daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    try:
        yield FirebaseTestIssuer(project_id, key, kid, f"http://{host}:{port}/certs", other, server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

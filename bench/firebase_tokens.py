"""Real RS256 Firebase-shaped ID tokens for the bench, and a local stand-in for Google's certificate URL: a
tiny threaded HTTP server on 127.0.0.1 serving {kid: x509 PEM} with Cache-Control max-age, as Google does,
so the gateway verifies every request exactly as in production (signature, issuer, audience, expiry)."""

from __future__ import annotations

import http.server
import json
import threading
import time
import uuid
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import crypt, jwt

from gateway.local_dev.signing import self_signed_cert_pem


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        self.server.fetches += 1
        body = self.server.body
        self.send_response(200)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Cache-Control", "public, max-age=3600, must-revalidate, no-transform")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    body: bytes = b"{}"
    fetches: int = 0


class FirebaseIssuer:
    def __init__(self, project_id: str = "demo-tokens") -> None:
        self.project_id = project_id
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = uuid.uuid4().hex
        self._signer = crypt.RSASigner.from_string(
            self._key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
            key_id=self.kid,
        )
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.body = json.dumps(
            {self.kid: self_signed_cert_pem(self._key, "securetoken.bench", valid_days=2)}
        ).encode()
        self._thread = threading.Thread(target=self._server.serve_forever, name="bench-firebase-certs", daemon=True)

    def __enter__(self) -> FirebaseIssuer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def cert_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/robot/v1/metadata/x509/securetoken@system.gserviceaccount.com"

    @property
    def fetches(self) -> int:
        return self._server.fetches

    def mint(self, uid: str, email: str | None = None, expires_in: int = 3600) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": f"https://securetoken.google.com/{self.project_id}",
            "aud": self.project_id,
            "auth_time": now,
            "user_id": uid,
            "sub": uid,
            "iat": now,
            "exp": now + expires_in,
            "firebase": {"identities": {"email": [email]} if email else {}, "sign_in_provider": "password"},
        }
        if email:
            claims["email"] = email
            claims["email_verified"] = True
        return jwt.encode(self._signer, claims).decode()

    def headers(self, uid: str, email: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.mint(uid, email)}"}

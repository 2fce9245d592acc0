"""The local profile's development signing key: Firebase-shaped RS256 ID tokens the gateway's own verifier
trusts through its static certificates. Never used in production (the settings refuse LOCAL_DEV_SIGN_IN
there, and without it the key is neither made nor trusted)."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from google.auth import crypt, jwt

from gateway.auth import issuer_for

# google-auth has no type information: the calls used here, with their types.
_signer_from_pem = cast(Callable[..., crypt.RSASigner], crypt.RSASigner.from_string)
_encode = cast(Callable[[crypt.RSASigner, dict[str, Any]], bytes], jwt.encode)

TOKEN_LIFETIME_S = 3600  # as Firebase's ID tokens
SIGN_IN_PROVIDER = "custom"
_CERT_NAME = "gateway local development signing key (not Google)"


class DevSigner:
    """A development RSA key, its self-signed certificate and the ``kid`` both go by."""

    def __init__(self, key: rsa.RSAPrivateKey) -> None:
        self._key = key
        public_der = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        # Google's key ids are 40 hex digits; this prefix can never be one of them.
        self.kid = "local-dev-" + hashlib.sha256(public_der).hexdigest()[:24]
        self.certificate_pem = self_signed_cert_pem(key)
        private_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        self._signer = _signer_from_pem(private_pem, key_id=self.kid)

    def trusted_certs(self) -> dict[str, str]:
        """``{kid: certificate PEM}`` for the verifier's static certificates."""
        return {self.kid: self.certificate_pem}

    def claims(
        self, project_id: str, uid: str, email: str | None, now: float | None = None, lifetime_s: int = TOKEN_LIFETIME_S
    ) -> dict[str, Any]:
        """The claims Firebase Auth puts in an ID token after a custom-token sign-in."""
        issued = int(now if now is not None else time.time())
        claims: dict[str, Any] = {
            "iss": issuer_for(project_id),
            "aud": project_id,
            "auth_time": issued,
            "user_id": uid,
            "sub": uid,
            "iat": issued,
            "exp": issued + lifetime_s,
            "firebase": {"identities": {"email": [email]} if email else {}, "sign_in_provider": SIGN_IN_PROVIDER},
        }
        if email:
            claims["email"] = email
            claims["email_verified"] = False
        return claims

    def sign(self, claims: dict[str, Any]) -> str:
        return _encode(self._signer, claims).decode("ascii")

    def id_token(self, project_id: str, uid: str, email: str | None = None, lifetime_s: int = TOKEN_LIFETIME_S) -> str:
        return self.sign(self.claims(project_id, uid, email, lifetime_s=lifetime_s))


def self_signed_cert_pem(key: rsa.RSAPrivateKey, common_name: str = _CERT_NAME, valid_days: int = 365) -> str:
    """A self-signed certificate of `key`, as Google serves its token-signing keys: also what the tests' and the
    bench's stand-ins for Google's certificate URL serve."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=valid_days))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _generate() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _load_or_create(path: Path) -> rsa.RSAPrivateKey:
    """The key in ``path``; a new one written there (mode 0600, never overwriting) when it is missing."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        key = _generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first: use theirs
            return _load_or_create(path)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        return key
    loaded = serialization.load_pem_private_key(data, password=None)
    if not isinstance(loaded, rsa.RSAPrivateKey):
        raise ValueError(f"{path} does not hold an RSA private key")
    return loaded


_lock = threading.Lock()
_ephemeral: DevSigner | None = None
_from_files: dict[Path, DevSigner] = {}


def load_signer(key_file: str = "") -> DevSigner:
    """The signer for ``key_file`` (kept across restarts), or, without one, a key made once per process."""
    global _ephemeral
    with _lock:
        if key_file:
            path = Path(key_file).expanduser().resolve()
            if path not in _from_files:
                _from_files[path] = DevSigner(_load_or_create(path))
            return _from_files[path]
        if _ephemeral is None:
            _ephemeral = DevSigner(_generate())
        return _ephemeral

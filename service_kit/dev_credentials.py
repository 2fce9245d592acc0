"""Development credentials for `make run` and the tests: per-caller service tokens and an mTLS set (a CA,
a server certificate for 127.0.0.1/localhost, and one client certificate per caller), made with the
`cryptography` package. Never used in production: the settings refuse these values there."""

from __future__ import annotations

import datetime as dt
import ipaddress
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from service_kit.settings import CALLERS

__all__ = ["CALLERS", "TlsFiles", "dev_tokens", "write_dev_tls"]


def dev_tokens() -> dict[str, str]:
    # The "local" marker makes APP_ENV=production refuse them.
    return {name: f"local-{name}-{secrets.token_urlsafe(24)}" for name in CALLERS}


@dataclass(frozen=True)
class TlsFiles:
    ca_cert: Path
    server_cert: Path
    server_key: Path
    client_certs: dict[str, tuple[Path, Path]]  # caller -> (cert, key)


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    path.chmod(0o600)


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer_name: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool,
    sans: Sequence[x509.GeneralName] = (),
    usage: x509.ObjectIdentifier | None = None,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
    if usage:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def write_dev_tls(folder: Path) -> TlsFiles:
    folder.mkdir(parents=True, exist_ok=True)
    ca_key = _key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "token-backend local dev CA")])
    ca = _cert("token-backend local dev CA", ca_key, ca_name, ca_key, ca=True)
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    server_key = _key()
    server = _cert(
        "localhost",
        server_key,
        ca_name,
        ca_key,
        ca=False,
        sans=[x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
        usage=ExtendedKeyUsageOID.SERVER_AUTH,
    )
    (folder / "server.pem").write_bytes(server.public_bytes(serialization.Encoding.PEM))
    _write_key(server_key, folder / "server.key")
    clients = {}
    for name in CALLERS:
        key = _key()
        cert = _cert(name, key, ca_name, ca_key, ca=False, usage=ExtendedKeyUsageOID.CLIENT_AUTH)
        (folder / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(key, folder / f"{name}.key")
        clients[name] = (folder / f"{name}.pem", folder / f"{name}.key")
    return TlsFiles(folder / "ca.pem", folder / "server.pem", folder / "server.key", clients)

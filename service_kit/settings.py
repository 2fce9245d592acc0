"""Settings fields every service shares. Each service builds one Settings object at start-up from the
environment (see .env.example) and passes it down."""

from __future__ import annotations

import os
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The service callers; each has its own token (AUTH_TOKEN_<CALLER>) and, with mTLS, its own certificate.
CALLERS = ("gateway", "billing", "backend", "admin")
_TLS_FILES = (
    "tls_cert_file",
    "tls_key_file",
    "tls_client_ca_file",
    "tls_ca_file",
    "tls_client_cert_file",
    "tls_client_key_file",
)
_TLS_PAIRS = (("tls_cert_file", "tls_key_file"), ("tls_client_cert_file", "tls_client_key_file"))
# Values that only ever belong on a developer's machine.
PLACEHOLDER_MARKERS = ("local", "placeholder", "changeme", "dev-only", "example")


def is_placeholder(secret: str) -> bool:
    return not secret or any(marker in secret.lower() for marker in PLACEHOLDER_MARKERS)


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    # "local" allows development keys and placeholder secrets; "production" refuses them.
    app_env: Literal["local", "production"] = "local"
    log_level: str = "INFO"
    grpc_reflection: bool = True
    shutdown_grace_s: float = Field(5.0, ge=0, le=120)
    # Prometheus metrics over HTTP on this HOST:PORT, apart from the public port; empty = not served. Each
    # service sets its own default (gateway :9460, profile :9461, billing :9462).
    metrics_listen: str = ""
    # OpenTelemetry traces exported over OTLP/gRPC to this collector (http://host:4317); empty = tracing off.
    otel_exporter_otlp_endpoint: str = ""

    # Per-caller service credentials. A server accepts the callers whose token is set; a client sends
    # its own. With none set (local only) service auth is off.
    auth_token_gateway: SecretStr = SecretStr("")
    auth_token_billing: SecretStr = SecretStr("")
    auth_token_backend: SecretStr = SecretStr("")
    # Operators' tool (python -m profile_service.admin): promotional grants and adjustments only.
    auth_token_admin: SecretStr = SecretStr("")
    # A second accepted token per caller while rotating (servers accept both; a client sends its current one).
    auth_token_gateway_next: SecretStr = SecretStr("")
    auth_token_billing_next: SecretStr = SecretStr("")
    auth_token_backend_next: SecretStr = SecretStr("")
    auth_token_admin_next: SecretStr = SecretStr("")

    # Optional TLS. Server: cert + key; adding a client CA requires client certificates (mTLS).
    tls_cert_file: str = ""
    tls_key_file: str = ""
    tls_client_ca_file: str = ""
    # Client: CA to trust, and this service's own certificate for mTLS.
    tls_ca_file: str = ""
    tls_client_cert_file: str = ""
    tls_client_key_file: str = ""
    tls_server_name: str = ""

    @property
    def is_local(self) -> bool:
        return self.app_env == "local"

    def caller_tokens(self) -> dict[str, str]:
        """Each caller's current token (what that caller sends)."""
        return {caller: getattr(self, f"auth_token_{caller}").get_secret_value() for caller in CALLERS}

    def accepted_tokens(self) -> dict[str, tuple[str, ...]]:
        """Each caller's accepted tokens: current and, while rotating, next."""
        accepted: dict[str, tuple[str, ...]] = {}
        for caller in CALLERS:
            tokens = (getattr(self, f"auth_token_{caller}"), getattr(self, f"auth_token_{caller}_next"))
            accepted[caller] = tuple(t.get_secret_value() for t in tokens if t.get_secret_value())
        return accepted

    @property
    def service_auth_enabled(self) -> bool:
        return any(self.accepted_tokens().values())

    @property
    def mtls_required(self) -> bool:
        """This server asks every client for a certificate signed by TLS_CLIENT_CA_FILE."""
        return bool(self.tls_cert_file and self.tls_client_ca_file)

    @model_validator(mode="after")
    def _tls_files_exist_and_pair(self) -> CommonSettings:
        for name in _TLS_FILES:
            path = getattr(self, name)
            if path and not os.access(path, os.R_OK):
                problem = "is not readable" if os.path.exists(path) else "does not exist"
                raise ValueError(f"{name.upper()}={path} {problem}")
        for one, other in _TLS_PAIRS:
            if bool(getattr(self, one)) != bool(getattr(self, other)):
                given, missing = (one, other) if getattr(self, one) else (other, one)
                raise ValueError(f"{given.upper()} is set but {missing.upper()} is not: both are needed")
        if self.tls_client_ca_file and not self.tls_cert_file:
            raise ValueError("TLS_CLIENT_CA_FILE (mTLS) needs TLS_CERT_FILE and TLS_KEY_FILE (server TLS)")
        if self.tls_client_cert_file and not self.tls_ca_file:
            raise ValueError("TLS_CLIENT_CERT_FILE needs TLS_CA_FILE (the CA the servers' certificates come from)")
        return self

    @model_validator(mode="after")
    def _production_needs_real_credentials(self) -> CommonSettings:
        if self.app_env == "production":
            for name in self.required_production_secrets():
                value = getattr(self, name)
                raw = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
                if is_placeholder(raw):
                    raise ValueError(f"{name.upper()} is empty or a placeholder; APP_ENV=production refuses it")
            for caller in CALLERS:
                upcoming = getattr(self, f"auth_token_{caller}_next").get_secret_value()
                if upcoming and is_placeholder(upcoming):
                    raise ValueError(
                        f"AUTH_TOKEN_{caller.upper()}_NEXT is a placeholder; APP_ENV=production refuses it"
                    )
        return self

    def required_production_secrets(self) -> list[str]:
        """Secrets this service must have, real, in production. Services extend the list."""
        return []

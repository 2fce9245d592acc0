"""Settings fields every service shares. Each service builds one Settings object at start-up from the
environment (see .env.example) and passes it down."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

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

    # Per-caller service credentials. A server accepts the callers whose token is set; a client sends
    # its own. With none set (local only) service auth is off.
    auth_token_gateway: SecretStr = SecretStr("")
    auth_token_billing: SecretStr = SecretStr("")
    auth_token_backend: SecretStr = SecretStr("")

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
        return {
            "gateway": self.auth_token_gateway.get_secret_value(),
            "billing": self.auth_token_billing.get_secret_value(),
            "backend": self.auth_token_backend.get_secret_value(),
        }

    @property
    def service_auth_enabled(self) -> bool:
        return any(self.caller_tokens().values())

    @model_validator(mode="after")
    def _production_needs_real_credentials(self) -> CommonSettings:
        if self.app_env == "production":
            for name in self.required_production_secrets():
                value = getattr(self, name)
                raw = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
                if is_placeholder(raw):
                    raise ValueError(f"{name.upper()} is empty or a placeholder; APP_ENV=production refuses it")
        return self

    def required_production_secrets(self) -> list[str]:
        """Secrets this service must have, real, in production. Services extend the list."""
        return []

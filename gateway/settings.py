"""GatewaySettings: built once at start-up from the environment and passed down (never read globally)."""

from __future__ import annotations

import json
from typing import Annotated

from pydantic import Field, field_validator, model_validator
from pydantic_settings import NoDecode

from gateway.rate_limits import open_storage, parse_limits
from service_kit.redirects import redirect_allowed
from service_kit.settings import CommonSettings

GOOGLE_SECURETOKEN_CERTS = "https://www.googleapis.com/robot/v1/metadata/x509/securetoken@system.gserviceaccount.com"


class GatewaySettings(CommonSettings):
    gateway_listen: str = "127.0.0.1:8080"
    # Prometheus metrics (GET /metrics) on their own address, never the public one; empty = not served.
    metrics_listen: str = "127.0.0.1:9460"
    profile_target: str = "127.0.0.1:50051"
    billing_target: str = "127.0.0.1:50052"

    # Firebase Auth: ID tokens are RS256 JWTs signed by Google's securetoken service account.
    firebase_project_id: str = ""
    firebase_cert_url: str = GOOGLE_SECURETOKEN_CERTS
    # Only when set: also accept the Auth emulator's unsigned tokens (alg "none"). Never in production.
    firebase_auth_emulator_host: str | None = None
    # Leeway for exp, iat, auth_time and nbf between our clock and Google's.
    auth_clock_skew_s: int = Field(10, ge=0, le=300)
    # A token naming an unknown key id refreshes the certificates, at most this often (Google rotates keys).
    auth_certs_min_refresh_s: float = Field(30.0, ge=0, le=3600)

    # Local profile only: POST /local/sign-in signs Firebase-shaped ID tokens with a development key the
    # verifier trusts, and GET / serves the page to try the purchase flow. Unset = on in local, off in
    # production; APP_ENV=production refuses it set to true.
    local_dev_sign_in: bool | None = None
    # Where that development key is kept (PEM, created if missing) so tokens survive restarts; empty = a new
    # key per process. Refused in production.
    local_dev_key_file: str = ""

    # Comma-separated in the environment: CORS_ORIGINS=https://app.example.com,http://localhost:3000
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["http://localhost:3000"])

    # Where Checkout and the billing portal may send the browser back to: scheme://host[:port], compared
    # exactly (the same variable and rule as billing's; the gateway refuses early, naming the field).
    # Comma-separated or a JSON list.
    allowed_redirect_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["http://127.0.0.1:8080", "http://localhost:8080"]
    )
    # The billing portal's "return" link when the request names none; empty = the first allowed origin + "/".
    billing_portal_return_url: str = ""
    # GET /v1/profile/events: a keep-alive comment after this many seconds without an event.
    profile_events_keepalive_s: float = Field(15.0, gt=0, le=300)

    max_body_bytes: int = Field(64 * 1024, ge=1024, le=16 * 1024 * 1024)
    # Stripe events (a session with its line items) can be larger than a browser's request.
    webhook_max_body_bytes: int = Field(512 * 1024, ge=1024, le=16 * 1024 * 1024)
    # Deadline of every gRPC call the gateway makes.
    downstream_timeout_s: float = Field(5.0, gt=0, le=60)
    # Retry-After sent with 503s.
    retry_after_s: int = Field(1, ge=0, le=3600)
    # Per-user limit on the writes (checkout and portal sessions, profile create/update), e.g. "10/minute" or
    # "10/minute;100/hour"; empty = no limit. Counted where RATE_LIMIT_STORAGE_URI says: memory:// = per
    # replica; a shared storage (redis://...) = across replicas (gateway/rate_limits.py).
    rate_limit_writes: str = "20/minute"
    rate_limit_storage_uri: str = "memory://"

    @field_validator("gateway_listen")
    @classmethod
    def _host_and_port(cls, value: str) -> str:
        _, colon, port = value.rpartition(":")  # an empty host means 127.0.0.1
        if not colon or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError(f"expected HOST:PORT (e.g. 127.0.0.1:8080), got {value!r}")
        return value

    @field_validator("rate_limit_writes")
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        if value.strip():
            parse_limits(value)
        return value.strip()

    @field_validator("rate_limit_storage_uri")
    @classmethod
    def _rate_limit_storage(cls, value: str) -> str:
        open_storage(value)
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("allowed_redirect_origins", mode="before")
    @classmethod
    def _split_redirect_origins(cls, value: object) -> object:
        if isinstance(value, str):
            if value.strip().startswith("["):
                return json.loads(value)
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @model_validator(mode="after")
    def _defaults_and_guards(self) -> GatewaySettings:
        if not self.firebase_project_id:
            if not self.is_local:
                raise ValueError("APP_ENV=production needs FIREBASE_PROJECT_ID")
            self.firebase_project_id = "demo-tokens"
        if self.firebase_auth_emulator_host and not self.is_local:
            raise ValueError("FIREBASE_AUTH_EMULATOR_HOST (unsigned tokens) is refused with APP_ENV=production")
        if "*" in self.cors_origins and not self.is_local:
            raise ValueError("CORS_ORIGINS='*' is refused with APP_ENV=production")
        if self.local_dev_sign_in is None:
            self.local_dev_sign_in = self.is_local
        if self.local_dev_sign_in and not self.is_local:
            raise ValueError(
                "LOCAL_DEV_SIGN_IN (tokens signed with a development key) is refused with APP_ENV=production"
            )
        if self.local_dev_key_file and not self.is_local:
            raise ValueError("LOCAL_DEV_KEY_FILE is refused with APP_ENV=production")
        if not self.billing_portal_return_url and self.allowed_redirect_origins:
            self.billing_portal_return_url = self.allowed_redirect_origins[0].rstrip("/") + "/"
        if self.billing_portal_return_url and not redirect_allowed(
            self.billing_portal_return_url, self.allowed_redirect_origins
        ):
            raise ValueError("BILLING_PORTAL_RETURN_URL must lie under ALLOWED_REDIRECT_ORIGINS")
        return self

    def required_production_secrets(self) -> list[str]:
        # The gateway's own service credential for profile and billing.
        return ["auth_token_gateway"]

    @property
    def listen_host(self) -> str:
        host, _, _ = self.gateway_listen.rpartition(":")
        return host.strip("[]") or "127.0.0.1"

    @property
    def listen_port(self) -> int:
        return int(self.gateway_listen.rpartition(":")[2])

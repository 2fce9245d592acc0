"""BillingSettings: read once from the environment at start-up (see .env.example)."""

from __future__ import annotations

import json
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import NoDecode

from billing_service.domain.reconciliation import DEFAULT_SINCE_HOURS, MAX_SINCE_HOURS
from service_kit.settings import CommonSettings
from tokens import contract_rules as limits

# Values that only make sense against the local stand-in. Production refuses them.
LOCAL_SECRET_KEY = "sk_test_local_standin"
LOCAL_WEBHOOK_SECRET = "whsec_local_standin_secret"


def _split_origins(value: object) -> object:
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.startswith("["):
            return json.loads(stripped)
        return [item.strip() for item in stripped.split(",") if item.strip()]
    return value


class BillingSettings(CommonSettings):
    billing_listen: str = "127.0.0.1:50052"
    # Prometheus metrics (GET /metrics) on their own address, never the public one; empty = not served.
    metrics_listen: str = "127.0.0.1:9462"
    profile_target: str = "127.0.0.1:50051"
    profile_timeout_s: float = Field(5.0, gt=0, le=120)

    stripe_secret_key: str = LOCAL_SECRET_KEY
    stripe_webhook_secret: str = LOCAL_WEBHOOK_SECRET
    # Empty: the real Stripe API. Otherwise e.g. http://127.0.0.1:12111 (the local stand-in).
    stripe_api_base: str = ""
    stripe_timeout_s: float = Field(20.0, gt=0, le=120)
    stripe_max_network_retries: int = Field(2, ge=0, le=10)
    webhook_tolerance_s: int = Field(300, ge=1, le=3600)
    # Reconciliation in the background: every this many seconds (0: off), over the last N hours.
    reconcile_interval_s: float = Field(0.0, ge=0, le=86_400)
    reconcile_since_hours: int = Field(DEFAULT_SINCE_HOURS, ge=1, le=MAX_SINCE_HOURS)

    # The default catalogue mirrors the original: one one-time pack of 5 tokens, one subscription.
    stripe_onetime_price_id: str = "price_onetime_5_tokens"
    stripe_onetime_product_id: str = "prod_token_pack"
    stripe_onetime_tokens: int = Field(5, ge=1, le=10_000)
    stripe_subscription_price_id: str = "price_subscription_monthly"
    stripe_subscription_product_id: str = "prod_subscription"
    # The subscription's allowance: tokens each paid period's invoice grants (expiring at the period end;
    # 0 = none), and how many unused ones at most roll over into the next period.
    stripe_subscription_tokens_per_period: int = Field(0, ge=0, le=limits.MAX_TOKEN_AMOUNT)
    stripe_subscription_rollover_max: int = Field(0, ge=0, le=limits.MAX_TOKEN_AMOUNT)
    # Optional JSON list replacing the default catalogue, each item like
    # {"price_id": "...", "mode": "payment"|"subscription", "tokens_per_unit": 5, "display_name": "...",
    #  "product_id": "...", "unit_amount": 500, "currency": "usd"}; subscription prices may add
    #  "tokens_per_period": 1000, "rollover_max": 200 (an allowance per paid period, per unit).
    billing_catalogue: str = ""

    # Where Checkout may send the browser back to: scheme://host[:port], compared exactly.
    # Accepts a comma-separated list or a JSON list.
    allowed_redirect_origins: Annotated[list[str], NoDecode] = ["http://127.0.0.1:8080", "http://localhost:8080"]
    default_success_url: str = "http://127.0.0.1:8080/success?session_id={CHECKOUT_SESSION_ID}"
    default_cancel_url: str = "http://127.0.0.1:8080/cancel"

    @field_validator("allowed_redirect_origins", mode="before")
    @classmethod
    def _origins(cls, value: object) -> object:
        return _split_origins(value)

    @field_validator("stripe_api_base")
    @classmethod
    def _api_base(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError("STRIPE_API_BASE must be an http(s) URL or empty")
        return value

    def required_production_secrets(self) -> list[str]:
        # Its own credential towards the profile service, and the gateway's, which it accepts.
        return ["auth_token_billing", "auth_token_gateway"]

    @model_validator(mode="after")
    def _rollover_within_allowance(self) -> BillingSettings:
        if self.stripe_subscription_rollover_max > self.stripe_subscription_tokens_per_period:
            raise ValueError(
                "STRIPE_SUBSCRIPTION_ROLLOVER_MAX must not exceed STRIPE_SUBSCRIPTION_TOKENS_PER_PERIOD "
                f"({self.stripe_subscription_tokens_per_period})"
            )
        return self

    @model_validator(mode="after")
    def _production_refuses_local_values(self) -> BillingSettings:
        if self.app_env != "production":
            return self
        problems = []
        if self.stripe_secret_key in ("", LOCAL_SECRET_KEY) or not self.stripe_secret_key.startswith(("sk_", "rk_")):
            problems.append("STRIPE_SECRET_KEY must be a real Stripe secret key")
        if self.stripe_webhook_secret in ("", LOCAL_WEBHOOK_SECRET) or not self.stripe_webhook_secret.startswith(
            "whsec_"
        ):
            problems.append("STRIPE_WEBHOOK_SECRET must be the endpoint's real signing secret")
        if self.stripe_api_base:
            # Production talks to Stripe itself, never to the stand-in.
            problems.append("STRIPE_API_BASE must be empty in production")
        if problems:
            raise ValueError("; ".join(problems))
        return self

"""Settings for the Stripe stand-in, read from the environment (pydantic-settings)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class RecurringSeed(BaseModel):
    interval: Literal["day", "week", "month", "year"] = "month"
    interval_count: int = 1


class PriceSeed(BaseModel):
    """One price to seed; shaped like the Stripe fields it fills in."""

    id: str
    unit_amount: int
    currency: str = "usd"
    product: str
    product_name: str | None = None
    type: Literal["one_time", "recurring"] | None = None
    recurring: RecurringSeed | None = None
    nickname: str | None = None
    lookup_key: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    active: bool = True

    @model_validator(mode="after")
    def _infer_type(self) -> PriceSeed:
        # Either `type` or `recurring` may be given; make them agree.
        if self.type is None:
            self.type = "recurring" if self.recurring else "one_time"
        if self.type == "recurring" and self.recurring is None:
            self.recurring = RecurringSeed()
        if self.type == "one_time":
            self.recurring = None
        return self


DEFAULT_PRICES: tuple[PriceSeed, ...] = (
    PriceSeed(
        id="price_onetime_5_tokens",
        unit_amount=500,
        currency="usd",
        product="prod_token_pack",
        product_name="5 tokens",
        type="one_time",
    ),
    PriceSeed(
        id="price_subscription_monthly",
        unit_amount=1500,
        currency="usd",
        product="prod_subscription",
        product_name="Monthly subscription",
        recurring=RecurringSeed(interval="month"),
    ),
)


class StandinSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="STRIPE_STANDIN_",
        populate_by_name=True,
        extra="ignore",
        env_ignore_empty=True,
    )

    host: str = "127.0.0.1"
    port: int = 12111
    # Base of checkout `url`s; empty means http://HOST:PORT (the actually bound port for in-process servers).
    public_url: str = ""
    # Where events are POSTed; empty means events are recorded but not delivered.
    webhook_url: str = ""
    # Same variable name the billing service reads, so both sides agree without extra config.
    webhook_secret: str = Field("whsec_local_standin_secret", validation_alias="STRIPE_WEBHOOK_SECRET")
    prices: list[PriceSeed] | None = None
    webhook_delay_ms: int = 0
    webhook_max_attempts: int = 8
    webhook_timeout_s: float = 10.0
    # How long a `wait=true` control call waits for deliveries (retries continue in the background after).
    wait_timeout_s: float = 10.0
    # Stripe's search is eventually consistent (new objects show up within about a minute);
    # set this to make the stand-in hide objects younger than this many seconds from search.
    search_lag_s: int = 0
    # Default sleep of the `timeout` fault mode.
    fault_timeout_s: float = 30.0
    # A JSON file keeping the state across restarts (make run: data/stripe_standin.json); empty: memory only.
    state_file: str = ""

    def seed_prices(self) -> list[PriceSeed]:
        return list(self.prices) if self.prices is not None else [p.model_copy(deep=True) for p in DEFAULT_PRICES]

    def default_public_url(self) -> str:
        return self.public_url.rstrip("/") or f"http://{self.host}:{self.port}"

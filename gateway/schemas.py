"""The JSON the gateway speaks. Field names are the frontend's (api/types/models.ts), snake_case."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from tokens import contract_rules as limits
from tokens.profile.v1 import profile_service_pb2 as profile_pb

_ENTRY_PREFIX = "TOKEN_ENTRY_TYPE_"
# 'purchase', 'promotional', 'refund_reversal', 'adjustment', 'spend', 'refund' (+ 'unspecified').
TOKEN_TYPES: tuple[str, ...] = tuple(
    name.removeprefix(_ENTRY_PREFIX).lower() for name, _number in profile_pb.TokenEntryType.items()
)
TokenType = Literal[TOKEN_TYPES]  # type: ignore[valid-type]
PriceMode = Literal["payment", "subscription"]
FulfillmentStatus = Literal["fulfilled", "pending", "failed", "subscription"]

# Everything a browser can see but only purchases, spending, Stripe or sign-in may change, and why: the
# proto's read_only_reason options, plus the original app's history array.
READ_ONLY_PROFILE_FIELDS: dict[str, str] = {
    **limits.PROFILE_READ_ONLY_FOR_USER,
    "token_history": "history entries are written only by the token ledger",
}


def _without_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


class UserProfileData(BaseModel):
    """The caller's profile. Timestamps are ISO-8601 (UTC) or null; ids never set are null."""

    uid: str
    email: str
    created_at: datetime | None
    last_login: datetime | None
    stripe_customer_id: str | None
    has_access: bool
    one_time_purchase: bool
    tokens: int
    purchase_date: datetime | None
    product_id: str | None
    price_id: str | None
    subscription_status: str | None
    current_period_end: datetime | None
    display_name: str | None
    # Beyond the original app's fields: the parts of the balance.
    available_tokens: int = Field(description="tokens minus held_tokens: what can be spent now.")
    held_tokens: int = Field(description="Reserved by running jobs until they finish.")
    debt: int = Field(description="Owed after a refund of spent tokens; settled by the next purchases.")
    next_expiry_amount: int = Field(description="Tokens that expire soonest (0 when none expire).")
    next_expiry_time: datetime | None = Field(description="When next_expiry_amount expires; null when none do.")


class UserDataUpdate(BaseModel):
    """The fields a user may change about themselves. Naming any other profile field is refused with reason
    READ_ONLY_FIELD; naming a field that does not exist is refused with reason UNKNOWN_FIELD."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"minProperties": 1})

    display_name: str | None = Field(
        None, max_length=limits.DISPLAY_NAME_MAX_LEN, description='Shown to the user; null or "" clears it.'
    )

    @model_validator(mode="before")
    @classmethod
    def _refuse_read_only(cls, data: Any) -> Any:
        if isinstance(data, dict):
            named = [key for key in data if key in READ_ONLY_PROFILE_FIELDS]
            if named:
                explained = "; ".join(f"'{key}' is read-only: {READ_ONLY_PROFILE_FIELDS[key]}" for key in named)
                raise PydanticCustomError("read_only_field", explained, {"field": named[0], "fields": named})
            if not data:
                raise PydanticCustomError("empty_update", "name at least one field to update")
        return data


class TokenTransaction(BaseModel):
    """One ledger entry, newest first in the history. ``amount`` is signed (negative for spends)."""

    amount: int
    type: TokenType
    timestamp: datetime
    balance_after: int
    entry_id: str
    reason: str | None = None
    source: dict[str, str] = Field(default_factory=dict)


class TokenHistoryPage(BaseModel):
    entries: list[TokenTransaction]
    next_page_token: str | None = Field(description="Pass as page_token for the next page; null on the last.")


class Price(BaseModel):
    price_id: str
    mode: PriceMode
    tokens_per_unit: int = Field(description="Tokens granted per unit bought (payment mode); 0 for subscriptions.")
    display_name: str
    product_id: str
    unit_amount: int = Field(description="In the currency's smallest unit (cents).")
    currency: str


class PriceList(BaseModel):
    prices: list[Price]


PRICE_ID_PATTERN = rf"^[A-Za-z0-9_\-]{{1,{limits.STRIPE_ID_MAX_LEN}}}$"
SESSION_ID_PATTERN = PRICE_ID_PATTERN
IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]{1,200}$"
MAX_REDIRECT_URL_LEN = limits.URL_MAX_LEN


class CheckoutSessionCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        # Stated in the schema too, so clients (and fuzzers) know a subscription takes quantity 1.
        json_schema_extra={
            "if": {"properties": {"mode": {"const": "subscription"}}, "required": ["mode"]},
            "then": {"properties": {"quantity": {"const": 1}}},
        },
    )

    price_id: str = Field(pattern=PRICE_ID_PATTERN, description="A price_id from GET /v1/prices.")
    mode: PriceMode
    # No "default" in the schema, so generated client types keep it optional; 1 when omitted.
    quantity: int = Field(
        1,
        ge=1,
        le=limits.CHECKOUT_QUANTITY_MAX,
        description="Defaults to 1; subscriptions take 1 only.",
        json_schema_extra=_without_default,
    )

    success_url: str | None = Field(
        None,
        max_length=MAX_REDIRECT_URL_LEN,
        description="Where Stripe sends the buyer after paying; must lie under ALLOWED_REDIRECT_ORIGINS. "
        "{CHECKOUT_SESSION_ID} in it is replaced by the session id (added as ?session_id= if absent). "
        "Default: the gateway's own success page.",
        json_schema_extra=_without_default,
    )
    cancel_url: str | None = Field(
        None,
        max_length=MAX_REDIRECT_URL_LEN,
        description="Where Stripe sends the buyer who cancels; must lie under ALLOWED_REDIRECT_ORIGINS.",
        json_schema_extra=_without_default,
    )

    @field_validator("quantity")
    @classmethod
    def _subscription_quantity(cls, quantity: int, info: ValidationInfo) -> int:
        if info.data.get("mode") == "subscription" and quantity != 1:
            raise PydanticCustomError("subscription_quantity", "a subscription is bought with quantity 1")
        return quantity


class BillingPortalSessionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    return_url: str | None = Field(
        None,
        max_length=MAX_REDIRECT_URL_LEN,
        description="Where the portal's return link goes; must lie under ALLOWED_REDIRECT_ORIGINS. "
        "Default: BILLING_PORTAL_RETURN_URL.",
        json_schema_extra=_without_default,
    )


class BillingPortalSession(BaseModel):
    url: str = Field(description="Stripe billing portal page to send the browser to (short-lived).")


class CheckoutSession(BaseModel):
    id: str
    url: str = Field(description="Stripe Checkout page to redirect the browser to.")


class CheckoutSessionStatus(BaseModel):
    id: str
    status: FulfillmentStatus = Field(
        description="fulfilled: tokens granted (now or earlier); pending: not paid yet; failed: expired or the "
        "payment failed; subscription: access comes from the subscription."
    )
    payment_status: str = Field(description="Stripe's payment_status: paid, unpaid or no_payment_required.")
    tokens_granted: int
    balance: int


class WebhookReceipt(BaseModel):
    received: Literal[True] = True
    event_id: str
    event_type: str
    action: str


class Liveness(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    status: Literal["ready"] = "ready"
    services: dict[str, str]

"""BillingSettings: production refuses the stand-in's keys and base URL; the catalogue can be replaced."""

from __future__ import annotations

import json

import pydantic
import pytest

from billing_service.catalogue import build_catalogue
from billing_service.settings import BillingSettings


def _production(**values: object) -> BillingSettings:
    base = dict(
        app_env="production",
        stripe_secret_key="sk_live_abc",
        stripe_webhook_secret="whsec_real",
        stripe_api_base="",
        auth_token_billing="b-9f2c1e7a",
        auth_token_gateway="g-4d8b0c6f",
    )
    base.update(values)
    return BillingSettings(_env_file=None, **base)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("stripe_secret_key", "sk_test_local_standin"),
        ("stripe_secret_key", ""),
        ("stripe_webhook_secret", "whsec_local_standin_secret"),
        ("stripe_webhook_secret", ""),
        ("stripe_api_base", "http://127.0.0.1:12111"),
        ("auth_token_billing", ""),
        ("auth_token_gateway", "local-gateway-dev"),
    ],
)
def test_production_refuses_local_values(field: str, value: str):
    with pytest.raises(pydantic.ValidationError):
        _production(**{field: value})


def test_production_accepts_real_values():
    assert _production().stripe_api_base == ""


def test_local_defaults_and_env_lists(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ALLOWED_REDIRECT_ORIGINS", "https://app.example.com, http://localhost:3000")
    monkeypatch.setenv("STRIPE_API_BASE", "http://127.0.0.1:12111/")
    settings = BillingSettings(_env_file=None)
    assert settings.allowed_redirect_origins == ["https://app.example.com", "http://localhost:3000"]
    assert settings.stripe_api_base == "http://127.0.0.1:12111"
    assert settings.stripe_secret_key == "sk_test_local_standin"


def test_catalogue_from_json_replaces_the_default():
    catalogue = build_catalogue(
        BillingSettings(
            _env_file=None,
            billing_catalogue=json.dumps(
                [
                    {"price_id": "price_big", "mode": "payment", "tokens_per_unit": 50, "display_name": "50 tokens"},
                    {"price_id": "price_pro", "mode": "subscription"},
                ]
            ),
        )
    )
    assert [(e.price_id, e.mode, e.tokens_per_unit) for e in catalogue.entries] == [
        ("price_big", "payment", 50),
        ("price_pro", "subscription", 0),
    ]
    with pytest.raises(ValueError):
        build_catalogue(BillingSettings(_env_file=None, billing_catalogue='[{"price_id": "p", "mode": "payment"}]'))

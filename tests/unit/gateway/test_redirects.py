"""The redirect rule (service_kit/redirects.py) as the gateway and billing apply it: one table, the same answers."""

from __future__ import annotations

import pytest

from billing_service.domain import validation as billing_validation
from billing_service.domain.errors import InvalidArgument
from gateway.redirects import redirect_problem

ALLOWED = ["http://localhost:3000", "https://app.example.com", "http://127.0.0.1:8080/"]

CASES = [
    ("http://localhost:3000/paid?session_id={CHECKOUT_SESSION_ID}", None),
    ("http://LOCALHOST:3000/", None),
    ("https://app.example.com/account", None),
    ("https://app.example.com:443/account", None),
    ("http://127.0.0.1:8080/success", None),
    ("http://localhost:3001/", "REDIRECT_NOT_ALLOWED"),
    ("https://localhost:3000/", "REDIRECT_NOT_ALLOWED"),
    ("http://app.example.com/", "REDIRECT_NOT_ALLOWED"),
    ("https://app.example.com.evil.example/", "REDIRECT_NOT_ALLOWED"),
    ("https://evil.example/?next=https://app.example.com", "REDIRECT_NOT_ALLOWED"),
    ("http://user:pw@localhost:3000/", "INVALID_FIELD"),
    ("//localhost:3000/", "INVALID_FIELD"),
    ("/relative", "INVALID_FIELD"),
    ("javascript:alert(1)", "INVALID_FIELD"),
    ("http://localhost:3000/a b", "INVALID_FIELD"),
    ("http:\\\\localhost:3000\\", "INVALID_FIELD"),
    ("http://localhost:99999/", "INVALID_FIELD"),
    ("http://localhost:3000/" + "a" * 2100, "INVALID_FIELD"),
]


def _billing_reason(url: str) -> str | None:
    try:
        billing_validation.redirect_url(url, "success_url", ALLOWED)
    except InvalidArgument as exc:
        return exc.reason
    return None


@pytest.mark.parametrize("url, reason", CASES)
def test_gateway_and_billing_agree(url: str, reason: str | None) -> None:
    problem = redirect_problem(url, ALLOWED)
    assert (problem[0] if problem else None) == reason
    assert _billing_reason(url) == reason


def test_settings_read_the_same_variable_as_billing(monkeypatch: pytest.MonkeyPatch) -> None:
    from billing_service.settings import BillingSettings
    from gateway.settings import GatewaySettings

    monkeypatch.setenv("ALLOWED_REDIRECT_ORIGINS", "http://localhost:3000, https://app.example.com")
    gateway = GatewaySettings(_env_file=None)
    assert gateway.allowed_redirect_origins == ["http://localhost:3000", "https://app.example.com"]
    assert gateway.allowed_redirect_origins == BillingSettings(_env_file=None).allowed_redirect_origins
    # No BILLING_PORTAL_RETURN_URL: the first allowed origin.
    assert gateway.billing_portal_return_url == "http://localhost:3000/"
    monkeypatch.setenv("ALLOWED_REDIRECT_ORIGINS", '["https://app.example.com"]')
    assert GatewaySettings(_env_file=None).allowed_redirect_origins == ["https://app.example.com"]


def test_a_portal_return_url_outside_the_allowed_origins_is_refused_at_start_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pydantic import ValidationError

    from gateway.settings import GatewaySettings

    monkeypatch.setenv("ALLOWED_REDIRECT_ORIGINS", "https://app.example.com")
    monkeypatch.setenv("BILLING_PORTAL_RETURN_URL", "https://app.example.com/account")
    assert GatewaySettings(_env_file=None).billing_portal_return_url == "https://app.example.com/account"
    monkeypatch.setenv("BILLING_PORTAL_RETURN_URL", "https://evil.example/")
    with pytest.raises(ValidationError, match="BILLING_PORTAL_RETURN_URL"):
        GatewaySettings(_env_file=None)

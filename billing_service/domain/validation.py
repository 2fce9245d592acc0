"""Input checks for billing requests. Every violation names its field."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from billing_service.domain.errors import InvalidArgument
from service_kit.redirects import redirect_problem
from tokens import contract_rules as limits

SESSION_ID_PLACEHOLDER = "{CHECKOUT_SESSION_ID}"


def _printable(value: str) -> bool:
    return all(ch.isprintable() and not ch.isspace() for ch in value)


def uid(value: str, field: str = "uid") -> str:
    if not value:
        raise InvalidArgument(field, "is required")
    if len(value) > limits.UID_MAX_LEN:
        raise InvalidArgument(field, f"must be at most {limits.UID_MAX_LEN} characters")
    if "/" in value or not all(ch.isprintable() for ch in value) or value.strip() != value:
        raise InvalidArgument(field, "must not contain '/', control characters or surrounding spaces")
    return value


def stripe_id(value: str, field: str) -> str:
    if not value:
        raise InvalidArgument(field, "is required")
    if len(value) > limits.STRIPE_ID_MAX_LEN or not _printable(value) or "/" in value:
        raise InvalidArgument(field, "is not a Stripe id")
    return value


def request_id(value: str, field: str = "request_id") -> str:
    if len(value) > limits.REQUEST_ID_MAX_LEN:
        raise InvalidArgument(field, f"must be at most {limits.REQUEST_ID_MAX_LEN} characters")
    if value and not _printable(value):
        raise InvalidArgument(field, "must not contain spaces or control characters")
    return value


def redirect_url(value: str, field: str, allowed_origins: list[str]) -> str:
    """An absolute http(s) URL whose scheme, host and port equal one allowed origin exactly (the shared rule)."""
    problem = redirect_problem(value, allowed_origins)
    if problem is not None:
        reason, message = problem
        raise InvalidArgument(field, message, reason=reason)
    return value


def with_session_placeholder(url: str) -> str:
    """Checkout replaces {CHECKOUT_SESSION_ID} in success_url; add it as a query parameter if missing."""
    if SESSION_ID_PLACEHOLDER in url:
        return url
    parts = urlsplit(url)
    query = f"{parts.query}&" if parts.query else ""
    return urlunsplit(parts._replace(query=f"{query}session_id={SESSION_ID_PLACEHOLDER}"))

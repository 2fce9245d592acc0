"""Where the browser may be sent back to (Checkout's success_url/cancel_url, the billing portal's return_url):
an absolute http(s) URL whose scheme, host and port equal one of ALLOWED_REDIRECT_ORIGINS exactly.

Billing enforces the same rule (billing_service/domain/validation.py, which the gateway image does not ship);
the gateway checks first so the browser gets a 422 naming the field. tests/unit/gateway/test_redirects.py runs
both implementations over one table, so they cannot drift apart.
"""

from __future__ import annotations

from urllib.parse import urlsplit

MAX_URL_LEN = 2048
_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(url: str) -> str | None:
    """scheme://host:port with the port always spelled out, or None when the URL has no usable origin."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname or parts.username is not None or parts.password is not None:
        return None
    return f"{scheme}://{parts.hostname.lower()}:{port or _DEFAULT_PORTS[scheme]}"


def redirect_problem(url: str, allowed_origins: list[str]) -> tuple[str, str] | None:
    """(reason, message) when `url` may not be used as a redirect; None when it may."""
    if len(url) > MAX_URL_LEN:
        return "INVALID_FIELD", f"must be at most {MAX_URL_LEN} characters"
    if not all(ch.isprintable() and not ch.isspace() for ch in url) or "\\" in url:
        return "INVALID_FIELD", "must not contain spaces, backslashes or control characters"
    origin = origin_of(url)
    if origin is None:
        return "INVALID_FIELD", "must be an absolute http(s) URL without credentials"
    if origin not in {o for o in (origin_of(a) for a in allowed_origins) if o}:
        return "REDIRECT_NOT_ALLOWED", "is not under an allowed redirect origin (ALLOWED_REDIRECT_ORIGINS)"
    return None


def redirect_allowed(url: str, allowed_origins: list[str]) -> bool:
    return redirect_problem(url, allowed_origins) is None


def require_redirect(url: str, field: str, allowed_origins: list[str]) -> str:
    """`url`, or a 422 naming `field` (the same answer billing would give, earlier)."""
    from gateway.errors import api_error  # errors -> settings -> this module: import when needed

    problem = redirect_problem(url, allowed_origins)
    if problem is not None:
        reason, message = problem
        raise api_error(422, f"'{field}' {message}", reason, field)
    return url

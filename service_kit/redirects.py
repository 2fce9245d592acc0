"""Where the browser may be sent back to (Checkout's success_url/cancel_url, the billing portal's return_url):
an absolute http(s) URL whose scheme, host and port equal one of ALLOWED_REDIRECT_ORIGINS exactly.

The one rule, pure (no I/O, no gRPC): billing's domain enforces it and the gateway checks it first, so the
browser gets a 422 naming the field before anything is created.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from tokens import contract_rules as limits

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
    if len(url) > limits.URL_MAX_LEN:
        return "INVALID_FIELD", f"must be at most {limits.URL_MAX_LEN} characters"
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

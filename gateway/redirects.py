"""The gateway's side of the redirect rule (service_kit/redirects.py): a 422 naming the field, the same answer
billing would give, before anything is created."""

from __future__ import annotations

from gateway.errors import api_error
from service_kit.redirects import redirect_problem


def require_redirect(url: str, field: str, allowed_origins: list[str]) -> str:
    """`url`, or a 422 naming `field` (the same answer billing would give, earlier)."""
    problem = redirect_problem(url, allowed_origins)
    if problem is not None:
        reason, message = problem
        raise api_error(422, f"'{field}' {message}", reason, field)
    return url

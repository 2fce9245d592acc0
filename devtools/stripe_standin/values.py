"""Checks for values Stripe validates the same way everywhere: metadata and email addresses."""

from __future__ import annotations

from typing import Any

from .errors import invalid
from .form import to_str


def metadata(value: Any, param: str = "metadata", existing: dict[str, str] | None = None) -> dict[str, str]:
    """Stripe metadata rules: "" unsets all keys, a key set to "" is removed, 50 keys / 40 / 500 chars."""
    result = dict(existing or {})
    if value is None:
        return result
    if value == "":
        return {}
    if not isinstance(value, dict):
        raise invalid(param, f"Invalid object: {param} must be a hash of strings")
    for key, raw in value.items():
        sub = f"{param}[{key}]"
        text = to_str(raw, sub)
        if text == "":
            result.pop(key, None)
            continue
        if len(key) > 40:
            raise invalid(sub, "Metadata keys can have up to 40 characters.")
        if len(text) > 500:
            raise invalid(
                sub,
                f"Metadata values can have up to 500 characters, but you passed in a value that is {len(text)} characters.",
            )
        result[key] = text
    if len(result) > 50:
        raise invalid(param, "You can specify up to 50 keys in metadata.")
    return result


def email_address(value: Any, param: str = "email") -> str | None:
    text = to_str(value, param).strip()
    if not text:
        return None
    if "@" not in text or text.startswith("@") or text.endswith("@"):
        raise invalid(param, f"Invalid email address: {text}", code="email_invalid")
    return text

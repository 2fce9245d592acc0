"""Input limits. Every violation names its field; nothing is written when one is found."""

from __future__ import annotations

from profile_service.domain.errors import InvalidArgument
from tokens import contract_rules as limits

# Firestore refuses document ids over 1500 bytes; a uid is a document id, whatever the character limit says.
MAX_UID_BYTES = 1500
# A ledger sequence number is a signed 64-bit integer in every store (SQLite INTEGER, Firestore integer).
MAX_SEQ = 2**63 - 1


def _printable(value: str) -> bool:
    return all(ch.isprintable() for ch in value)


def uid(value: str, field: str = "uid") -> str:
    if not value:
        raise InvalidArgument(field, "is required")
    if len(value) > limits.UID_MAX_LEN:
        raise InvalidArgument(field, f"must be at most {limits.UID_MAX_LEN} characters")
    if len(value.encode()) > MAX_UID_BYTES:
        raise InvalidArgument(field, f"must be at most {MAX_UID_BYTES} bytes in UTF-8")
    if "/" in value or not _printable(value) or value.strip() != value:
        # '/' would break the Firestore document path; control characters have no business in an id.
        raise InvalidArgument(field, "must not contain '/', control characters or surrounding spaces")
    if value in (".", "..") or (len(value) >= 4 and value.startswith("__") and value.endswith("__")):
        # The same contract on every store: ids Firestore refuses as document ids are refused here.
        raise InvalidArgument(field, "must not be '.', '..' or of the form __name__ (reserved document ids)")
    return value


def idempotency_key(value: str, field: str = "idempotency_key") -> str:
    if not value:
        raise InvalidArgument(field, "is required")
    if len(value) > limits.IDEMPOTENCY_KEY_MAX_LEN:
        raise InvalidArgument(field, f"must be at most {limits.IDEMPOTENCY_KEY_MAX_LEN} characters")
    if not _printable(value):
        raise InvalidArgument(field, "must not contain control characters")
    return value


def amount(value: int, maximum: int, field: str = "amount") -> int:
    if value <= 0:
        raise InvalidArgument(field, "must be greater than 0")
    if value > maximum:
        raise InvalidArgument(field, f"must be at most {maximum}")
    return value


def between(value: int, low: int, high: int, field: str) -> int:
    """A number that may be `low` (0 for most: a capture of nothing, no rollover) up to `high`."""
    if not low <= value <= high:
        raise InvalidArgument(field, f"must be between {low} and {high}")
    return value


def bounded_text(value: str, field: str, maximum: int) -> str:
    if len(value) > maximum:
        raise InvalidArgument(field, f"must be at most {maximum} characters")
    if not _printable(value):
        raise InvalidArgument(field, "must not contain control characters")
    return value


def email(value: str, field: str = "email") -> str:
    bounded_text(value, field, limits.EMAIL_MAX_LEN)
    if value and ("@" not in value or value.strip() != value):
        raise InvalidArgument(field, "must be an email address")
    return value


def source(value: dict[str, str], field: str = "source") -> dict[str, str]:
    if len(value) > limits.SOURCE_MAX_ENTRIES:
        raise InvalidArgument(field, f"must have at most {limits.SOURCE_MAX_ENTRIES} entries")
    for key, item in value.items():
        if not key:
            raise InvalidArgument(field, "keys must not be empty")
        bounded_text(key, f"{field}.{key[: limits.SOURCE_KEY_MAX_LEN]}", limits.SOURCE_KEY_MAX_LEN)
        bounded_text(item, f"{field}.{key}", limits.SOURCE_VALUE_MAX_LEN)
    return dict(value)


def page_size(value: int, field: str = "page_size") -> int:
    if value == 0:
        return limits.HISTORY_PAGE_SIZE_DEFAULT
    if value < 0 or value > limits.HISTORY_PAGE_SIZE_MAX:
        raise InvalidArgument(field, f"must be between 1 and {limits.HISTORY_PAGE_SIZE_MAX}")
    return value

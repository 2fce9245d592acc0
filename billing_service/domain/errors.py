"""Billing's own errors. error_mapping.py turns them (and Stripe's, and the profile service's) into
gRPC statuses in one place."""

from __future__ import annotations


class BillingError(Exception):
    def __init__(self, message: str, field: str | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.reason = reason


class InvalidArgument(BillingError):
    """The caller sent something billing will not act on. Names the field."""

    def __init__(self, field: str, message: str, reason: str = "INVALID_FIELD") -> None:
        super().__init__(f"{field}: {message}", field, reason)


class InvalidWebhook(BillingError):
    """The webhook could not be verified or parsed. Nothing was done."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message, "signature_header" if reason == "INVALID_SIGNATURE" else "payload", reason)


class NotYourSession(BillingError):
    def __init__(self, session_id: str) -> None:
        super().__init__(f"checkout session {session_id!r} belongs to another user", "uid", "SESSION_OWNER_MISMATCH")


class Unattributable(BillingError):
    """A Stripe object that billing cannot tie to a user (no uid in its metadata nor its customer's).
    Answered as an error so the webhook is redelivered and shows up as failing in Stripe's dashboard,
    instead of being acknowledged and silently lost."""

    def __init__(self, what: str) -> None:
        super().__init__(
            f"{what} carries no uid (metadata.uid / client_reference_id / customer metadata.uid)",
            None,
            "UNATTRIBUTED_STRIPE_OBJECT",
        )


class AlreadySubscribed(BillingError):
    """A subscription checkout for a customer whose subscription is still running (double billing)."""

    def __init__(self, subscription_status: str) -> None:
        super().__init__(
            f"price_id: the user already has a subscription ({subscription_status}); manage it in the billing portal",
            "price_id",
            "ALREADY_SUBSCRIBED",
        )


class NoStripeCustomer(BillingError):
    """The user has no Stripe customer yet (never checked out), so there is nothing to manage."""

    def __init__(self) -> None:
        super().__init__("uid: the user has no Stripe customer yet (no checkout so far)", "uid", "NO_STRIPE_CUSTOMER")


class AllowanceOutOfRange(BillingError):
    """A paid subscription invoice whose allowance cannot be granted as configured (too large, or lines
    billing different periods). An error, so the webhook fails visibly and is redelivered once fixed."""

    def __init__(self, invoice_id: str, why: str) -> None:
        super().__init__(f"invoice {invoice_id}: {why}", None, "ALLOWANCE_OUT_OF_RANGE")

"""Every idempotency key billing uses, towards Stripe and towards the profile ledger. A key derived from
a Stripe id makes the effect happen once however often (and however concurrently) it is requested."""

from __future__ import annotations

import hashlib
import json


def checkout_grant(session_id: str) -> str:
    return f"checkout:{session_id}"


def invoice_allowance(invoice_id: str) -> str:
    """A paid subscription invoice's allowance grant: one per invoice, so one per billing period."""
    return f"invoice:{invoice_id}"


def refund_revocation(refund_id: str) -> str:
    return f"refund:{refund_id}"


def refund_reversal(refund_id: str) -> str:
    """The grant giving back what `refund:{refund_id}` took, when the refund failed."""
    return f"refund-reversal:{refund_id}"


def dispute_revocation(dispute_id: str) -> str:
    """One entry per dispute, whichever of its events (created, funds_withdrawn, closed lost) came first."""
    return f"dispute:{dispute_id}"


def dispute_reinstatement(dispute_id: str) -> str:
    """The grant giving back what `dispute:{dispute_id}` took, when the dispute was won."""
    return f"dispute-reinstated:{dispute_id}"


def customer_for_uid(uid: str) -> str:
    return f"customer-for-uid:{uid}"


def customer_for_uid_with_params(uid: str, params: object) -> str:
    """When the first request for this uid used other parameters (another email)."""
    digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]
    return f"{customer_for_uid(uid)}:{digest}"


def replacement_customer(uid: str, missing_customer_id: str) -> str:
    """A new customer for one that Stripe no longer has: racing checkouts create the same one."""
    return f"customer-for-uid:{uid}:replaces:{missing_customer_id}"


def for_replacement_customer(key: str, customer_id: str) -> str:
    """The Stripe request `key` made again on a replacement customer (other parameters, so another key)."""
    return "replaced-customer:" + hashlib.sha256(f"{key}\x00{customer_id}".encode()).hexdigest()


def checkout_session_for_request(uid: str, request_id: str) -> str:
    # Scoped by uid, so one user's request id can never replay another user's session.
    return f"checkout-session:{uid}:{request_id}"


def checkout_session_auto(
    uid: str, price_id: str, mode: str, quantity: int, success_url: str, cancel_url: str, now_s: float
) -> str:
    """Same inputs within the same minute: the same session (a double click), not two."""
    basis = json.dumps([uid, price_id, mode, quantity, success_url, cancel_url, int(now_s // 60)])
    return "checkout-session:auto:" + hashlib.sha256(basis.encode()).hexdigest()

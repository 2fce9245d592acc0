"""Random ids that look like Stripe's (prefix + base62), so code that checks prefixes works."""

from __future__ import annotations

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits

# Body lengths roughly as Stripe issues them.
_LENGTHS = {
    "cus_": 14,
    "cs_test_": 58,
    "pi_": 24,
    "ch_": 24,
    "re_": 24,
    "sub_": 24,
    "si_": 14,
    "evt_": 24,
    "req_": 14,
    "li_": 24,
    "txn_": 24,
    "pm_": 24,
    "price_": 24,
    "prod_": 14,
}


def new_id(prefix: str) -> str:
    n = _LENGTHS.get(prefix, 24)
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(n))

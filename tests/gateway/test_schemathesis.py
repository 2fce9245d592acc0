"""Schemathesis against the gateway's own /openapi.json, with a valid Firebase token, every service real.

All of schemathesis' checks run (not_a_server_error, status_code / content_type / response_schema /
response_headers conformance, positive_data_acceptance, negative_data_rejection, missing_required_header,
ignored_auth, unsupported_method, allow_header_conformance, ...). One expectation is widened, on purpose:
`positive_data_acceptance` also accepts 400, because some well-formed requests are refused by business rules
no JSON Schema can state (a price_id that is not in the catalogue, a page_token that was never issued, a
webhook body whose Stripe signature does not match). Everything else a schema can express, the gateway
validates itself, so a schema-valid request never gets 422, with one exception, also on purpose: redirect URLs
(success_url, cancel_url, return_url) must lie under ALLOWED_REDIRECT_ORIGINS, which is configuration, not
schema, and a URL outside them is refused with 422 naming the field (REDIRECT_NOT_ALLOWED). GET
/v1/profile/events is left out: it is an endless stream (test_profile_events.py covers it).

The figures (cases run / failed per operation) are printed at the end of the module.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from gateway.app import create_app
from gateway.settings import GatewaySettings
from tests.gateway.conftest import SUMMARY_KEY
from tests.gateway.harness import stack_in_thread
from tests.support.firebase_tokens import (
    DEFAULT_PROJECT,
    firebase_claims,
    firebase_issuer,
    generate_key,
    sign_id_token,
)

FUZZ_UID = "fuzz-user-1"
MAX_EXAMPLES = 30
# Schemathesis builds its coverage cases (credentials included) at collection, so the token exists before
# any server does: minted here with a fresh key, whose certificate the fixture then serves locally.
FUZZ_KEY = generate_key()
FUZZ_KID = "fuzz-key"
TOKEN = sign_id_token(
    firebase_claims(DEFAULT_PROJECT, FUZZ_UID, email="fuzz@example.com", expires_in=3 * 3600), FUZZ_KEY, FUZZ_KID
)

STATS: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
STATUSES: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)


@pytest.fixture(scope="module")
def fuzz_gateway(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[str]:
    """The whole stack (threaded); yields the gateway's base URL once the fuzz user has signed up."""
    path = tmp_path_factory.mktemp("fuzz") / "profile.sqlite3"
    with (
        firebase_issuer(DEFAULT_PROJECT, key=FUZZ_KEY, kid=FUZZ_KID) as issuer,
        stack_in_thread(issuer, str(path)) as stack,
    ):
        signed_up = requests.post(
            f"{stack.gateway_url}/v1/profile", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
        )
        assert signed_up.status_code in (200, 201), signed_up.text
        yield stack.gateway_url
    total = sum(c["cases"] for c in STATS.values())
    failed = sum(c["failed"] for c in STATS.values())
    lines = [
        f"schemathesis: {total} cases run, {failed} failed ({len(STATS)} operations, all checks, "
        f"max {MAX_EXAMPLES} examples per phase)"
    ] + [
        f"  {op}: {c['cases']} cases, {c['failed']} failed, statuses {dict(sorted(STATUSES[op].items()))}"
        for op, c in sorted(STATS.items())
    ]
    # Shown in pytest's terminal summary (tests/gateway/conftest.py), whatever the capture mode.
    request.config.stash.setdefault(SUMMARY_KEY, []).extend(lines)


POSITIVE_DEFAULT = ["2xx", "3xx", "401", "403", "404", "409", "429"]
BUSINESS_RULE_400 = {
    "POST /v1/checkout-sessions": "price_id must be in billing's catalogue (UNKNOWN_PRICE) and match its mode",
    "GET /v1/profile/token-history": "page_token must be one the service issued to this user",
    "PATCH /v1/profile": "display_name must be printable text (the profile service's rule)",
    "POST /v1/stripe/webhook": "the body must carry Stripe's valid signature",
}

# Schema-valid strings that are not under ALLOWED_REDIRECT_ORIGINS: 422 naming the field.
REDIRECT_RULE_422 = {
    "POST /v1/checkout-sessions": "success_url and cancel_url must lie under ALLOWED_REDIRECT_ORIGINS",
    "POST /v1/billing-portal-sessions": "return_url must lie under ALLOWED_REDIRECT_ORIGINS",
}

# The description is the app's own; it does not depend on the services, so it is loaded at collection
# (schemathesis.pytest.from_fixture fails under pytest 9: 'Function' object has no attribute '_nodeid').
CONFIG = SchemathesisConfig.from_dict(
    {
        "request-timeout": 20,
        "generation": {"max-examples": MAX_EXAMPLES},
        "phases": {"stateful": {"enabled": False}},
        "auth": {"openapi": {"FirebaseIdToken": {"bearer": TOKEN}}},
        # Default expectations everywhere, except where a business rule can refuse schema-valid input with 400.
        "operations": [
            {
                "include-name": name,
                "checks": {
                    "positive_data_acceptance": {
                        "expected-statuses": [
                            *POSITIVE_DEFAULT,
                            *(["400"] if name in BUSINESS_RULE_400 else []),
                            *(["422"] if name in REDIRECT_RULE_422 else []),
                        ]
                    }
                },
            }
            for name in sorted({*BUSINESS_RULE_400, *REDIRECT_RULE_422})
        ],
    }
)
schema = schemathesis.openapi.from_dict(
    create_app(GatewaySettings(_env_file=None, app_env="local")).openapi(), config=CONFIG
).exclude(path="/v1/profile/events")


@schema.parametrize()
@settings(deadline=None, database=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_gateway_conforms_to_its_openapi(case, fuzz_gateway: str) -> None:
    operation = case.operation.label
    STATS[operation]["cases"] += 1
    try:
        response = case.call_and_validate(base_url=fuzz_gateway)
    except BaseException:  # schemathesis' FailureGroup is a BaseExceptionGroup
        STATS[operation]["failed"] += 1
        raise
    STATUSES[operation][response.status_code] += 1

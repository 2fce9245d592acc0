"""RATE_LIMIT_WRITES: one signed-in user's writes are limited per user (all write routes together); over the
limit the gateway answers 429 RESOURCE_EXHAUSTED / RATE_LIMITED with Retry-After before anything reaches
billing, so nothing more is created at Stripe than the requests that succeeded."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gateway.settings import GatewaySettings
from tests.gateway.observed_stack import observed_stack
from tests.support.firebase_tokens import FirebaseTestIssuer

ONE_TIME = {"price_id": "price_onetime_5_tokens", "mode": "payment"}
LIMIT = 5


async def test_sixty_concurrent_checkouts_of_one_user_create_at_most_the_limit(
    tmp_path: Path, firebase: FirebaseTestIssuer, uid: str
) -> None:
    async with observed_stack(tmp_path, firebase, rate_limit_writes=f"{LIMIT}/minute") as stack:
        before = (await stack.standin.state())["counts"].get("checkout_sessions", 0)
        headers = stack.auth(uid)
        answers = await asyncio.gather(
            *(stack.client.post("/v1/checkout-sessions", json=ONE_TIME, headers=headers) for _ in range(60))
        )
        created = [a for a in answers if a.status_code == 201]
        refused = [a for a in answers if a.status_code == 429]
        assert len(created) == LIMIT and len(refused) == 60 - LIMIT, sorted(a.status_code for a in answers)
        for answer in refused:
            assert 1 <= int(answer.headers["Retry-After"]) <= 60
            assert answer.json()["error"]["code"] == "RESOURCE_EXHAUSTED"
            assert answer.json()["error"]["reason"] == "RATE_LIMITED"
        # The stand-in holds exactly the sessions that were answered 201.
        after = (await stack.standin.state())["counts"].get("checkout_sessions", 0)
        assert after - before == LIMIT
        assert len({a.json()["id"] for a in created}) == LIMIT

        # The limit is this user's, and covers every write route: the profile update is refused too.
        patched = await stack.client.patch("/v1/profile", json={"display_name": "x"}, headers=headers)
        assert patched.status_code == 429 and "Retry-After" in patched.headers
        other = await stack.client.post("/v1/checkout-sessions", json=ONE_TIME, headers=stack.auth(uid + "-other"))
        assert other.status_code == 201
        # Reads are not limited.
        assert (await stack.client.get("/v1/profile", headers=headers)).status_code == 200


def test_the_limit_is_validated_at_start_up(firebase: FirebaseTestIssuer) -> None:
    with pytest.raises(ValueError, match="RATE_LIMIT_WRITES|rate_limit_writes"):
        GatewaySettings(_env_file=None, rate_limit_writes="ten a minute")
    with pytest.raises(ValueError, match="rate_limit_storage_uri"):
        GatewaySettings(_env_file=None, rate_limit_storage_uri="nosuch://x")
    assert GatewaySettings(_env_file=None, rate_limit_writes="").rate_limit_writes == ""
    assert GatewaySettings(_env_file=None).rate_limit_writes == "20/minute"

"""/v1/profile against the real profile service: sign-up, the UserProfileData shape, the read-only PATCH
rules (defect 5: the browser cannot set its tokens) and token history."""

from __future__ import annotations

import pytest

from gateway.schemas import READ_ONLY_PROFILE_FIELDS
from tests.gateway.conftest import ProfileGateway
from tokens.profile.v1 import profile_service_pb2 as pb

PROFILE_FIELDS = {
    "uid",
    "email",
    "created_at",
    "last_login",
    "stripe_customer_id",
    "has_access",
    "one_time_purchase",
    "tokens",
    "purchase_date",
    "product_id",
    "price_id",
    "subscription_status",
    "current_period_end",
    "display_name",
    # Beyond the original app's fields: the parts of the balance.
    "available_tokens",
    "held_tokens",
    "debt",
    "next_expiry_amount",
    "next_expiry_time",
}


async def test_sign_up_is_idempotent_and_returns_user_profile_data(profile_gateway: ProfileGateway, uid: str) -> None:
    gw = profile_gateway
    first = await gw.client.post("/v1/profile", headers=gw.auth(uid, email="new@example.com"))
    assert first.status_code == 201
    body = first.json()
    assert set(body) == PROFILE_FIELDS
    assert body["uid"] == uid and body["email"] == "new@example.com"
    assert body["tokens"] == 0 and body["has_access"] is False and body["one_time_purchase"] is False
    assert (body["available_tokens"], body["held_tokens"], body["debt"], body["next_expiry_amount"]) == (0, 0, 0, 0)
    assert body["next_expiry_time"] is None
    assert body["created_at"].endswith("Z") and body["stripe_customer_id"] is None

    again = await gw.client.post("/v1/profile", headers=gw.auth(uid, email="changed@example.com"))
    assert again.status_code == 200
    assert again.json()["created_at"] == body["created_at"]
    # Sign-in refreshes last_login and follows an email change made at the identity provider.
    assert again.json()["last_login"] >= body["last_login"]
    assert again.json()["email"] == "changed@example.com"

    fetched = await gw.client.get("/v1/profile", headers=gw.auth(uid))
    assert fetched.status_code == 200 and fetched.json() == again.json()


async def test_get_before_sign_up_is_404(profile_gateway: ProfileGateway, uid: str) -> None:
    response = await profile_gateway.client.get("/v1/profile", headers=profile_gateway.auth(uid))
    assert response.status_code == 404
    assert response.json()["error"] == {
        "code": "NOT_FOUND",
        "message": response.json()["error"]["message"],
        "reason": "PROFILE_NOT_FOUND",
        "field": "uid",
    }


@pytest.mark.parametrize("field", sorted(READ_ONLY_PROFILE_FIELDS))
async def test_patch_refuses_read_only_fields(profile_gateway: ProfileGateway, uid: str, field: str) -> None:
    gw = profile_gateway
    await gw.client.post("/v1/profile", headers=gw.auth(uid))
    value = {"tokens": 1_000_000, "has_access": True, "one_time_purchase": True}.get(field, "x")
    response = await gw.client.patch("/v1/profile", json={"display_name": "ok", field: value}, headers=gw.auth(uid))
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["reason"] == "READ_ONLY_FIELD"
    assert error["field"] == field
    assert f"'{field}' is read-only" in error["message"]
    # Nothing changed, not even the allowed field sent alongside.
    profile = (await gw.profile.stub.GetProfile(pb.GetProfileRequest(uid=uid))).profile
    assert profile.tokens == 0 and not profile.has_access and not profile.one_time_purchase
    assert profile.display_name == ""


async def test_patch_names_every_read_only_field(profile_gateway: ProfileGateway, uid: str) -> None:
    gw = profile_gateway
    await gw.client.post("/v1/profile", headers=gw.auth(uid))
    response = await gw.client.patch(
        "/v1/profile", json={"tokens": 5, "has_access": True, "one_time_purchase": True}, headers=gw.auth(uid)
    )
    assert response.status_code == 422
    message = response.json()["error"]["message"]
    for field in ("tokens", "has_access", "one_time_purchase"):
        assert f"'{field}' is read-only" in message


@pytest.mark.parametrize(
    "body, reason, field",
    [
        ({"nickname": "x"}, "UNKNOWN_FIELD", "nickname"),
        ({"display_name": "ok", "Tokens": 5}, "UNKNOWN_FIELD", "Tokens"),
        ({}, "INVALID_FIELD", None),
        ({"display_name": 5}, "INVALID_FIELD", "display_name"),
        ({"display_name": "x" * 201}, "INVALID_FIELD", "display_name"),
        ([{"display_name": "x"}], "INVALID_FIELD", None),
    ],
)
async def test_patch_rejects_unknown_fields_and_bad_values(
    profile_gateway: ProfileGateway, uid: str, body, reason: str, field: str | None
) -> None:
    gw = profile_gateway
    await gw.client.post("/v1/profile", headers=gw.auth(uid))
    response = await gw.client.patch("/v1/profile", json=body, headers=gw.auth(uid))
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "INVALID_ARGUMENT" and error["reason"] == reason
    assert error.get("field") == field
    if reason == "UNKNOWN_FIELD":
        assert f"unknown field '{field}'" in error["message"]


async def test_patch_display_name_set_and_clear(profile_gateway: ProfileGateway, uid: str) -> None:
    gw = profile_gateway
    await gw.client.post("/v1/profile", headers=gw.auth(uid))
    named = await gw.client.patch("/v1/profile", json={"display_name": "Ada"}, headers=gw.auth(uid))
    assert named.status_code == 200 and named.json()["display_name"] == "Ada"
    cleared = await gw.client.patch("/v1/profile", json={"display_name": None}, headers=gw.auth(uid))
    assert cleared.status_code == 200 and cleared.json()["display_name"] is None
    # The profile service's own rules come back as 400 with the field named.
    control = await gw.client.patch("/v1/profile", json={"display_name": "a\u0000b"}, headers=gw.auth(uid))
    assert control.status_code == 400 and control.json()["error"]["field"] == "profile.display_name"


async def test_patch_without_a_profile_is_404(profile_gateway: ProfileGateway, uid: str) -> None:
    response = await profile_gateway.client.patch(
        "/v1/profile", json={"display_name": "x"}, headers=profile_gateway.auth(uid)
    )
    assert response.status_code == 404


async def test_token_history_pages_newest_first(profile_gateway: ProfileGateway, uid: str) -> None:
    gw = profile_gateway
    await gw.client.post("/v1/profile", headers=gw.auth(uid))
    empty = await gw.client.get("/v1/profile/token-history", headers=gw.auth(uid))
    assert empty.status_code == 200 and empty.json() == {"entries": [], "next_page_token": None}

    for n, amount in enumerate([5, 3, 2]):
        await gw.profile.stub.GrantTokens(
            pb.GrantTokensRequest(
                uid=uid,
                amount=amount,
                type=pb.TOKEN_ENTRY_TYPE_PURCHASE,
                idempotency_key=f"k{n}",
                source={"checkout_session": f"cs_{n}"},
            )
        )
    await gw.profile.stub.SpendTokens(pb.SpendTokensRequest(uid=uid, amount=4, idempotency_key="s1", reason="report"))

    seen = []
    token = None
    while True:
        params = {"page_size": 3} | ({"page_token": token} if token else {})
        page = await gw.client.get("/v1/profile/token-history", params=params, headers=gw.auth(uid))
        assert page.status_code == 200, page.text
        seen.extend(page.json()["entries"])
        token = page.json()["next_page_token"]
        if token is None:
            break
    assert [(e["amount"], e["type"], e["balance_after"]) for e in seen] == [
        (-4, "spend", 6),
        (2, "purchase", 10),
        (3, "purchase", 8),
        (5, "purchase", 5),
    ]
    assert seen[0]["reason"] == "report"
    assert seen[-1]["source"] == {"checkout_session": "cs_0"}
    assert all(e["timestamp"].endswith("Z") and e["entry_id"] for e in seen)
    balance = (await gw.client.get("/v1/profile", headers=gw.auth(uid))).json()["tokens"]
    assert balance == 6


@pytest.mark.parametrize("query", ["page_size=0", "page_size=101", "page_size=abc", "page_token=" + "x" * 513])
async def test_token_history_query_validation(profile_gateway: ProfileGateway, uid: str, query: str) -> None:
    response = await profile_gateway.client.get(f"/v1/profile/token-history?{query}", headers=profile_gateway.auth(uid))
    assert response.status_code == 422
    assert response.json()["error"]["field"] in ("page_size", "page_token")

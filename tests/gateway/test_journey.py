"""The whole path, every piece real: gateway (uvicorn) -> profile + billing (gRPC) -> Stripe stand-in, whose
signed webhook comes back through the gateway's /v1/stripe/webhook."""

from __future__ import annotations

from urllib.parse import urlsplit

from tests.gateway.conftest import FullStack
from tokens.profile.v1 import profile_service_pb2 as pb

ONE_TIME_PRICE = "price_onetime_5_tokens"


async def test_sign_up_buy_and_see_five_tokens(full_stack: FullStack, uid: str) -> None:
    stack = full_stack
    auth = stack.auth(uid, email="buyer@example.com")

    signed_up = await stack.client.post("/v1/profile", headers=auth)
    assert signed_up.status_code == 201
    before = await stack.client.get("/v1/profile", headers=auth)
    assert before.status_code == 200 and before.json()["tokens"] == 0

    prices = await stack.client.get("/v1/prices", headers=auth)
    assert prices.status_code == 200
    listed = {p["price_id"]: p for p in prices.json()["prices"]}
    assert listed[ONE_TIME_PRICE]["mode"] == "payment" and listed[ONE_TIME_PRICE]["tokens_per_unit"] == 5

    checkout = await stack.client.post(
        "/v1/checkout-sessions",
        json={"price_id": ONE_TIME_PRICE, "mode": "payment"},
        headers={**auth, "Idempotency-Key": "buy-1"},
    )
    assert checkout.status_code == 201, checkout.text
    session = checkout.json()
    assert set(session) == {"id", "url"} and session["id"] and urlsplit(session["url"]).scheme in ("http", "https")
    assert checkout.headers["location"] == f"/v1/checkout-sessions/{session['id']}"

    pending = await stack.client.get(f"/v1/checkout-sessions/{session['id']}", headers=auth)
    assert pending.status_code == 200
    assert pending.json() | {"balance": 0} == {
        "id": session["id"],
        "status": "pending",
        "payment_status": "unpaid",
        "tokens_granted": 0,
        "balance": 0,
    }

    # The customer pays; the stand-in signs checkout.session.completed and POSTs it to the gateway.
    completed = await stack.standin.complete_session(session["id"], "paid", wait=True)
    (delivery,) = completed["deliveries"]
    assert delivery["status"] == "delivered"
    assert [(a["url"], a["status_code"]) for a in delivery["attempts"]] == [(f"{stack.url}/v1/stripe/webhook", 200)]

    after = await stack.client.get("/v1/profile", headers=auth)
    assert after.json()["tokens"] == 5
    assert after.json()["one_time_purchase"] is True
    history = await stack.client.get("/v1/profile/token-history", headers=auth)
    entries = history.json()["entries"]
    assert len(entries) == 1
    assert entries[0]["amount"] == 5 and entries[0]["type"] == "purchase" and entries[0]["balance_after"] == 5
    assert history.json()["next_page_token"] is None

    # The success page's call takes the same exactly-once path: no second grant.
    status = await stack.client.get(f"/v1/checkout-sessions/{session['id']}", headers=auth)
    assert status.status_code == 200
    assert status.json()["status"] == "fulfilled" and status.json()["balance"] == 5
    assert status.json()["payment_status"] == "paid"
    # Stripe redelivers: still 5.
    events = await stack.standin.events()
    completed_events = [e for e in events if e["type"] == "checkout.session.completed"]
    await stack.standin.redeliver(completed_events[0]["id"], wait=True)
    assert (await stack.client.get("/v1/profile", headers=auth)).json()["tokens"] == 5
    ledger = await stack.profile.stub.ListTokenHistory(pb.ListTokenHistoryRequest(uid=uid))
    assert len(ledger.entries) == 1

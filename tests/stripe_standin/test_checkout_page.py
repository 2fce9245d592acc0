"""The hosted checkout page: what a browser sees and what the Pay button does."""

from __future__ import annotations

import httpx
import stripe

from .conftest import Standin, WebhookReceiver

SUCCESS = "https://app.example/success?session_id={CHECKOUT_SESSION_ID}"


async def new_session(standin: Standin) -> stripe.checkout.Session:
    return await standin.client.v1.checkout.sessions.create_async(
        {
            "mode": "payment",
            "line_items": [{"price": "price_onetime_5_tokens", "quantity": 3}],
            "success_url": SUCCESS,
            "cancel_url": "https://app.example/cancel?x=1&y=2",
            "customer_email": "page@example.com",
        }
    )


async def test_page_shows_items_total_pay_button_and_cancel_link(standin: Standin) -> None:
    session = await new_session(standin)
    assert session.url
    async with httpx.AsyncClient() as http:
        page = await http.get(session.url)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    assert '<button id="pay"' in html
    assert "5 tokens" in html and "$15.00" in html
    assert 'href="https://app.example/cancel?x=1&amp;y=2"' in html
    assert f'action="/checkout/{session.id}/pay"' in html


async def test_pay_completes_delivers_webhook_then_redirects(standin: Standin, receiver: WebhookReceiver) -> None:
    session = await new_session(standin)
    async with httpx.AsyncClient(base_url=standin.url) as http:
        resp = await http.post(f"/checkout/{session.id}/pay", data={"email": "page@example.com"})
        assert resp.status_code == 303
        assert resp.headers["location"] == f"https://app.example/success?session_id={session.id}"
        # The webhook arrived before the redirect, so a success page can already see the result.
        assert [e.type for e in receiver.events()] == ["checkout.session.completed"]

        done = await standin.client.v1.checkout.sessions.retrieve_async(session.id)
        assert (done.status, done.payment_status) == ("complete", "paid")
        assert done.customer_details and done.customer_details.email == "page@example.com"

        again = await http.get(f"/checkout/{session.id}")
        assert again.status_code == 200 and 'id="pay"' not in again.text
        assert "completed" in again.text
        second = await http.post(f"/checkout/{session.id}/pay")
        assert second.status_code == 400


async def test_expired_and_unknown_sessions(standin: Standin) -> None:
    session = await new_session(standin)
    await standin.client.v1.checkout.sessions.expire_async(session.id)
    async with httpx.AsyncClient(base_url=standin.url) as http:
        page = await http.get(f"/checkout/{session.id}")
        assert "expired" in page.text and 'id="pay"' not in page.text
        assert (await http.get("/checkout/cs_test_missing")).status_code == 404


async def test_email_is_prefilled_from_customer_email_or_the_customer(standin: Standin) -> None:
    by_email = await new_session(standin)
    customer = await standin.client.v1.customers.create_async({"email": "buyer@example.com"})
    by_customer = await standin.client.v1.checkout.sessions.create_async(
        {
            "mode": "payment",
            "line_items": [{"price": "price_onetime_5_tokens", "quantity": 1}],
            "success_url": SUCCESS,
            "customer": customer.id,
        }
    )
    async with httpx.AsyncClient() as http:
        for session, email in ((by_email, "page@example.com"), (by_customer, "buyer@example.com")):
            assert session.url
            html = (await http.get(session.url)).text
            assert f'name="email" type="email" autocomplete="email" value="{email}"' in html
            assert '<meta name="viewport"' in html and '<link rel="stylesheet"' not in html  # no external assets

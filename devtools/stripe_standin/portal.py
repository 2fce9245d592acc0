"""The customer billing portal: `POST /v1/billing_portal/sessions` returns a URL to a stand-in page that
lists the customer's subscriptions and can cancel them (emitting customer.subscription.deleted, as the
real portal does), with a link back to return_url."""

from __future__ import annotations

from html import escape
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from . import objects, subscriptions
from .checkout_page import page, page_message
from .errors import StripeError, no_such
from .form import to_str
from .ids import new_id
from .runtime import SYSTEM, Standin

PORTAL_CONFIGURATION = "bpc_standin_default"


def create_portal_session(sd: Standin, params: dict[str, Any]) -> dict[str, Any]:
    customer_id = params.get("customer")
    if not customer_id:
        raise StripeError(400, "Missing required param: customer.", code="parameter_missing", param="customer")
    if customer_id not in sd.store.customers:
        raise no_such("customer", str(customer_id), param="customer", status=400)
    return_url = to_str(params["return_url"], "return_url") if params.get("return_url") else None
    if return_url is not None and not return_url.startswith(("http://", "https://")):
        raise StripeError(400, "Not a valid URL", code="url_invalid", param="return_url")
    session_id = new_id("bps_")
    session = objects.portal_session(
        session_id,
        sd.store.now(),
        customer=str(customer_id),
        return_url=return_url,
        url=f"{sd.public_url}/portal/{session_id}",
        configuration=str(params.get("configuration") or PORTAL_CONFIGURATION),
    )
    sd.store.portal_sessions[session_id] = session
    return session


def _portal_or_none(sd: Standin, session_id: str) -> dict[str, Any] | None:
    return sd.store.portal_sessions.get(session_id)


async def show(request: Request) -> Response:
    sd: Standin = request.app.state.standin
    session_id = request.path_params["id"]
    session = _portal_or_none(sd, session_id)
    if session is None:
        return page_message("Not found", "This billing portal page does not exist.", 404)
    subs = [s for s in sd.store.subscriptions.values() if s["customer"] == session["customer"]]
    rows = "".join(
        f'<tr class="subscription" id="{escape(s["id"], quote=True)}"><td>{escape(s["id"])}</td>'
        f'<td class="status">{escape(s["status"])}</td><td>'
        + (
            f'<form method="post" action="/portal/{escape(session_id, quote=True)}/subscriptions/'
            f'{escape(s["id"], quote=True)}/cancel"><button class="cancel" type="submit">Cancel subscription</button>'
            "</form>"
            if s["status"] not in ("canceled", "incomplete_expired")
            else ""
        )
        + "</td></tr>"
        for s in subs
    )
    back = (
        f'<p><a id="return" href="{escape(session["return_url"], quote=True)}">Return</a></p>'
        if session["return_url"]
        else ""
    )
    content = f"""<h1>Billing portal</h1>
<table id="subscriptions">{rows or '<tr><td id="none">No subscriptions.</td></tr>'}</table>
{back}"""
    return page("Billing portal", content)


async def cancel(request: Request) -> Response:
    sd: Standin = request.app.state.standin
    session_id, sub_id = request.path_params["id"], request.path_params["sub_id"]
    session = _portal_or_none(sd, session_id)
    sub = sd.store.subscriptions.get(sub_id)
    if session is None or sub is None or sub["customer"] != session["customer"]:
        return page_message("Not found", "This subscription is not managed by this portal session.", 404)
    try:
        _, event_id = subscriptions.cancel_subscription(
            sd, sub_id, {"cancellation_details": {"comment": "canceled in the billing portal"}}, SYSTEM
        )
    except StripeError as err:
        return page_message("Cannot cancel", err.message, 400)
    await sd.webhooks.wait([event_id], sd.settings.wait_timeout_s)
    return RedirectResponse(f"/portal/{session_id}", status_code=303)


def portal_routes() -> list[Route]:
    return [
        Route("/portal/{id}", show, methods=["GET"]),
        Route("/portal/{id}/subscriptions/{sub_id}/cancel", cancel, methods=["POST"]),
    ]

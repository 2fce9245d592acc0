"""The /v1 Stripe API routes: auth, form decoding, parameter checks, idempotency, expansion."""

from __future__ import annotations

import base64
import copy
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import stripe.params as P
import stripe.params.billing_portal as PB
import stripe.params.checkout as PC
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import catalog, checkout, customers, disputes, events, invoices, portal, refunds, subscriptions
from .errors import StripeError, api_error
from .expand import expand, session_line_items
from .form import decode, parse_pairs
from .idempotency import IdempotencyCache, StoredResponse
from .listing import paginate
from .params import validate
from .responses import error_response, request_id, stripe_json
from .runtime import RequestInfo, Standin
from .search import search

log = logging.getLogger("stripe_standin")

_NO_KEY = (
    "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer "
    "auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for "
    "details, or we can help at https://support.stripe.com/."
)
_ACCEPTED_KEY_PREFIXES = ("sk_test_", "rk_test_")


@dataclass
class ApiCall:
    sd: Standin
    params: dict[str, Any]
    path: dict[str, str]
    info: RequestInfo


Handler = Callable[[ApiCall], dict[str, Any]]


def _authenticate(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    key = ""
    if scheme.lower() == "bearer":
        key = value.strip()
    elif scheme.lower() == "basic":  # Stripe also takes the key as the basic-auth user name
        try:
            key = base64.b64decode(value).decode().partition(":")[0]
        except ValueError:
            key = ""
    if not key:
        raise StripeError(401, _NO_KEY)
    if not key.startswith(_ACCEPTED_KEY_PREFIXES):
        masked = key[:8] + "*" * 4 + key[-4:] if len(key) > 12 else "****"
        raise StripeError(401, f"Invalid API Key provided: {masked}")
    return key


def _execute(call: ApiCall, params_cls: type | None, handler: Handler) -> tuple[Response, bool]:
    """Run a handler; returns (response, whether an idempotency key should keep it)."""
    try:
        validate(call.params, params_cls)
        body = copy.deepcopy(handler(call))
        if call.params.get("expand"):
            expand(call.sd.store, body, call.params["expand"])
        return stripe_json(body), True
    except StripeError as err:
        return error_response(err), False  # failed validation: Stripe does not save these
    except Exception:
        # The endpoint started executing, so Stripe would save (and replay) this 500.
        log.exception("stripe stand-in handler failed")
        return error_response(api_error()), True


def endpoint(params_cls: type | None, handler: Handler) -> Callable[[Request], Any]:
    async def route(request: Request) -> Response:
        sd: Standin = request.app.state.standin
        rid = request_id(request.scope)
        method = request.method
        try:
            api_key = _authenticate(request)
            pairs = parse_pairs(request.url.query)
            if method == "POST":
                pairs += parse_pairs((await request.body()).decode())
            ikey = None
            if method in ("POST", "DELETE"):
                ikey = request.headers.get("idempotency-key") or None
            call = ApiCall(sd, decode(pairs), dict(request.path_params), RequestInfo(rid, ikey))
            if ikey is None:
                return _execute(call, params_cls, handler)[0]
            IdempotencyCache.check_key(ikey)
            name = f"{method} {request.url.path}"
            fingerprint = tuple(sorted(pairs))
            async with sd.idempotency.lock(api_key, ikey):
                stored = sd.idempotency.lookup(api_key, ikey, name, fingerprint)
                if stored is not None:
                    return Response(
                        stored.body,
                        status_code=stored.status,
                        media_type="application/json",
                        headers={"Idempotent-Replayed": "true", "Original-Request": stored.request_id},
                    )
                response, keep = _execute(call, params_cls, handler)
                if keep:
                    sd.idempotency.store(
                        api_key,
                        ikey,
                        StoredResponse(name, fingerprint, response.status_code, bytes(response.body), rid, time.time()),
                    )
                return response
        except StripeError as err:
            return error_response(err)

    return route


# --- handlers ----------------------------------------------------------------------------------


def _get(collection: str) -> Handler:
    return lambda c: c.sd.store.get(collection, c.path["id"])


def _list(url: str, kind: str, items: Callable[[ApiCall], list[dict[str, Any]]]) -> Handler:
    return lambda c: paginate(items(c), c.params, url, kind)


def _create_customer(c: ApiCall) -> dict[str, Any]:
    return customers.create_customer(c.sd, c.params)


def _update_customer(c: ApiCall) -> dict[str, Any]:
    return customers.update_customer(c.sd, c.path["id"], c.params)


def _search_customers(c: ApiCall) -> dict[str, Any]:
    store = c.sd.store
    return search(
        list(store.customers.values()), c.params, "/v1/customers/search", store.now(), c.sd.settings.search_lag_s
    )


def _delete_customer(c: ApiCall) -> dict[str, Any]:
    c.sd.store.get("customers", c.path["id"])
    del c.sd.store.customers[c.path["id"]]
    return {"id": c.path["id"], "object": "customer", "deleted": True}


def _create_session(c: ApiCall) -> dict[str, Any]:
    return checkout.create_session(c.sd, c.params)


def _get_session(c: ApiCall) -> dict[str, Any]:
    return checkout.get_session(c.sd, c.path["id"])


def _session_line_items(c: ApiCall) -> dict[str, Any]:
    checkout.get_session(c.sd, c.path["id"])
    items = session_line_items(c.sd.store, c.path["id"])["data"]
    return paginate(items, c.params, f"/v1/checkout/sessions/{c.path['id']}/line_items", "line_item", False)


def _expire_session(c: ApiCall) -> dict[str, Any]:
    return checkout.expire_session(c.sd, c.path["id"], c.info)


def _update_subscription(c: ApiCall) -> dict[str, Any]:
    return subscriptions.update_subscription(c.sd, c.path["id"], c.params, c.info)[0]


def _cancel_subscription(c: ApiCall) -> dict[str, Any]:
    return subscriptions.cancel_subscription(c.sd, c.path["id"], c.params, c.info)[0]


def _invoice_lines(c: ApiCall) -> dict[str, Any]:
    lines = c.sd.store.get("invoices", c.path["id"])["lines"]["data"]
    return paginate(lines, c.params, f"/v1/invoices/{c.path['id']}/lines", "line_item", False)


def _create_refund(c: ApiCall) -> dict[str, Any]:
    return refunds.create_refund(c.sd, c.params, c.info)[0]


def _create_portal_session(c: ApiCall) -> dict[str, Any]:
    return portal.create_portal_session(c.sd, c.params)


def _active_products(c: ApiCall) -> list[dict[str, Any]]:
    items = list(c.sd.store.products.values())
    if "active" in c.params:
        want = str(c.params["active"]).lower() == "true"
        items = [p for p in items if p["active"] == want]
    return items


def api_routes() -> list[Route]:
    def r(path: str, method: str, params_cls: type | None, handler: Handler) -> Route:
        return Route(path, endpoint(params_cls, handler), methods=[method])

    return [
        r("/v1/customers", "POST", P.CustomerCreateParams, _create_customer),
        r(
            "/v1/customers",
            "GET",
            P.CustomerListParams,
            _list("/v1/customers", "customer", lambda c: customers.list_customers(c.sd, c.params)),
        ),
        r("/v1/customers/search", "GET", P.CustomerSearchParams, _search_customers),
        r("/v1/customers/{id}", "GET", P.CustomerRetrieveParams, _get("customers")),
        r("/v1/customers/{id}", "POST", P.CustomerUpdateParams, _update_customer),
        r("/v1/customers/{id}", "DELETE", P.CustomerDeleteParams, _delete_customer),
        r(
            "/v1/prices",
            "GET",
            P.PriceListParams,
            _list("/v1/prices", "price", lambda c: catalog.list_prices(c.sd, c.params)),
        ),
        r("/v1/prices/{id}", "GET", P.PriceRetrieveParams, _get("prices")),
        r("/v1/products", "GET", P.ProductListParams, _list("/v1/products", "product", _active_products)),
        r("/v1/products/{id}", "GET", P.ProductRetrieveParams, _get("products")),
        r("/v1/checkout/sessions", "POST", PC.SessionCreateParams, _create_session),
        r(
            "/v1/checkout/sessions",
            "GET",
            PC.SessionListParams,
            _list("/v1/checkout/sessions", "checkout.session", lambda c: checkout.list_sessions(c.sd, c.params)),
        ),
        r("/v1/checkout/sessions/{id}", "GET", PC.SessionRetrieveParams, _get_session),
        r("/v1/checkout/sessions/{id}/line_items", "GET", PC.SessionLineItemListParams, _session_line_items),
        r("/v1/checkout/sessions/{id}/expire", "POST", PC.SessionExpireParams, _expire_session),
        r(
            "/v1/subscriptions",
            "GET",
            P.SubscriptionListParams,
            _list("/v1/subscriptions", "subscription", lambda c: subscriptions.list_subscriptions(c.sd, c.params)),
        ),
        r("/v1/subscriptions/{id}", "GET", P.SubscriptionRetrieveParams, _get("subscriptions")),
        r("/v1/subscriptions/{id}", "POST", P.SubscriptionUpdateParams, _update_subscription),
        r("/v1/subscriptions/{id}", "DELETE", P.SubscriptionCancelParams, _cancel_subscription),
        r(
            "/v1/invoices",
            "GET",
            P.InvoiceListParams,
            _list("/v1/invoices", "invoice", lambda c: invoices.list_invoices(c.sd, c.params)),
        ),
        r("/v1/invoices/{id}", "GET", P.InvoiceRetrieveParams, _get("invoices")),
        r("/v1/invoices/{id}/lines", "GET", P.InvoiceLineItemListParams, _invoice_lines),
        r("/v1/payment_intents/{id}", "GET", P.PaymentIntentRetrieveParams, _get("payment_intents")),
        r("/v1/charges/{id}", "GET", P.ChargeRetrieveParams, _get("charges")),
        r("/v1/refunds", "POST", P.RefundCreateParams, _create_refund),
        r(
            "/v1/refunds",
            "GET",
            P.RefundListParams,
            _list("/v1/refunds", "refund", lambda c: refunds.list_refunds(c.sd, c.params)),
        ),
        r("/v1/refunds/{id}", "GET", P.RefundRetrieveParams, _get("refunds")),
        r(
            "/v1/disputes",
            "GET",
            P.DisputeListParams,
            _list("/v1/disputes", "dispute", lambda c: disputes.list_disputes(c.sd, c.params)),
        ),
        r("/v1/disputes/{id}", "GET", P.DisputeRetrieveParams, _get("disputes")),
        r("/v1/billing_portal/sessions", "POST", PB.SessionCreateParams, _create_portal_session),
        r(
            "/v1/events",
            "GET",
            P.EventListParams,
            _list("/v1/events", "event", lambda c: events.list_events(c.sd, c.params)),
        ),
        r("/v1/events/{id}", "GET", P.EventRetrieveParams, _get("events")),
    ]

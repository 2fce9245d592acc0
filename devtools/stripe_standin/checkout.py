"""Checkout Sessions: creation rules, expiry, and completion (what the customer and Stripe do)."""

from __future__ import annotations

import copy
from typing import Any

from . import objects
from .catalog import inline_price, product_name
from .errors import invalid, missing_parameter
from .form import as_list, to_bool, to_int
from .ids import new_id
from .invoices import open_invoice, pay_invoice, void_invoice
from .listing import where_equal
from .runtime import SYSTEM, RequestInfo, Standin
from .store import SessionExtras
from .subscriptions import set_status
from .values import email_address, metadata

SESSION_DURATION_S = 24 * 3600  # Checkout Sessions expire 24 h after creation
MIN_EXPIRY_S = 30 * 60
DEFAULT_EMAIL = "customer@example.com"
OUTCOMES = ("paid", "async_pending", "async_succeeded", "async_failed", "no_payment_required")


def create_session(sd: Standin, params: dict[str, Any]) -> dict[str, Any]:
    store = sd.store
    mode = params.get("mode")
    if mode is None:
        raise missing_parameter("mode")
    if mode not in ("payment", "subscription", "setup"):
        raise invalid("mode", f"Invalid mode: must be one of payment, setup, or subscription (got {mode!r}).")
    if mode == "setup":
        raise invalid("mode", "The Stripe stand-in does not implement setup mode.")
    if params.get("ui_mode", "hosted") != "hosted":
        raise invalid("ui_mode", "The Stripe stand-in implements only ui_mode=hosted.")
    if not params.get("success_url"):
        raise missing_parameter("success_url")
    line_items = params.get("line_items") or []
    if not line_items:
        raise missing_parameter("line_items")

    chosen: list[tuple[dict[str, Any], int, dict[str, Any]]] = []
    for i, li in enumerate(line_items):
        if "price" in li:
            price = store.get("prices", str(li["price"]), param=f"line_items[{i}][price]", status=400)
            if not price["active"]:
                raise invalid(
                    f"line_items[{i}][price]", "The price specified is inactive. This field only accepts active prices."
                )
        elif "price_data" in li:
            price = inline_price(sd, li["price_data"], f"line_items[{i}][price_data]")
        else:
            raise missing_parameter(f"line_items[{i}][price]")
        if "quantity" not in li:
            raise missing_parameter(f"line_items[{i}][quantity]")
        quantity = to_int(li["quantity"], f"line_items[{i}][quantity]")
        if quantity < 1:
            raise invalid(f"line_items[{i}][quantity]", "This value must be greater than or equal to 1.")
        if mode == "payment" and price["type"] == "recurring":
            raise invalid(
                f"line_items[{i}][price]",
                "You specified `payment` mode but passed a recurring price. Either switch to `subscription` mode "
                "or use only one-time prices.",
            )
        chosen.append((price, quantity, li))

    currencies = {p["currency"] for p, _, _ in chosen}
    if len(currencies) > 1:
        raise invalid("line_items", "All prices in a Checkout Session must use the same currency.")
    recurring = [p for p, _, _ in chosen if p["type"] == "recurring"]
    if mode == "subscription":
        if not recurring:
            raise invalid(
                "line_items", "You must provide at least one recurring price in `subscription` mode when using prices."
            )
        if len({(p["recurring"]["interval"], p["recurring"]["interval_count"]) for p in recurring}) > 1:
            raise invalid("line_items", "All recurring prices must have the same billing interval.")

    customer_id = params.get("customer")
    if customer_id:
        store.get("customers", customer_id, param="customer", status=400)
        if params.get("customer_email"):
            raise invalid("customer_email", "You may only specify one of these parameters: customer, customer_email.")
    customer_creation = params.get("customer_creation")
    if customer_creation is not None:
        if customer_creation not in ("always", "if_required"):
            raise invalid("customer_creation", "Invalid customer_creation: must be one of always or if_required")
        if mode != "payment":
            raise invalid("customer_creation", "`customer_creation` can only be used in `payment` mode.")
        if customer_id:
            raise invalid(
                "customer_creation", "You may only specify one of these parameters: customer, customer_creation."
            )
    if "payment_intent_data" in params and mode != "payment":
        raise invalid("payment_intent_data", "You can only specify `payment_intent_data` in `payment` mode.")
    if "subscription_data" in params and mode != "subscription":
        raise invalid("subscription_data", "You can only specify `subscription_data` in `subscription` mode.")
    client_reference_id = params.get("client_reference_id")
    if client_reference_id is not None and len(str(client_reference_id)) > 200:
        raise invalid("client_reference_id", "client_reference_id can be at most 200 characters.")

    now = store.now()
    expires_at = now + SESSION_DURATION_S
    if "expires_at" in params:
        expires_at = to_int(params["expires_at"], "expires_at")
        if not now + MIN_EXPIRY_S <= expires_at <= now + SESSION_DURATION_S:
            raise invalid(
                "expires_at",
                "The `expires_at` timestamp must be at least 30 minutes and at most 24 hours after the Checkout "
                "Session is created.",
            )

    fields: dict[str, Any] = {
        "customer": customer_id or None,
        "customer_email": email_address(params["customer_email"], "customer_email")
        if params.get("customer_email")
        else None,
        "client_reference_id": client_reference_id,
        "metadata": metadata(params.get("metadata")),
        "success_url": params["success_url"],
        "cancel_url": params.get("cancel_url"),
        "customer_creation": customer_creation,
        "payment_method_types": [str(x) for x in as_list(params.get("payment_method_types"))] or ["card"],
    }
    for key in ("locale", "submit_type", "billing_address_collection"):
        if key in params:
            fields[key] = params[key]
    if "allow_promotion_codes" in params:
        fields["allow_promotion_codes"] = to_bool(params["allow_promotion_codes"], "allow_promotion_codes")

    session_id = new_id("cs_test_")
    amount = sum(p["unit_amount"] * q for p, q, _ in chosen)
    session = objects.checkout_session(
        session_id,
        now,
        mode=mode,
        currency=chosen[0][0]["currency"],
        amount=amount,
        url=f"{sd.public_url}/checkout/{session_id}",
        expires_at=expires_at,
        fields=fields,
    )
    extras = SessionExtras(customer_creation=customer_creation)
    for attr in ("payment_intent_data", "subscription_data"):
        data = params.get(attr)
        if isinstance(data, dict):
            data = dict(data)
            data["metadata"] = metadata(data.get("metadata"), f"{attr}[metadata]")
            setattr(extras, attr, data)
    store.sessions[session_id] = session
    store.session_extras[session_id] = extras
    store.line_items[session_id] = [
        objects.line_item(p, q, product_name(sd, p), metadata(li.get("metadata"), f"line_items[{i}][metadata]") or None)
        for i, (p, q, li) in enumerate(chosen)
    ]
    return session


def refresh_session(sd: Standin, session: dict[str, Any]) -> None:
    """Sessions expire on their own after `expires_at`; checked lazily whenever one is touched."""
    if session["status"] == "open" and sd.store.now() >= session["expires_at"]:
        _expire(sd, session, SYSTEM)


def get_session(sd: Standin, session_id: str) -> dict[str, Any]:
    session = sd.store.get("sessions", session_id)
    refresh_session(sd, session)
    return session


def list_sessions(sd: Standin, params: dict[str, Any]) -> list[dict[str, Any]]:
    items = list(sd.store.sessions.values())
    for session in items:
        refresh_session(sd, session)
    items = where_equal(items, params, ("payment_intent", "customer", "subscription", "status", "payment_link"))
    wanted_email = (
        (params.get("customer_details") or {}).get("email")
        if isinstance(params.get("customer_details"), dict)
        else None
    )
    if wanted_email:
        items = [s for s in items if (s.get("customer_details") or {}).get("email") == wanted_email]
    return items


def _expire(sd: Standin, session: dict[str, Any], request: RequestInfo) -> str:
    session.update(status="expired", url=None)
    return sd.emit("checkout.session.expired", session, request)


def expire_session(sd: Standin, session_id: str, request: RequestInfo) -> dict[str, Any]:
    session = get_session(sd, session_id)
    if session["status"] != "open":
        raise invalid(
            None,
            'Only Checkout Sessions with a status in ["open"] can be expired. '
            f'This Checkout Session has a status of "{session["status"]}".',
        )
    _expire(sd, session, request)
    return session


def _ensure_customer(sd: Standin, session: dict[str, Any], extras: SessionExtras, email: str) -> str | None:
    if session["customer"]:
        return session["customer"]
    # Subscriptions always need a customer; in payment mode only with customer_creation=always.
    if session["mode"] == "subscription" or extras.customer_creation == "always":
        customer = objects.customer(new_id("cus_"), sd.store.now(), {"email": email})
        sd.store.customers[customer["id"]] = customer
        return customer["id"]
    return None


def _new_payment_intent(sd: Standin, session: dict[str, Any], extras: SessionExtras, status: str) -> dict[str, Any]:
    data = extras.payment_intent_data
    pi = objects.payment_intent(
        new_id("pi_"),
        sd.store.now(),
        amount=session["amount_total"],
        currency=session["currency"],
        customer=session["customer"],
        metadata=data.get("metadata", {}),
        status=status,
    )
    pi["description"] = data.get("description")
    sd.store.payment_intents[pi["id"]] = pi
    extras.payment_intent_id = pi["id"]
    # In subscription mode the payment belongs to the first invoice, not the session.
    if session["mode"] == "payment":
        session["payment_intent"] = pi["id"]
    return pi


def _capture(sd: Standin, pi: dict[str, Any], extras: SessionExtras, email: str | None) -> dict[str, Any]:
    ch = objects.charge(
        new_id("ch_"),
        sd.store.now(),
        amount=pi["amount"],
        currency=pi["currency"],
        customer=pi["customer"],
        payment_intent=pi["id"],
        payment_method=pi["payment_method"],
        metadata=pi["metadata"],
        email=email,
    )
    sd.store.charges[ch["id"]] = ch
    pi.update(status="succeeded", amount_received=pi["amount"], latest_charge=ch["id"], last_payment_error=None)
    extras.charge_id = ch["id"]
    return ch


def _new_subscription(sd: Standin, session: dict[str, Any], extras: SessionExtras, status: str) -> dict[str, Any]:
    items = [
        (li["price"], li["quantity"]) for li in sd.store.line_items[session["id"]] if li["price"]["type"] == "recurring"
    ]
    data = extras.subscription_data
    sub = objects.subscription(
        new_id("sub_"),
        sd.store.now(),
        customer=session["customer"],
        prices=items,
        metadata=data.get("metadata", {}),
        status=status,
        description=data.get("description"),
    )
    sd.store.subscriptions[sub["id"]] = sub
    session["subscription"] = sub["id"]
    return sub


def complete_session(sd: Standin, session_id: str, outcome: str, email: str | None = None) -> dict[str, Any]:
    """What the customer does on the hosted page, plus Stripe's follow-up for async payment methods."""
    if outcome not in OUTCOMES:
        raise invalid("outcome", f"outcome must be one of {', '.join(OUTCOMES)}")
    store = sd.store
    session = get_session(sd, session_id)
    extras = store.session_extras[session_id]
    events: list[str] = []
    charge: dict[str, Any] | None = None
    subscription: dict[str, Any] | None = None

    if outcome in ("paid", "async_pending", "no_payment_required"):
        if session["status"] != "open":
            raise invalid(
                None,
                f"Checkout Session {session_id} has status {session['status']!r}; only open sessions can be completed.",
            )
        if session["customer"] in store.customers:
            email = email or store.customers[session["customer"]]["email"]
        email = email or session["customer_email"] or DEFAULT_EMAIL
        session["customer"] = _ensure_customer(sd, session, extras, email)
        session.update(status="complete", url=None, customer_details=objects.customer_details(email, None))
        if session["mode"] == "subscription":
            status = "incomplete" if outcome == "async_pending" else "active"
            subscription = _new_subscription(sd, session, extras, status)
        if outcome == "paid":
            charge = _capture(sd, _new_payment_intent(sd, session, extras, "processing"), extras, email)
            session["payment_status"] = "paid"
        elif outcome == "async_pending":
            _new_payment_intent(sd, session, extras, "processing")
            extras.async_pending = True
            session["payment_status"] = "unpaid"
        else:
            session["payment_status"] = "no_payment_required"
        if subscription is not None:
            events.append(sd.emit("customer.subscription.created", subscription))
            # The subscription's first invoice: paid now, or when the async payment succeeds.
            invoice = open_invoice(
                sd,
                subscription,
                "subscription_create",
                (subscription["created"],) * 2,
                free=outcome == "no_payment_required",
            )
            session["invoice"] = invoice["id"]
            if outcome != "async_pending":
                events.append(pay_invoice(sd, invoice))
        events.append(sd.emit("checkout.session.completed", session))
    else:
        if not (session["status"] == "complete" and extras.async_pending):
            raise invalid(
                "outcome",
                f"Checkout Session {session_id} has no pending asynchronous payment; complete it with "
                "outcome=async_pending first.",
            )
        extras.async_pending = False
        pi = store.payment_intents[extras.payment_intent_id or ""]
        subscription = store.subscriptions.get(session["subscription"] or "")
        if outcome == "async_succeeded":
            charge = _capture(sd, pi, extras, session["customer_details"]["email"])
            session["payment_status"] = "paid"
            if subscription is not None:
                events.append(pay_invoice(sd, store.invoices[session["invoice"]]))
                events.append(set_status(sd, subscription, "active"))
            events.append(sd.emit("checkout.session.async_payment_succeeded", session))
        else:
            pi.update(
                status="requires_payment_method",
                last_payment_error={
                    "type": "card_error",
                    "code": "payment_intent_payment_attempt_failed",
                    "message": "The payment failed.",
                },
            )
            if subscription is not None:
                void_invoice(sd, store.invoices[session["invoice"]])
                events.append(set_status(sd, subscription, "incomplete_expired"))
            events.append(sd.emit("checkout.session.async_payment_failed", session))

    return {
        "session": copy.deepcopy(session),
        "events": events,
        "customer": session["customer"],
        "payment_intent": extras.payment_intent_id,
        "charge": charge["id"] if charge else extras.charge_id,
        "subscription": subscription["id"] if subscription else session["subscription"],
    }

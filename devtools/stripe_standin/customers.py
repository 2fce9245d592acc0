"""Customers: create, update, list."""

from __future__ import annotations

from typing import Any

from . import objects
from .form import as_list, to_str
from .ids import new_id
from .runtime import Standin
from .values import email_address, metadata

_CUSTOMER_TEXT = ("name", "phone", "description")


def _customer_fields(params: dict[str, Any], existing: dict[str, Any] | None) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if "email" in params:
        fields["email"] = email_address(params["email"])
    for key in _CUSTOMER_TEXT:
        if key in params:
            fields[key] = to_str(params[key], key) or None
    if "preferred_locales" in params:
        fields["preferred_locales"] = [to_str(x, "preferred_locales") for x in as_list(params["preferred_locales"])]
    if "metadata" in params or existing is None:
        fields["metadata"] = metadata(params.get("metadata"), existing=(existing or {}).get("metadata"))
    return fields


def create_customer(sd: Standin, params: dict[str, Any]) -> dict[str, Any]:
    customer = objects.customer(new_id("cus_"), sd.store.now(), _customer_fields(params, None))
    sd.store.customers[customer["id"]] = customer
    return customer


def update_customer(sd: Standin, customer_id: str, params: dict[str, Any]) -> dict[str, Any]:
    customer = sd.store.get("customers", customer_id)
    customer.update(_customer_fields(params, customer))
    return customer


def list_customers(sd: Standin, params: dict[str, Any]) -> list[dict[str, Any]]:
    items = list(sd.store.customers.values())
    if "email" in params:  # Stripe's email filter is case-sensitive
        items = [c for c in items if c["email"] == params["email"]]
    return items

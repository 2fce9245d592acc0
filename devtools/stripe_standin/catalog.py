"""Prices and products: listing, names, and inline prices from `price_data`."""

from __future__ import annotations

from typing import Any

from . import objects
from .config import PriceSeed, RecurringSeed
from .errors import invalid, missing_parameter
from .form import as_list, to_bool, to_int
from .ids import new_id
from .listing import where_equal
from .runtime import Standin


def product_name(sd: Standin, price: dict[str, Any]) -> str:
    product = sd.store.products.get(price["product"])
    return product["name"] if product else (price.get("nickname") or price["product"])


def list_prices(sd: Standin, params: dict[str, Any]) -> list[dict[str, Any]]:
    items = list(sd.store.prices.values())
    if "active" in params:
        active = to_bool(params["active"], "active")
        items = [p for p in items if p["active"] == active]
    items = where_equal(items, params, ("type", "product", "currency"))
    if "lookup_keys" in params:
        keys = set(as_list(params["lookup_keys"]))
        items = [p for p in items if p["lookup_key"] in keys]
    return items


def inline_price(sd: Standin, data: Any, param: str) -> dict[str, Any]:
    """`line_items[n][price_data]`: Stripe creates an archived (inactive) price for it."""
    if not isinstance(data, dict):
        raise invalid(param, f"Invalid object: {param}")
    for key in ("currency", "unit_amount"):
        if key not in data:
            raise missing_parameter(f"{param}[{key}]")
    store, now = sd.store, sd.store.now()
    product_id = data.get("product")
    if product_id:
        store.get("products", product_id, param=f"{param}[product]", status=400)
    elif isinstance(data.get("product_data"), dict) and data["product_data"].get("name"):
        product_id = new_id("prod_")
        store.products[product_id] = objects.product(product_id, str(data["product_data"]["name"]), now)
    else:
        raise missing_parameter(f"{param}[product_data][name]")
    recurring = None
    if isinstance(data.get("recurring"), dict):
        rec = data["recurring"]
        recurring = RecurringSeed(
            interval=rec.get("interval", "month"),
            interval_count=to_int(rec.get("interval_count", 1), f"{param}[recurring][interval_count]"),
        )
    seed = PriceSeed(
        id=new_id("price_"),
        unit_amount=to_int(data["unit_amount"], f"{param}[unit_amount]"),
        currency=str(data["currency"]).lower(),
        product=product_id,
        recurring=recurring,
        active=False,
    )
    price = objects.price(seed, now)
    store.prices[price["id"]] = price
    return price

"""The catalogue from configuration: BILLING_CATALOGUE (a JSON list) or the one-time pack and subscription
settings. Prices outside it are refused at checkout and grant nothing at fulfilment."""

from __future__ import annotations

import json

from billing_service.domain.catalogue import MAX_TOKENS_PER_UNIT, Catalogue, CatalogueEntry, PriceMode
from billing_service.settings import BillingSettings
from service_kit.startup import ConfigurationError
from tokens import contract_rules as limits


def _entry_from_json(item: object, index: int) -> CatalogueEntry:
    if not isinstance(item, dict):
        raise ValueError(f"BILLING_CATALOGUE[{index}] must be an object")
    try:
        price_id = str(item["price_id"])
        raw_mode = str(item["mode"])
    except KeyError as exc:
        raise ValueError(f"BILLING_CATALOGUE[{index}] needs {exc.args[0]}") from exc
    if raw_mode not in tuple(PriceMode):
        raise ValueError(f"BILLING_CATALOGUE[{index}].mode must be payment or subscription")
    mode = PriceMode(raw_mode)
    tokens = int(item.get("tokens_per_unit", 0))
    if mode is PriceMode.PAYMENT and not 1 <= tokens <= MAX_TOKENS_PER_UNIT:
        raise ValueError(
            f"BILLING_CATALOGUE[{index}].tokens_per_unit must be 1..{MAX_TOKENS_PER_UNIT} for a payment price"
        )
    if mode is PriceMode.SUBSCRIPTION and tokens:
        raise ValueError(f"BILLING_CATALOGUE[{index}].tokens_per_unit must be 0 for a subscription price")
    per_period = int(item.get("tokens_per_period", 0))
    rollover_max = int(item.get("rollover_max", 0))
    check_allowance(mode, per_period, rollover_max, f"BILLING_CATALOGUE[{index}].")
    return CatalogueEntry(
        price_id=price_id,
        mode=mode,
        tokens_per_unit=tokens,
        display_name=str(item.get("display_name", price_id)),
        product_id=str(item.get("product_id", "")),
        unit_amount=int(item.get("unit_amount", 0)),
        currency=str(item.get("currency", "")),
        tokens_per_period=per_period,
        rollover_max=rollover_max,
    )


def check_allowance(mode: PriceMode, tokens_per_period: int, rollover_max: int, prefix: str) -> None:
    """An allowance only on a subscription price, within one grant's limit; a rollover only with one."""
    if mode is PriceMode.PAYMENT and (tokens_per_period or rollover_max):
        raise ValueError(f"{prefix}tokens_per_period and rollover_max must be 0 for a payment price")
    if not 0 <= tokens_per_period <= limits.MAX_TOKEN_AMOUNT:
        raise ValueError(f"{prefix}tokens_per_period must be 0..{limits.MAX_TOKEN_AMOUNT}")
    if not 0 <= rollover_max <= tokens_per_period:
        raise ValueError(f"{prefix}rollover_max must be 0..tokens_per_period ({tokens_per_period})")


def build_catalogue(settings: BillingSettings) -> Catalogue:
    if settings.billing_catalogue.strip():
        items = json.loads(settings.billing_catalogue)
        if not isinstance(items, list) or not items:
            raise ValueError("BILLING_CATALOGUE must be a non-empty JSON list")
        return Catalogue([_entry_from_json(item, i) for i, item in enumerate(items)])
    entries = [
        CatalogueEntry(
            price_id=settings.stripe_onetime_price_id,
            mode=PriceMode.PAYMENT,
            tokens_per_unit=settings.stripe_onetime_tokens,
            display_name=f"{settings.stripe_onetime_tokens} tokens",
            product_id=settings.stripe_onetime_product_id,
        ),
    ]
    if settings.stripe_subscription_price_id:
        # Their ranges are checked by BillingSettings, naming the variables.
        entries.append(
            CatalogueEntry(
                price_id=settings.stripe_subscription_price_id,
                mode=PriceMode.SUBSCRIPTION,
                tokens_per_unit=0,
                display_name="Subscription",
                product_id=settings.stripe_subscription_product_id,
                tokens_per_period=settings.stripe_subscription_tokens_per_period,
                rollover_max=settings.stripe_subscription_rollover_max,
            )
        )
    return Catalogue(entries)


def catalogue_from_settings(settings: BillingSettings) -> Catalogue:
    """build_catalogue, with a bad BILLING_CATALOGUE as a start-up ConfigurationError naming it."""
    try:
        return build_catalogue(settings)
    except (ValueError, TypeError, KeyError) as exc:  # JSONDecodeError is a ValueError
        raise ConfigurationError("BILLING_CATALOGUE", str(exc).removeprefix("BILLING_CATALOGUE ")) from None

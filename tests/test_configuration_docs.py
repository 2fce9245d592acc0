"""Every setting any service reads is documented in .env.example and in the README's table."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from billing_service.settings import BillingSettings
from devtools.stripe_standin import StandinSettings
from gateway.settings import GatewaySettings
from profile_service.settings import ProfileSettings

ROOT = Path(__file__).resolve().parents[1]


def env_names(cls: type[BaseSettings]) -> set[str]:
    prefix = cls.model_config.get("env_prefix", "") or ""
    names = set()
    for name, field in cls.model_fields.items():
        alias = field.validation_alias
        names.add((alias if isinstance(alias, str) else prefix + name).upper())
    return names


def documented(path: Path) -> set[str]:
    text = path.read_text()
    if path.name == ".env.example":
        return {
            line.split("=", 1)[0] for line in text.splitlines() if line and not line.startswith("#") and "=" in line
        }
    return {part.strip("` ") for line in text.splitlines() if line.startswith("| `") for part in [line.split("|")[1]]}


@pytest.mark.parametrize(
    "cls", [ProfileSettings, BillingSettings, GatewaySettings, StandinSettings], ids=lambda c: c.__name__
)
@pytest.mark.parametrize("doc", [".env.example", "README.md"])
def test_every_setting_is_documented(cls, doc):
    missing = env_names(cls) - documented(ROOT / doc)
    assert not missing, f"{doc} does not document {sorted(missing)}"

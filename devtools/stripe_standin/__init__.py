"""A local stand-in for the Stripe API (tests and `make run` without a Stripe key; never production).

from devtools.stripe_standin import StandinSettings, run_standin
async with run_standin(StandinSettings(webhook_url=...)) as base_url:
    client = stripe.StripeClient("sk_test_x", base_addresses={"api": base_url})
"""

from .app import create_app
from .config import PriceSeed, StandinSettings
from .control_client import StandinControl, StandinControlError, StandinControlSync
from .server import run_standin, serve_app, standin_in_thread, start_standin_in_thread
from .webhooks import sign as sign_webhook_payload

__all__ = [
    "PriceSeed",
    "StandinControl",
    "StandinControlError",
    "StandinControlSync",
    "StandinSettings",
    "create_app",
    "run_standin",
    "serve_app",
    "sign_webhook_payload",
    "standin_in_thread",
    "start_standin_in_thread",
]

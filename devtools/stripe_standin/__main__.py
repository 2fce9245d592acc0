"""`python -m devtools.stripe_standin`: serve the stand-in on STRIPE_STANDIN_HOST:STRIPE_STANDIN_PORT."""

from __future__ import annotations

import logging

import uvicorn

from .app import create_app
from .config import StandinSettings


def main() -> None:
    settings = StandinSettings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    app = create_app(settings)
    logging.getLogger("stripe_standin").info(
        "stripe stand-in serving http://%s:%d (checkout pages at %s, webhooks -> %s)",
        settings.host,
        settings.port,
        settings.default_public_url(),
        settings.webhook_url or "not delivered",
    )
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()

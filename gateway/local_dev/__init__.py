"""The local profile's conveniences (APP_ENV=local and LOCAL_DEV_SIGN_IN only; the app does not mount
them otherwise): a development sign-in that signs Firebase-shaped ID tokens, and a page at GET / to try the
purchase flow in a browser.

    dev = LocalDev(settings)          # create_app: app.include_router(dev.router)
    static_certs = dev.start(app)     # lifespan: loads/creates the key; the verifier trusts these certs
"""

from __future__ import annotations

from fastapi import FastAPI

from gateway.local_dev.routes import router
from gateway.local_dev.signing import DevSigner, load_signer
from gateway.settings import GatewaySettings

__all__ = ["DevSigner", "LocalDev", "load_signer"]


class LocalDev:
    def __init__(self, settings: GatewaySettings) -> None:
        if not (settings.is_local and settings.local_dev_sign_in):
            raise ValueError("the local development sign-in needs APP_ENV=local and LOCAL_DEV_SIGN_IN")
        self.settings = settings
        self.router = router

    def start(self, app: FastAPI) -> dict[str, str]:
        """Loads (or creates) the development key; returns ``{kid: certificate PEM}`` for the verifier."""
        signer = load_signer(self.settings.local_dev_key_file)
        app.state.local_dev_signer = signer
        return signer.trusted_certs()

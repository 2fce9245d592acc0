"""Development tools, not shipped: the local Stripe stand-in and the `make run` launcher."""

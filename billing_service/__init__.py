"""Billing service: Stripe Checkout, fulfilment and webhooks. Tokens are granted through the profile
service, keyed by the Checkout Session id, so fulfilment is exactly once however often it runs."""

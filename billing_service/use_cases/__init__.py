"""Billing's use cases, one module each, over two ports (ports.py): the Stripe adapter and the profile
service client. Exactly once: every balance change goes through the profile service under an idempotency
key derived from a Stripe id (domain/keys.py), so a redelivered webhook, the success page racing the
webhook, or a retry after an outage changes nothing the second time. Nothing trusts an event payload
beyond the ids in it: sessions, subscriptions and charges are fetched fresh from Stripe."""

"""Billing's rules, free of gRPC, Stripe and storage: the catalogue, what a purchase buys, what a refund
takes back, what subscriptions entitle to, and the outcomes, as plain values and pure functions."""

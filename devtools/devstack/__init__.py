"""`make run`: the whole stack on one machine, on embedded defaults (SQLite, the local Stripe stand-in)."""

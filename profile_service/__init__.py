"""The profile service: the token ledger and user profiles over gRPC (see README.md and ARCHITECTURE.md)."""

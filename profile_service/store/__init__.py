"""Storage backends. Each implements ProfileStore; the ledger rules live in profile_service.domain."""

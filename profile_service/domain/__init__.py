"""The ledger's rules, free of gRPC and storage: pure functions from (stored state, request) to writes."""

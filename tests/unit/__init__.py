"""Unit tier: domain rules and in-process machinery, with fakes; starts no server (make test-unit)."""

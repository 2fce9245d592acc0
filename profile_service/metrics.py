"""The profile service's own Prometheus series (beside service_kit's gRPC server series, in one registry),
recorded by the write queue around each store transaction:

- tokens_ledger_amount_total{kind, type}: tokens moved by committed ledger entries; kind is granted (the
  grant types: purchase, promotional, allowance, ...), spent (spend), revoked (refund), expired (expiry), or
  held / released (hold, hold_release: amount 0); type the entry type
- tokens_ledger_entries_total{kind, type}: committed ledger entries
- profile_holds_total{event}: holds placed, captured (a spend under hold-settle:{id}) and released; open
  holds = placed - captured - released, summed over replicas (counters restart with the process)
- profile_write_queue_depth: changes waiting in the per-user write queues (not yet in a transaction)
- profile_write_queue_users: users with a queue (a worker) right now
- profile_write_batch_size: changes per store transaction (histogram)
- profile_store_transaction_seconds{outcome}: store transaction latency; outcome ok, unavailable, unknown
  or error
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from profile_service.domain.model import GRANT_TYPES, EntryType, LedgerEntry

BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 400)
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


_KINDS = {"spend": "spent", "refund": "revoked", "expiry": "expired", "hold": "held", "hold_release": "released"}
_HOLD_EVENTS = {"hold": "placed", "hold_release": "released"}
HOLD_SETTLE_PREFIX = "hold-settle:"  # domain.keys.hold_settle_key


def entry_kind(entry_type: EntryType) -> str:
    if entry_type in GRANT_TYPES:
        return "granted"
    return _KINDS.get(entry_type.value, "other")


def hold_event(entry: LedgerEntry) -> str | None:
    if entry.type.value in _HOLD_EVENTS:
        return _HOLD_EVENTS[entry.type.value]
    if entry.type is EntryType.SPEND and entry.idempotency_key.startswith(HOLD_SETTLE_PREFIX):
        return "captured"
    return None


class ProfileMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.ledger_amount = Counter(
            "tokens_ledger_amount_total",
            "Tokens moved by committed ledger entries, by kind (granted, spent, revoked) and entry type.",
            ["kind", "type"],
            registry=registry,
        )
        self.ledger_entries = Counter(
            "tokens_ledger_entries_total",
            "Committed ledger entries, by kind and entry type.",
            ["kind", "type"],
            registry=registry,
        )
        self.holds = Counter(
            "profile_holds_total", "Holds placed, captured and released.", ["event"], registry=registry
        )
        self.queue_depth = Gauge(
            "profile_write_queue_depth", "Changes waiting in the per-user write queues.", registry=registry
        )
        self.queue_users = Gauge("profile_write_queue_users", "Users with a write queue right now.", registry=registry)
        self.batch_size = Histogram(
            "profile_write_batch_size", "Changes per store transaction.", buckets=BATCH_BUCKETS, registry=registry
        )
        self.transaction_seconds = Histogram(
            "profile_store_transaction_seconds",
            "Store transaction latency, by outcome (ok, unavailable, unknown, error).",
            ["outcome"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )

    def watch_queue(self, depth: Callable[[], int], users: Callable[[], int]) -> None:
        """Queue figures read at scrape time (nothing to update per change)."""
        self.queue_depth.set_function(depth)
        self.queue_users.set_function(users)

    def committed(self, entries: Iterable[LedgerEntry]) -> None:
        for entry in entries:
            kind, kind_type = entry_kind(entry.type), entry.type.value
            self.ledger_entries.labels(kind, kind_type).inc()
            self.ledger_amount.labels(kind, kind_type).inc(abs(entry.amount))
            event = hold_event(entry)
            if event is not None:
                self.holds.labels(event).inc()

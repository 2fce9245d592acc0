"""A quick model of the original layout: the whole token history as an array field inside users/{uid}
(`token_history: ArrayUnion([{amount: 5, type: 'purchase', timestamp}])`, see the original token system).

- Storage size follows Firestore's documented rules (firebase.google.com/docs/firestore/storage-size):
  string = UTF-8 bytes + 1; integer, double, timestamp = 8; boolean, null = 1; array = sum of its values;
  map = sum of (key string size + value size); document name = sum of collection and document id string
  sizes + 16; document = name + fields + 32. The limit is 1 MiB (1,048,576 bytes) per document.
- Read cost: every read of the profile fetches and decodes the whole array. Timed here for a growing N as
  (a) parsing the document from its Firestore wire protobuf, (b) turning it into Python values the way the
  google-cloud-firestore client does (`_helpers.decode_dict`), and (c) a JSON round trip for scale.

    python -m bench.history_model"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

MIB = 1024 * 1024
UID = "x" * 28  # Firebase Auth uids are 28 characters


def string_size(value: str) -> int:
    return len(value.encode("utf-8")) + 1


def value_size(value: object) -> int:
    if value is None or isinstance(value, bool):
        return 1
    if isinstance(value, (int, float, datetime)):
        return 8
    if isinstance(value, str):
        return string_size(value)
    if isinstance(value, bytes):
        return len(value)
    if isinstance(value, (list, tuple)):
        return sum(value_size(v) for v in value)
    if isinstance(value, dict):
        return sum(string_size(k) + value_size(v) for k, v in value.items())
    raise TypeError(f"no Firestore size rule for {type(value).__name__}")


def document_name_size(*path: str) -> int:
    return sum(string_size(part) for part in path) + 16


def document_size(path: tuple[str, ...], fields: dict) -> int:
    return document_name_size(*path) + value_size(fields) + 32


NOW = datetime(2025, 1, 1, tzinfo=UTC)


def original_entry(_i: int = 0) -> dict:
    return {"amount": 5, "type": "purchase", "timestamp": NOW}


def ledger_entry(i: int = 0) -> dict:
    """The same purchase with the fields the new ledger keeps per entry, for comparison."""
    return {
        "amount": 5,
        "type": "purchase",
        "timestamp": NOW,
        "balance_after": 5 * (i + 1),
        "idempotency_key": "cs_test_" + "a" * 58,  # Checkout Session ids are ~66 characters
        "source": {
            "checkout_session_id": "cs_test_" + "a" * 58,
            "price_id": "price_" + "b" * 24,
            "product_id": "prod_" + "c" * 14,
        },
    }


def user_document(entries: list[dict]) -> dict:
    """users/{uid} as the original wrote it after a one-time purchase."""
    return {
        "email": "someone.example@example.com",
        "created_at": NOW,
        "last_login": NOW,
        "stripe_customer_id": "cus_" + "d" * 14,
        "has_access": False,
        "one_time_purchase": True,
        "tokens": 5 * len(entries),
        "purchase_date": NOW,
        "product_id": "prod_" + "c" * 14,
        "price_id": "price_" + "b" * 24,
        "token_history": entries,
    }


def max_entries(entry: dict) -> tuple[int, int, int]:
    """(base document size, bytes per entry, the largest N that fits in 1 MiB)."""
    path = ("users", UID)
    base = document_size(path, user_document([]))
    per = value_size(entry)
    return base, per, (MIB - base) // per


def to_firestore_pb(doc: dict):
    """The document as Firestore's wire protobuf (google.firestore.v1.Document). The history array is built
    from one encoded entry per distinct entry (proto-plus encoding of 100k maps would take seconds)."""
    from google.cloud.firestore_v1 import _helpers
    from google.cloud.firestore_v1.types import document

    pb_document = document.Document.pb()
    pb_value = document.Value.pb()
    head = {k: v for k, v in doc.items() if k != "token_history"}
    out = pb_document(name=f"projects/p/databases/(default)/documents/users/{UID}")
    for key, value in _helpers.encode_dict(head).items():
        out.fields[key].CopyFrom(document.Value.pb(value))
    encoded: dict[str, object] = {}
    values = out.fields["token_history"].array_value.values
    for entry in doc.get("token_history", []):
        key = json.dumps(entry, default=str, sort_keys=True)
        if key not in encoded:
            encoded[key] = document.Value.pb(_helpers.encode_value(entry))
        values.append(encoded[key])
    assert isinstance(values[0] if len(values) else pb_value(), pb_value)
    return out


def _best_of(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def decode_times(n: int) -> dict:
    from google.cloud.firestore_v1 import _helpers
    from google.cloud.firestore_v1.types import document

    doc = user_document([original_entry(i) for i in range(n)])
    raw = to_firestore_pb(doc).SerializeToString()
    pb_class = document.Document.pb()
    repeat = 3 if n <= 10_000 else 1

    def parse():
        return pb_class.FromString(raw)

    parsed = parse()

    def to_python():
        return _helpers.decode_dict(document.Document.wrap(pb_class.FromString(raw)).fields, None)

    as_json = json.dumps(doc, default=lambda v: v.isoformat())

    def json_round_trip():
        return json.loads(json.dumps(json.loads(as_json)))

    assert len(parsed.fields["token_history"].array_value.values) == n
    return {
        "entries": n,
        "firestore_size_bytes": document_size(("users", UID), doc),
        "fits_1mib": document_size(("users", UID), doc) <= MIB,
        "wire_bytes": len(raw),
        "pb_parse_ms": round(_best_of(parse, repeat) * 1000, 3),
        "client_decode_ms": round(_best_of(to_python, repeat) * 1000, 3),
        "json_round_trip_ms": round(_best_of(json_round_trip, repeat) * 1000, 3),
    }


def run_model(sizes: tuple[int, ...] = (10, 1_000, 10_000, 100_000)) -> dict:
    base, per, fit = max_entries(original_entry())
    lbase, lper, lfit = max_entries(ledger_entry())
    rows = [decode_times(n) for n in sizes]
    small, large = rows[0], rows[-1]
    return {
        "rules": "firebase.google.com/docs/firestore/storage-size (string = UTF-8 + 1; int/timestamp = 8; "
        "array = sum; map = keys + values; name = ids + 16; document = name + fields + 32; limit 1 MiB)",
        "document_base_bytes": base,
        "entry_bytes": per,
        "max_entries_in_1mib": fit,
        "with_ledger_fields": {"entry_bytes": lper, "max_entries_in_1mib": lfit},
        "decode": rows,
        "client_decode_ratio_largest_vs_smallest": round(
            large["client_decode_ms"] / max(small["client_decode_ms"], 1e-6), 1
        ),
        "note": (
            f"{{amount, type:'purchase', timestamp}} is {per} bytes, so the array stops at {fit:,} entries "
            f"(1 MiB); with the fields the ledger now records per entry ({lper} bytes) it stops at {lfit:,}. "
            "Every profile read fetches and decodes the whole array: cost grows linearly with N. "
            f"{sizes[-1]:,} entries cannot exist in the original layout; the row is the linear extrapolation."
        ),
    }


def main() -> None:
    print(json.dumps(run_model(), indent=2))


if __name__ == "__main__":
    main()

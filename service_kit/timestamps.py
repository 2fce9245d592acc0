"""google.protobuf.Timestamp <-> timezone-aware datetime (always UTC), the one conversion every service uses."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf import timestamp_pb2
from google.protobuf.message import Message


def to_timestamp(value: datetime | int | float) -> timestamp_pb2.Timestamp:
    """A Timestamp from an aware datetime (naive ones are taken as local time by astimezone) or Unix seconds."""
    ts = timestamp_pb2.Timestamp()
    if isinstance(value, datetime):
        ts.FromDatetime(value.astimezone(UTC))
    else:
        ts.FromSeconds(int(value))
    return ts


def to_datetime(ts: timestamp_pb2.Timestamp) -> datetime:
    """An aware UTC datetime; raises ValueError/OverflowError for a Timestamp outside datetime's range."""
    return ts.ToDatetime(tzinfo=UTC)


def field_datetime(message: Message, name: str) -> datetime | None:
    """The Timestamp field `name` of `message` as an aware datetime, or None when unset."""
    if not message.HasField(name):
        return None
    value = getattr(message, name)
    assert isinstance(value, timestamp_pb2.Timestamp)
    return to_datetime(value)

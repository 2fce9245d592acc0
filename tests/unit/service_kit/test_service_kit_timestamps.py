"""service_kit.timestamps: proto Timestamp <-> aware UTC datetime."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from google.protobuf import timestamp_pb2

from service_kit.timestamps import field_datetime, to_datetime, to_timestamp
from tokens.profile.v1 import profile_service_pb2 as pb


def test_aware_datetimes_round_trip_as_utc() -> None:
    paris = datetime(2026, 3, 1, 12, 30, 15, 250_000, tzinfo=timezone(timedelta(hours=1)))
    back = to_datetime(to_timestamp(paris))
    assert back == paris and back.tzinfo == UTC and back.hour == 11


def test_unix_seconds_become_timestamps() -> None:
    ts = to_timestamp(1_700_000_000.9)
    assert (ts.seconds, ts.nanos) == (1_700_000_000, 0)
    assert to_datetime(ts) == datetime.fromtimestamp(1_700_000_000, UTC)


def test_unset_fields_are_none_and_set_ones_are_aware() -> None:
    profile = pb.UserProfile(uid="u")
    assert field_datetime(profile, "created_at") is None
    profile.created_at.CopyFrom(timestamp_pb2.Timestamp(seconds=86_400))
    assert field_datetime(profile, "created_at") == datetime(1970, 1, 2, tzinfo=UTC)

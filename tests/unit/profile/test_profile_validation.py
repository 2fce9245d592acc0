"""Input rules: one contract for every store. Ids Firestore refuses as document ids are refused up front,
and a crafted page token never reaches a store."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from google.protobuf import duration_pb2

from profile_service import convert
from profile_service.domain import validation
from profile_service.domain.errors import InvalidArgument
from tokens.profile.v1 import profile_service_pb2 as pb


@pytest.mark.parametrize(
    "uid",
    ["__x__", "____", "__reserved__", ".", "..", "a/b", " u", "u\x00", "é" * 751],
    ids=["dunder", "four-underscores", "dunder-name", "dot", "dotdot", "slash", "space", "control", "over-1500-bytes"],
)
def test_ids_firestore_refuses_are_invalid_uids(uid, monkeypatch):
    # The byte limit holds whatever the character limit becomes (the proto may raise it).
    monkeypatch.setattr(validation.limits, "UID_MAX_LEN", 10_000)
    with pytest.raises(InvalidArgument) as caught:
        validation.uid(uid)
    assert caught.value.field == "uid" and caught.value.reason == "INVALID_FIELD"


@pytest.mark.parametrize("uid", ["u1", "__x", "x__", "___", "_x_", "a.b", "...", "firebase-UID_123"])
def test_ordinary_uids_pass(uid):
    assert validation.uid(uid) == uid


def test_the_field_name_is_the_one_given():
    with pytest.raises(InvalidArgument) as caught:
        validation.uid("__x__", "profile.uid")
    assert caught.value.field == "profile.uid"


def _token(uid: str, seq: object) -> str:
    raw = json.dumps({"v": 1, "u": convert._uid_tag(uid), "s": seq}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize("seq", [2**63, 2**64 + 5, 10**30, 0, -1, "7", True, 1.5, None])
def test_a_crafted_page_token_is_invalid_page_token(seq):
    with pytest.raises(InvalidArgument) as caught:
        convert.decode_page_token("u", _token("u", seq))
    assert caught.value.field == "page_token"


def test_page_tokens_round_trip_up_to_the_largest_seq():
    for seq in (1, 42, validation.MAX_SEQ):
        assert convert.decode_page_token("u", convert.encode_page_token("u", seq)) == seq
    with pytest.raises(InvalidArgument):
        convert.decode_page_token("other", convert.encode_page_token("u", 5))
    assert convert.decode_page_token("u", "") is None


@pytest.mark.parametrize(
    ("seconds", "nanos"),
    [
        (0, 0),
        (-1, 0),
        (0, -1),
        (24 * 3600, 1),
        (24 * 3600 + 1, 0),
        (1, -5),
        (0, 1_000_000_000),
        # Found by the gRPC fuzzer: beyond timedelta's range, which once answered INTERNAL.
        (9_223_372_036_854_775_807, 0),
        (-9_223_372_036_854_775_808, 0),
        (1 << 40, 0),
    ],
)
def test_hold_ttl_out_of_range_is_invalid_naming_ttl(seconds, nanos):
    request = pb.ReserveTokensRequest(ttl=duration_pb2.Duration(seconds=seconds, nanos=nanos))
    with pytest.raises(InvalidArgument) as caught:
        convert.hold_ttl(request)
    assert caught.value.field == "ttl"


@pytest.mark.parametrize(
    ("seconds", "nanos", "expected_us"),
    [(0, 1, 1), (1, 0, 1_000_000), (24 * 3600, 0, 24 * 3600 * 1_000_000), (0, 1_500, 1)],
)
def test_hold_ttl_in_range_is_kept(seconds, nanos, expected_us):
    request = pb.ReserveTokensRequest(ttl=duration_pb2.Duration(seconds=seconds, nanos=nanos))
    assert convert.hold_ttl(request) == timedelta(microseconds=expected_us)

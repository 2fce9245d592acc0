"""Firestore documents <-> records, and how a commit error is read: pure functions of the Firestore store
(no emulator needed). Documents written by the original app or by hand must never make a call fail."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from google.api_core import exceptions as gexc

from profile_service.domain.model import Profile
from profile_service.store.firestore_store import (
    _EPOCH,
    _commit_outcome_unknown,
    changed_fields,
    profile_document,
    profile_from,
)

WHEN = datetime(2023, 1, 1, tzinfo=UTC)


def test_a_document_without_email_reads_as_an_empty_email():
    profile = profile_from("u", {"tokens": 3, "created_at": WHEN, "last_login": WHEN})
    assert (profile.email, profile.tokens, profile.created_at) == ("", 3, WHEN)


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        ("2023-01-01", WHEN),
        ("2023-01-01T00:00:00Z", WHEN),
        ("2023-01-01T02:00:00+02:00", WHEN),
        (WHEN.replace(tzinfo=None), WHEN),
        ("not a date", _EPOCH),
        (12345, _EPOCH),
        (None, _EPOCH),
    ],
)
def test_timestamps_are_read_tolerantly(stored, expected, caplog):
    profile = profile_from("u", {"email": "a@b.c", "created_at": stored, "last_login": WHEN, "purchase_date": stored})
    assert profile.created_at == expected
    assert profile.purchase_date == (None if expected is _EPOCH else expected)
    if stored in ("not a date", 12345):
        assert "created_at" in caplog.text  # logged, not raised


def test_wrong_typed_fields_take_a_readable_value():
    doc = {"email": 7, "tokens": "12", "ledger_seq": 2.0, "has_access": 1, "display_name": None}
    profile = profile_from("u", doc)
    assert (profile.email, profile.tokens, profile.ledger_seq, profile.has_access, profile.display_name) == (
        "7",
        12,
        2,
        True,
        "",
    )


def test_a_write_sets_only_the_fields_that_changed():
    """Unchanged fields keep what is stored (a legacy string timestamp is not rewritten as the epoch)."""
    before = profile_from("u", {"email": "a@b.c", "created_at": "garbage", "last_login": WHEN, "tokens": 5})
    after = before.with_(tokens=8, ledger_seq=2)
    assert changed_fields(before, after) == ["tokens", "ledger_seq"]
    assert profile_document(after, changed_fields(before, after)) == {"tokens": 8, "ledger_seq": 2}
    new = Profile(uid="n", email="n@b.c", created_at=WHEN, last_login=WHEN)
    assert "created_at" in changed_fields(None, new)


@pytest.mark.parametrize(
    "error",
    [
        gexc.DeadlineExceeded("x"),
        gexc.ServiceUnavailable("x"),
        gexc.Cancelled("x"),
        gexc.Unknown("x"),
        gexc.InternalServerError("x"),
        gexc.InvalidArgument("Transaction is invalid or closed"),
        TimeoutError(),
        OSError("connection reset"),
    ],
)
def test_a_commit_error_that_may_hide_a_landed_commit_is_unknown(error):
    assert _commit_outcome_unknown(error)


@pytest.mark.parametrize(
    "error",
    [
        gexc.Aborted("x"),
        gexc.AlreadyExists("x"),
        gexc.FailedPrecondition("x"),
        gexc.InvalidArgument("Resource id __x__ is reserved"),
        gexc.PermissionDenied("x"),
    ],
)
def test_a_commit_refused_by_the_server_is_known_not_applied(error):
    assert not _commit_outcome_unknown(error)

"""Assertion helpers for rich gRPC errors."""

from __future__ import annotations

import contextlib

import grpc
import pytest

from service_kit.rich_errors import ErrorDetails, details_of


class Raised:
    details: ErrorDetails


@contextlib.asynccontextmanager
async def raises_rpc(code: grpc.StatusCode, reason: str | None = None, field: str | None = None):
    """Expects the block to fail with `code` (and ErrorInfo reason / field when given)."""
    raised = Raised()
    with pytest.raises(grpc.RpcError) as info:
        yield raised
    raised.details = details_of(info.value)
    assert raised.details.code == code, raised.details
    if reason is not None:
        assert raised.details.reason == reason, raised.details
    if field is not None:
        assert raised.details.field == field, raised.details

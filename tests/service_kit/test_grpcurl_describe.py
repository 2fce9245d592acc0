"""`grpcurl describe` resolves every symbol of both services (services, methods, messages, enums) through
service_kit's reflection, with the real grpcurl binary. grpcio-reflection alone answers "Symbol not found" for
methods (grpc/grpc#34743)."""

from __future__ import annotations

import asyncio

import pytest
from google.protobuf import descriptor

from tests.profile.test_grpcurl import GRPCURL
from tests.support.billing_server import billing_test_settings, run_billing_service
from tokens.billing.v1 import billing_service_pb2
from tokens.profile.v1 import profile_service_pb2

pytestmark = pytest.mark.skipif(GRPCURL is None, reason="grpcurl binary not installed (make install provides it)")

# Nothing listens here; describing symbols never calls the profile service.
UNUSED_PROFILE = "127.0.0.1:1"


def symbols(file: descriptor.FileDescriptor) -> list[tuple[str, str]]:
    """(symbol, what grpcurl calls it) for every service, method, message and enum the file defines."""
    found: list[tuple[str, str]] = []
    for service in file.services_by_name.values():
        found.append((service.full_name, "a service"))
        found.extend((method.full_name, "a method") for method in service.methods)
    found.extend((message.full_name, "a message") for message in file.message_types_by_name.values())
    found.extend((enum.full_name, "an enum") for enum in file.enum_types_by_name.values())
    return found


async def describe(target: str, symbol: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        GRPCURL or "grpcurl",
        "-plaintext",
        "-max-time",
        "20",
        target,
        "describe",
        symbol,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    return proc.returncode or 0, out.decode()


async def describe_all(target: str, wanted: list[tuple[str, str]]) -> dict[str, str]:
    """symbol -> failure text, for each symbol grpcurl could not describe as expected (a few at a time: 2 cores)."""
    failures: dict[str, str] = {}
    gate = asyncio.Semaphore(4)

    async def one(symbol: str, kind: str) -> None:
        async with gate:
            code, out = await describe(target, symbol)
        if code != 0 or f"{symbol} is {kind}" not in out:
            failures[symbol] = f"exit {code}: {out.strip()[:300]}"

    await asyncio.gather(*(one(symbol, kind) for symbol, kind in wanted))
    return failures


async def test_every_profile_symbol_is_described(sqlite_profile) -> None:
    wanted = symbols(profile_service_pb2.DESCRIPTOR)
    assert ("tokens.profile.v1.ProfileService.GetProfile", "a method") in wanted
    assert await describe_all(sqlite_profile.target, wanted) == {}
    code, out = await describe(sqlite_profile.target, "tokens.profile.v1.ProfileService.SpendTokens")
    assert "rpc SpendTokens ( .tokens.profile.v1.SpendTokensRequest )" in out


async def test_every_billing_symbol_is_described() -> None:
    wanted = symbols(billing_service_pb2.DESCRIPTOR)
    assert ("tokens.billing.v1.BillingService.HandleStripeWebhook", "a method") in wanted
    async with run_billing_service(billing_test_settings(), UNUSED_PROFILE) as billing:
        assert await describe_all(billing.target, wanted) == {}


async def test_an_unknown_method_is_still_not_found(sqlite_profile) -> None:
    code, out = await describe(sqlite_profile.target, "tokens.profile.v1.ProfileService.NoSuchMethod")
    assert code != 0 and "not found" in out.lower()

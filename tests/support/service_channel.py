"""A channel for tests that acts as one caller: its credential (and TLS settings) on every call."""

from __future__ import annotations

import grpc

from service_kit.channels import auth_metadata, open_channel
from service_kit.settings import CommonSettings


class _Credential(grpc.aio.UnaryUnaryClientInterceptor):
    def __init__(self, token: str) -> None:
        self._metadata = auth_metadata(token)

    async def intercept_unary_unary(self, continuation, details, request):
        details = grpc.aio.ClientCallDetails(
            details.method,
            details.timeout,
            list(details.metadata or ()) + list(self._metadata),
            details.credentials,
            details.wait_for_ready,
        )
        return await continuation(details, request)


def channel_as(target: str, token: str, settings: CommonSettings | None = None) -> grpc.aio.Channel:
    return open_channel(target, settings or CommonSettings(_env_file=None), [_Credential(token)])

"""Runs the real profile service in-process on 127.0.0.1:0 with a given store."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc

from profile_service.server import create_server
from profile_service.settings import ProfileSettings
from profile_service.store.base import ProfileStore
from tokens.profile.v1 import profile_service_pb2_grpc as pb_grpc


@dataclass
class RunningProfile:
    target: str
    port: int
    store: ProfileStore
    channel: grpc.aio.Channel
    stub: pb_grpc.ProfileServiceStub


@contextlib.asynccontextmanager
async def run_profile_service(
    store: ProfileStore, settings: ProfileSettings | None = None, extra_interceptors=()
) -> AsyncIterator[RunningProfile]:
    settings = settings or ProfileSettings(_env_file=None)
    await store.start()
    serving, port = create_server(settings, store, "127.0.0.1:0", extra_interceptors=extra_interceptors)
    await serving.start()
    target = f"127.0.0.1:{port}"
    channel = grpc.aio.insecure_channel(target)
    try:
        yield RunningProfile(target, port, store, channel, pb_grpc.ProfileServiceStub(channel))
    finally:
        await channel.close()
        await serving.stop(0)
        await store.close()

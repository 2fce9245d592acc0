"""GET /v1/profile/events: server-sent events of the caller's profile, through the gateway served by uvicorn
(real HTTP streaming) in front of the real profile service."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest

from tests.gateway.harness import ServedGateway, gateway_test_settings, serve_gateway
from tests.support.firebase_tokens import FirebaseTestIssuer
from tests.support.profile_server import RunningProfile
from tokens.profile.v1 import profile_service_pb2 as pb

WAIT_S = 10.0  # a bound on how long a change may take to show, not a speed claim


@dataclass
class Event:
    event: str
    data: str

    def json(self) -> dict:
        return json.loads(self.data)


@dataclass
class EventStream:
    response: httpx.Response
    events: asyncio.Queue[Event | None] = field(default_factory=asyncio.Queue)
    comments: list[str] = field(default_factory=list)

    async def next(self) -> Event | None:
        """The next event, or None when the stream ended."""
        return await asyncio.wait_for(self.events.get(), WAIT_S)


async def _read(stream: EventStream) -> None:
    name, data = "message", []
    try:
        async for line in stream.response.aiter_lines():
            if line == "":
                if data:
                    await stream.events.put(Event(name, "\n".join(data)))
                name, data = "message", []
            elif line.startswith(":"):
                stream.comments.append(line)
            elif line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip())
    finally:
        await stream.events.put(None)


@contextlib.asynccontextmanager
async def events(client: httpx.AsyncClient, headers: dict[str, str]) -> AsyncIterator[EventStream]:
    async with client.stream("GET", "/v1/profile/events", headers=headers) as response:
        stream = EventStream(response)
        assert response.status_code == 200, await response.aread()
        reader = asyncio.create_task(_read(stream))
        try:
            yield stream
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
                await reader


@pytest.fixture
async def served(sqlite_profile: RunningProfile, firebase: FirebaseTestIssuer) -> AsyncIterator[ServedGateway]:
    settings = gateway_test_settings(firebase, profile_target=sqlite_profile.target, profile_events_keepalive_s=0.3)
    async with serve_gateway(settings) as gateway:
        yield gateway


@pytest.fixture
async def client(served: ServedGateway) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=served.url, timeout=30, trust_env=False) as http:
        yield http


async def test_sends_the_profile_on_connect_and_after_a_grant(
    client: httpx.AsyncClient, sqlite_profile: RunningProfile, firebase: FirebaseTestIssuer, uid: str
) -> None:
    headers = firebase.auth_headers(uid, email="live@example.com")
    assert (await client.post("/v1/profile", headers=headers)).status_code == 201
    async with events(client, headers) as stream:
        assert stream.response.headers["content-type"].startswith("text/event-stream")
        assert stream.response.headers["cache-control"] == "no-store"
        first = await stream.next()
        assert first is not None and first.event == "profile"
        assert (first.json()["uid"], first.json()["tokens"], first.json()["email"]) == (uid, 0, "live@example.com")

        # A purchase granted by billing (here: straight through gRPC) after the page connected.
        await sqlite_profile.stub.GrantTokens(
            pb.GrantTokensRequest(uid=uid, amount=5, type=pb.TOKEN_ENTRY_TYPE_PURCHASE, idempotency_key="cs_1")
        )
        second = await stream.next()
        assert second is not None and second.event == "profile" and second.json()["tokens"] == 5
        # The same shape as GET /v1/profile.
        assert second.json() == (await client.get("/v1/profile", headers=headers)).json()
        # Keep-alive comments while nothing changes.
        await asyncio.sleep(1.0)
        assert ": keep-alive" in stream.comments


async def test_the_stream_ends_when_the_id_token_expires(
    client: httpx.AsyncClient, firebase: FirebaseTestIssuer, uid: str
) -> None:
    await client.post("/v1/profile", headers=firebase.auth_headers(uid))
    started = time.monotonic()
    async with events(client, firebase.auth_headers(uid, expires_in=3)) as stream:
        assert (first := await stream.next()) is not None and first.event == "profile"
        expired = await stream.next()
        assert expired is not None and expired.event == "expired"
        assert expired.json() == {"reason": "TOKEN_EXPIRED"}
        assert await stream.next() is None  # the server closed the stream
    elapsed = time.monotonic() - started
    assert 1.5 < elapsed < WAIT_S, elapsed  # at expiry (exp has one-second resolution), not before


async def test_errors_before_the_stream_are_json(
    client: httpx.AsyncClient, firebase: FirebaseTestIssuer, uid: str
) -> None:
    missing = await client.get("/v1/profile/events", headers=firebase.auth_headers(uid))
    assert missing.status_code == 404
    assert missing.json()["error"]["reason"] == "PROFILE_NOT_FOUND"
    anonymous = await client.get("/v1/profile/events")
    assert anonymous.status_code == 401 and anonymous.json()["error"]["reason"] == "MISSING_CREDENTIALS"
    # The token never travels in the URL.
    token = firebase.mint(uid)
    in_query = await client.get("/v1/profile/events", params={"access_token": token})
    assert in_query.status_code == 401


async def test_a_closed_connection_ends_the_downstream_watch(
    client: httpx.AsyncClient,
    served: ServedGateway,
    sqlite_profile: RunningProfile,
    firebase: FirebaseTestIssuer,
    uid: str,
) -> None:
    headers = firebase.auth_headers(uid)
    await client.post("/v1/profile", headers=headers)
    async with events(client, headers) as stream:
        assert await stream.next() is not None
    # The profile service sees the WatchProfile call cancelled: its watcher of this user goes away.
    from profile_service.watch import ProfileWatch

    servicer_watch = _profile_watch(sqlite_profile)
    for _ in range(int(WAIT_S / 0.1)):  # a bounded wait for the cancellation to travel
        if not servicer_watch.watched_users:
            break
        await asyncio.sleep(0.1)
    assert isinstance(servicer_watch, ProfileWatch) and servicer_watch.watched_users == 0


def _profile_watch(profile: RunningProfile):
    """The running servicer's ProfileWatch, found through the gc (the test server keeps no handle on it)."""
    import gc

    from profile_service.servicer import ProfileServicer

    servicers = [o for o in gc.get_objects() if isinstance(o, ProfileServicer) and o._store is profile.store]
    assert len(servicers) == 1
    return servicers[0]._watch


async def test_the_watch_carries_the_gateways_service_credential(
    tmp_path, firebase: FirebaseTestIssuer, uid: str
) -> None:
    from profile_service.settings import ProfileSettings
    from profile_service.store.sqlite_store import SqliteStore
    from service_kit.dev_credentials import dev_tokens
    from tests.support.profile_server import run_profile_service

    tokens = dev_tokens()
    guarded = ProfileSettings(
        _env_file=None, auth_token_gateway=tokens["gateway"], auth_token_billing=tokens["billing"]
    )
    async with run_profile_service(SqliteStore(tmp_path / "guarded.sqlite3"), guarded) as profile:
        for token, expected in ((tokens["gateway"], 200), (tokens["billing"], 403)):
            settings = gateway_test_settings(firebase, profile_target=profile.target, auth_token_gateway=token)
            async with (
                serve_gateway(settings) as gateway,
                httpx.AsyncClient(base_url=gateway.url, timeout=30, trust_env=False) as http,
            ):
                headers = firebase.auth_headers(uid)
                if expected == 200:
                    assert (await http.post("/v1/profile", headers=headers)).status_code == 201
                    async with events(http, headers) as stream:
                        first = await stream.next()
                        assert first is not None and first.json()["uid"] == uid
                else:
                    refused = await http.get("/v1/profile/events", headers=headers)
                    assert refused.status_code == 403 and refused.json()["error"]["code"] == "PERMISSION_DENIED"

"""GET /v1/profile/events: the caller's profile as server-sent events, live (the profile service's WatchProfile).

    event: profile      data: UserProfileData JSON; on connect, then after every change (balance, access, ...)
    : keep-alive        a comment after PROFILE_EVENTS_KEEPALIVE_S without an event (proxies keep the line open)
    event: expired      data: {"reason": "TOKEN_EXPIRED"}; the ID token's `exp` passed: the stream ends, and the
                        client reconnects with a fresh token
    event: error        data: the JSON error body; the profile service failed mid-stream: the stream ends

The ID token comes in the Authorization header as on every route (never in the URL, where logs and
browser history keep it), so browsers read the stream with fetch() rather than EventSource, as
clients/typescript's watchProfile does. Errors before the first event (401, 404 no profile, 503) are the usual
JSON answers.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
import grpc.aio
from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from gateway import convert
from gateway.deps import CurrentUser, ProfileClient, SettingsDep
from gateway.errors import AUTH_ERROR_RESPONSES, COMMON_ERROR_RESPONSES, ErrorResponse, api_error, from_rpc_error
from service_kit.grpc_client import RpcCallError
from tokens.profile.v1 import profile_service_pb2 as pb

router = APIRouter(prefix="/v1/profile", tags=["profile"], responses={**COMMON_ERROR_RESPONSES, **AUTH_ERROR_RESPONSES})

EVENT_STREAM = "text/event-stream"
# How long past the token's expiry the downstream watch may run; the gateway ends the stream at expiry itself.
_WATCH_SLACK_S = 5.0


def sse(event: str, data: Any) -> str:
    """One event; JSON is one line, so one data: line suffices."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _expires_at(claims: Any) -> float:
    exp = claims.get("exp") if hasattr(claims, "get") else None
    if isinstance(exp, int | float) and not isinstance(exp, bool):
        return float(exp)
    raise api_error(401, "the ID token has no expiry", "INVALID_TOKEN")


@router.get(
    "/events",
    response_class=StreamingResponse,
    summary="The caller's profile as server-sent events: on connect and after every change, until the ID token expires",
    responses={
        200: {
            "description": "text/event-stream: `event: profile` with a UserProfileData JSON, keep-alive "
            'comments, then `event: expired` (data {"reason":"TOKEN_EXPIRED"}) when the ID token expires, or '
            "`event: error` (data: the error body) when the profile service fails. Send the ID token in the "
            "Authorization header (read the stream with fetch, not EventSource).",
            "content": {EVENT_STREAM: {"schema": {"type": "string"}}},
        },
        404: {"model": ErrorResponse, "description": "The caller has no profile yet (POST /v1/profile)."},
    },
)
async def profile_events(user: CurrentUser, profile: ProfileClient, settings: SettingsDep) -> StreamingResponse:
    expires_at = _expires_at(user.claims)
    lifetime = expires_at - time.time()
    call: grpc.aio.UnaryStreamCall[pb.WatchProfileRequest, pb.WatchProfileResponse] = profile.stub.WatchProfile(
        pb.WatchProfileRequest(uid=user.uid),
        timeout=max(lifetime, 0.0) + _WATCH_SLACK_S,
        metadata=profile.metadata(),
    )
    # The first profile before the 200, so a missing profile or a failing service is an ordinary JSON error.
    try:
        first = await asyncio.wait_for(call.read(), settings.downstream_timeout_s)
    except grpc.RpcError as exc:
        raise RpcCallError.from_rpc_error(profile.name, "WatchProfile", exc) from exc
    except TimeoutError:
        call.cancel()
        raise api_error(
            503,
            "the profile service is unavailable, try again shortly",
            "UNAVAILABLE",
            headers={"Retry-After": str(settings.retry_after_s)},
        ) from None
    if first is grpc.aio.EOF:
        raise api_error(503, "the profile service ended the stream", "UNAVAILABLE")
    assert isinstance(first, pb.WatchProfileResponse)
    return StreamingResponse(
        _events(call, first, expires_at, settings.profile_events_keepalive_s, settings.retry_after_s),
        media_type=EVENT_STREAM,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _events(
    call: grpc.aio.UnaryStreamCall[pb.WatchProfileRequest, pb.WatchProfileResponse],
    first: pb.WatchProfileResponse,
    expires_at: float,
    keepalive_s: float,
    retry_after_s: int,
) -> AsyncIterator[str]:
    pending: asyncio.Future[Any] | None = None
    try:
        yield sse("profile", convert.profile(first.profile).model_dump(mode="json"))
        pending = asyncio.ensure_future(call.read())
        while True:
            left = expires_at - time.time()
            if left <= 0:
                yield sse("expired", {"reason": "TOKEN_EXPIRED"})
                return
            done, _ = await asyncio.wait({pending}, timeout=min(keepalive_s, left))
            if not done:
                if expires_at - time.time() > 0:
                    yield ": keep-alive\n\n"
                continue
            try:
                reply = pending.result()
            except grpc.RpcError as exc:
                error = from_rpc_error(exc, retry_after_s, "profile")
                body = {"code": error.code, "message": error.message, "reason": error.reason}
                yield sse("error", {"error": body})
                return
            if reply is grpc.aio.EOF:
                return
            yield sse("profile", convert.profile(reply.profile).model_dump(mode="json"))
            pending = asyncio.ensure_future(call.read())
    finally:
        # The client went away, the token expired or the service failed: stop the downstream watch.
        if pending is not None:
            pending.cancel()
        call.cancel()

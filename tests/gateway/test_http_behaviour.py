"""Cross-cutting behaviour: request ids (header, gRPC metadata, logs), body limits, content types, malformed
JSON, CORS, the error shape on FastAPI's own errors, deadlines, readiness and metrics."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import pathlib

import grpc
import httpx
import pytest

from gateway.middleware import sanitise_request_id
from profile_service.store.sqlite_store import SqliteStore
from service_kit.logs import JsonFormatter
from service_kit.metrics import serve_metrics
from tests.gateway.conftest import ProfileGateway
from tests.gateway.harness import DEAD_TARGET, gateway_client, gateway_test_settings
from tests.support.billing_server import run_billing_service
from tests.support.profile_server import run_profile_service


def assert_error_shape(response, status: int, reason: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert {"code", "message", "reason"} <= set(error) <= {"code", "message", "reason", "field"}
    assert all(isinstance(error[k], str) and error[k] for k in ("code", "message", "reason"))
    if reason is not None:
        assert error["reason"] == reason, error
    return error


class MetadataRecorder(grpc.aio.ServerInterceptor):
    """Test-only: remembers the x-request-id of every call the profile service receives."""

    def __init__(self) -> None:
        self.request_ids: list[str] = []

    async def intercept_service(self, continuation, handler_call_details):
        metadata = dict(handler_call_details.invocation_metadata or ())
        self.request_ids.append(metadata.get("x-request-id", ""))
        return await continuation(handler_call_details)


class Slow(grpc.aio.ServerInterceptor):
    """Test-only: delays every call, to make the gateway's deadline fire."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    async def intercept_service(self, continuation, handler_call_details):
        await asyncio.sleep(self.seconds)
        return await continuation(handler_call_details)


def test_request_id_sanitising() -> None:
    assert sanitise_request_id("abc-123_x.y:z") == "abc-123_x.y:z"
    assert sanitise_request_id("a b\r\nc<script>") == "abcscript"
    assert len(sanitise_request_id("x" * 500)) == 128
    generated = sanitise_request_id("\r\n")
    assert len(generated) == 32 and generated.isalnum()
    assert sanitise_request_id(None) != sanitise_request_id(None)


async def test_request_id_is_echoed_passed_downstream_and_logged(tmp_path: pathlib.Path, firebase, uid: str) -> None:
    recorder = MetadataRecorder()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    http_log = logging.getLogger("gateway.http")
    http_log.addHandler(handler)
    http_log.setLevel(logging.INFO)
    try:
        async with (
            run_profile_service(SqliteStore(tmp_path / "p.sqlite3"), extra_interceptors=[recorder]) as prof,
            gateway_client(gateway_test_settings(firebase, profile_target=prof.target)) as (_app, client),
        ):
            given = await client.post("/v1/profile", headers={**firebase.auth_headers(uid), "X-Request-ID": "trace-42"})
            assert given.status_code == 201
            assert given.headers["x-request-id"] == "trace-42"
            hostile = await client.get(
                "/v1/profile", headers={**firebase.auth_headers(uid), "X-Request-ID": "evil\tid" + "x" * 300}
            )
            assert hostile.headers["x-request-id"] == ("evilid" + "x" * 300)[:128]
            generated = await client.get("/v1/profile", headers=firebase.auth_headers(uid))
            fresh = generated.headers["x-request-id"]
            assert len(fresh) == 32
            # Errors carry it too.
            assert (await client.get("/nowhere")).headers["x-request-id"]
    finally:
        http_log.removeHandler(handler)

    assert recorder.request_ids == ["trace-42", ("evilid" + "x" * 300)[:128], fresh]
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    by_id = {line["request_id"]: line for line in lines}
    assert by_id["trace-42"]["route"] == "/v1/profile" and by_id["trace-42"]["status"] == 201
    assert by_id[fresh]["method"] == "GET" and "duration_ms" in by_id[fresh]


async def test_body_limit_by_content_length_and_by_streamed_bytes(profile_gateway: ProfileGateway, uid: str) -> None:
    gw = profile_gateway
    limit = gw.settings.max_body_bytes
    big = json.dumps({"display_name": "x" * (limit + 10)}).encode()
    declared = await gw.client.patch(
        "/v1/profile", content=big, headers={**gw.auth(uid), "Content-Type": "application/json"}
    )
    assert_error_shape(declared, 413, "PAYLOAD_TOO_LARGE")

    async def chunks():
        for _ in range(limit // 1024 + 2):
            yield b" " * 1024

    streamed = await gw.client.patch(
        "/v1/profile", content=chunks(), headers={**gw.auth(uid), "Content-Type": "application/json"}
    )
    assert "content-length" not in streamed.request.headers
    assert_error_shape(streamed, 413, "PAYLOAD_TOO_LARGE")

    lying = await gw.client.patch(
        "/v1/profile",
        content=b"{}",
        headers={**gw.auth(uid), "Content-Type": "application/json", "Content-Length": "x"},
    )
    assert lying.status_code in (400, 413)


@pytest.mark.parametrize(
    "content, content_type, status, reason",
    [
        (b'{"display_name": "x"}', "text/plain", 415, "UNSUPPORTED_MEDIA_TYPE"),
        (b"display_name=x", "application/x-www-form-urlencoded", 415, "UNSUPPORTED_MEDIA_TYPE"),
        (b'{"display_name": "x"}', None, 415, "UNSUPPORTED_MEDIA_TYPE"),
        (b'{"display_name": ', "application/json", 400, "MALFORMED_JSON"),
        (b'{"display_name": "\xff\xfe"}', "application/json", 400, "MALFORMED_JSON"),
        (b"\xff\xfe\x00\x00garbage", "application/json", 400, "MALFORMED_JSON"),
        (b"[" * 100_00 + b"]" * 100_00, "application/json", 400, "MALFORMED_JSON"),
        (b'{"a":' * 5000 + b"1" + b"}" * 5000, "application/json", 400, "MALFORMED_JSON"),
        (b'{"display_name": ' + b"[" * 500 + b"]" * 500 + b"}", "application/json", 422, "INVALID_FIELD"),
        (b"null", "application/json", 422, None),
        (b"", "application/json", 422, "MISSING_FIELD"),
    ],
)
async def test_bodies_that_are_not_acceptable_json_get_4xx_json(
    profile_gateway: ProfileGateway, uid: str, content: bytes, content_type: str | None, status: int, reason: str | None
) -> None:
    gw = profile_gateway
    await gw.client.post("/v1/profile", headers=gw.auth(uid))
    headers = gw.auth(uid) | ({"Content-Type": content_type} if content_type else {})
    for path, method in (("/v1/profile", "PATCH"), ("/v1/checkout-sessions", "POST")):
        response = await gw.client.request(method, path, content=content, headers=headers)
        if len(content) > gw.settings.max_body_bytes:
            assert_error_shape(response, 413)
        else:
            # The two models differ in which field is to blame; the status and syntax reasons do not.
            assert_error_shape(response, status, reason if path == "/v1/profile" or status != 422 else None)


async def test_framework_errors_use_the_error_shape(profile_gateway: ProfileGateway, uid: str) -> None:
    gw = profile_gateway
    assert_error_shape(await gw.client.get("/v1/nothing-here"), 404, "ROUTE_NOT_FOUND")
    not_allowed = await gw.client.delete("/v1/profile", headers=gw.auth(uid))
    assert_error_shape(not_allowed, 405, "METHOD_NOT_ALLOWED")
    assert set(not_allowed.headers["allow"].replace(" ", "").split(",")) == {"GET", "POST", "PATCH"}
    bad_path = await gw.client.get("/v1/checkout-sessions/has%20space", headers=gw.auth(uid))
    assert assert_error_shape(bad_path, 422, "INVALID_FIELD")["field"] == "session_id"


async def test_cors_allows_only_configured_origins(profile_gateway: ProfileGateway) -> None:
    gw = profile_gateway
    allowed = await gw.client.options(
        "/v1/profile",
        headers={
            "Origin": "http://localhost:3000",
            "Access-Control-Request-Method": "PATCH",
            "Access-Control-Request-Headers": "authorization, content-type, idempotency-key",
        },
    )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "http://localhost:3000"
    refused = await gw.client.options(
        "/v1/profile", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "PATCH"}
    )
    assert_error_shape(refused, 403, "CORS_REFUSED")
    assert "access-control-allow-origin" not in refused.headers
    simple = await gw.client.get("/healthz", headers={"Origin": "https://evil.example"})
    assert simple.status_code == 200 and "access-control-allow-origin" not in simple.headers
    ok = await gw.client.get("/healthz", headers={"Origin": "http://localhost:3000"})
    assert ok.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert "x-request-id" in ok.headers["access-control-expose-headers"].lower()


async def test_unavailable_services_are_503_with_retry_after(firebase, uid: str) -> None:
    settings = gateway_test_settings(firebase, profile_target=DEAD_TARGET, billing_target=DEAD_TARGET)
    async with gateway_client(settings) as (_app, client):
        for method, path in (("GET", "/v1/profile"), ("POST", "/v1/profile"), ("GET", "/v1/prices")):
            response = await client.request(method, path, headers=firebase.auth_headers(uid))
            error = assert_error_shape(response, 503)
            assert error["code"] == "UNAVAILABLE"
            assert response.headers["retry-after"] == str(settings.retry_after_s)
        webhook = await client.post(
            "/v1/stripe/webhook",
            content=b"{}",
            headers={"Stripe-Signature": "t=1,v1=00", "Content-Type": "application/json"},
        )
        assert_error_shape(webhook, 503)
        not_ready = await client.get("/readyz")
        assert_error_shape(not_ready, 503, "NOT_READY")
        assert (await client.get("/healthz")).json() == {"status": "ok"}


async def test_every_downstream_call_has_a_deadline(tmp_path: pathlib.Path, firebase, uid: str) -> None:
    async with run_profile_service(SqliteStore(tmp_path / "p.sqlite3"), extra_interceptors=[Slow(3)]) as prof:
        settings = gateway_test_settings(firebase, profile_target=prof.target, downstream_timeout_s=0.3)
        async with gateway_client(settings) as (_app, client):
            started = asyncio.get_running_loop().time()
            response = await client.get("/v1/profile", headers=firebase.auth_headers(uid))
            elapsed = asyncio.get_running_loop().time() - started
    error = assert_error_shape(response, 503)
    assert error["code"] == "DEADLINE_EXCEEDED"
    assert response.headers["retry-after"]
    assert elapsed < 2.5


async def test_readiness_and_metrics(sqlite_profile, firebase, uid: str) -> None:
    async with run_billing_service(profile_target=sqlite_profile.target, standin_url="http://127.0.0.1:1") as billing:
        settings = gateway_test_settings(firebase, profile_target=sqlite_profile.target, billing_target=billing.target)
        async with gateway_client(settings) as (_app, client):
            ready = await client.get("/readyz")
            assert ready.status_code == 200
            assert ready.json() == {"status": "ready", "services": {"profile": "SERVING", "billing": "SERVING"}}
            await client.post("/v1/profile", headers=firebase.auth_headers(uid))
            await client.get("/v1/checkout-sessions/cs_unknown", headers={"Authorization": "Bearer x.y.z"})
            # Never on the public port: on METRICS_LISTEN, served as gateway.__main__ serves it.
            assert (await client.get("/metrics")).status_code == 404
            endpoint = serve_metrics("127.0.0.1:0", _app.state.metrics.registry)
            try:
                async with httpx.AsyncClient() as scraper:
                    metrics = await scraper.get(f"http://127.0.0.1:{endpoint.port}/metrics")
            finally:
                endpoint.close()
            assert metrics.status_code == 200
            text = metrics.text
            assert 'gateway_http_requests_total{method="POST",route="/v1/profile",status="201"} 1.0' in text
            assert (
                'gateway_http_requests_total{method="GET",route="/v1/checkout-sessions/{session_id}",status="401"} 1.0'
            ) in text
            assert (
                'gateway_http_request_duration_seconds_bucket{le="0.005",method="GET",route="/readyz",status="200"}'
            ) in text
            assert (
                'gateway_downstream_call_duration_seconds_count{code="OK",method="CreateProfile",service="profile"}'
                in text
            )


async def test_dependencies_can_be_overridden(profile_gateway: ProfileGateway, uid: str) -> None:
    """The current user (and the stubs) are plain Annotated dependencies: tests may swap them."""
    from gateway.auth import FirebaseUser
    from gateway.deps import get_current_user

    gw = profile_gateway
    gw.app.dependency_overrides[get_current_user] = lambda: FirebaseUser(uid=uid, email="stub@example.com")
    try:
        created = await gw.client.post("/v1/profile")  # no Authorization header at all
        assert created.status_code == 201 and created.json()["email"] == "stub@example.com"
    finally:
        gw.app.dependency_overrides.clear()
    assert (await gw.client.get("/v1/profile")).status_code == 401


async def test_an_unexpected_error_is_a_json_500_with_the_request_id(profile_gateway: ProfileGateway, uid: str) -> None:
    from gateway.deps import get_profile_client

    def broken():
        raise RuntimeError("bug with internals: password=hunter2")

    gw = profile_gateway
    gw.app.dependency_overrides[get_profile_client] = broken
    try:
        response = await gw.client.get("/v1/profile", headers={**gw.auth(uid), "X-Request-ID": "bug-1"})
    finally:
        gw.app.dependency_overrides.clear()
    error = assert_error_shape(response, 500, "INTERNAL")
    assert "hunter2" not in response.text and error["code"] == "INTERNAL"
    assert response.headers["x-request-id"] == "bug-1"

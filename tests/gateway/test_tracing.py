"""OpenTelemetry across the services: a webhook POSTed to the gateway is one trace, from the gateway's HTTP
span through billing (its gRPC server span and the Stripe call) to the profile service's ledger write (its
gRPC server span and the store transaction), carried between services as W3C `traceparent`. Spans go to an
in-memory exporter; log lines carry the trace id."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from service_kit import tracing
from service_kit.logs import JsonFormatter
from tests.gateway.observed_stack import observed_stack
from tests.support.firebase_tokens import FirebaseTestIssuer
from tokens.profile.v1 import profile_service_pb2 as pb


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "token-backend-test"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.set_provider(provider)
    try:
        yield exporter
    finally:
        tracing.set_provider(None)  # servers built by later tests run untraced again


def _trace_of(spans: list[ReadableSpan], trace_id: int) -> list[ReadableSpan]:
    return sorted((s for s in spans if s.context.trace_id == trace_id), key=lambda s: s.start_time or 0)


async def test_a_webhook_is_one_trace_from_the_gateway_to_the_ledger_write(
    tmp_path: Path, firebase: FirebaseTestIssuer, uid: str, spans: InMemorySpanExporter
) -> None:
    records = io.StringIO()
    handler = logging.StreamHandler(records)
    handler.setFormatter(JsonFormatter())
    webhook_log = logging.getLogger("billing.webhook")
    webhook_log.addHandler(handler)
    level, webhook_log.level = webhook_log.level, logging.INFO
    try:
        async with observed_stack(tmp_path, firebase) as stack:
            created = await stack.client.post(
                "/v1/checkout-sessions",
                json={"price_id": "price_onetime_5_tokens", "mode": "payment"},
                headers=stack.auth(uid),
            )
            assert created.status_code == 201, created.text
            spans.clear()
            # The stand-in POSTs checkout.session.completed to the gateway's webhook route.
            await stack.standin.complete_session(created.json()["id"], "paid")
            assert (await stack.profile_stub.GetProfile(pb.GetProfileRequest(uid=uid))).profile.tokens == 5
    finally:
        webhook_log.removeHandler(handler)
        webhook_log.setLevel(level)

    finished = list(spans.get_finished_spans())
    webhook = [s for s in finished if s.name == "POST /v1/stripe/webhook" and s.kind.name == "SERVER"]
    assert len(webhook) == 1, [s.name for s in finished]
    trace_id = webhook[0].context.trace_id
    one_trace = _trace_of(finished, trace_id)
    names = [s.name for s in one_trace]
    print("\nsample trace", format(trace_id, "032x"))
    for s in one_trace:
        parent = format(s.parent.span_id, "016x") if s.parent else "-"
        print(f"  {s.name:55} {s.kind.name:8} span={format(s.context.span_id, '016x')} parent={parent}")

    # gateway (HTTP server, gRPC client) -> billing (gRPC server, Stripe, gRPC client) -> profile (server, store)
    for expected in (
        "POST /v1/stripe/webhook",
        "/tokens.billing.v1.BillingService/HandleStripeWebhook",
        "stripe GET /v1/checkout/sessions/{id}",
        "/tokens.profile.v1.ProfileService/GrantTokens",
        "profile.store.transaction",
    ):
        assert expected in names, names
    servers = {s.name for s in one_trace if s.kind.name == "SERVER"}
    assert {
        "/tokens.billing.v1.BillingService/HandleStripeWebhook",
        "/tokens.profile.v1.ProfileService/GrantTokens",
    } <= servers
    # Every span but the gateway's root has its parent in the same trace: nothing started a trace of its own.
    ids = {s.context.span_id for s in one_trace}
    assert all(s.parent is not None and s.parent.span_id in ids for s in one_trace if s is not webhook[0])
    store = next(s for s in one_trace if s.name == "profile.store.transaction")
    grant = next(
        s for s in one_trace if s.name == "/tokens.profile.v1.ProfileService/GrantTokens" and s.kind.name == "SERVER"
    )
    assert store.parent is not None and store.parent.span_id == grant.context.span_id
    # Billing's log line for the webhook carries the trace id beside the request id.
    lines = [json.loads(line) for line in records.getvalue().splitlines()]
    assert any(line["msg"] == "webhook" and line["trace_id"] == format(trace_id, "032x") for line in lines), lines

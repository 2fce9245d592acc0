"""Billing's own metrics and the Stripe call span (beside service_kit's gRPC server series, in one registry):

- billing_webhooks_total{event_type, outcome}: webhooks handled; outcome is the action answered
  (fulfilled, entitlements, refund, ignored, ...) or error:<REASON> (invalid signature, Stripe or profile
  failure: Stripe redelivers); event_type "unverified" when the signature failed. Types outside Stripe's
  `a.b[.c]` shape count as "other".
- billing_stripe_requests_total{method, path, outcome}: Stripe API calls (the SDK's retries inside one
  call); outcome ok, client_error, rate_limited, server_error or network_error; ids in the path are {id}.
- billing_stripe_request_seconds{method, path}: their latency, retries included.

Every Stripe call is one trace span (`stripe POST /v1/checkout/sessions`), made in the SDK's HTTP client so
no call of the adapter can miss it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import stripe
from opentelemetry.trace import SpanKind
from prometheus_client import CollectorRegistry, Counter, Histogram

from service_kit.tracing import span

LATENCY_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 60.0)
_ID_SEGMENT = re.compile(r"^[a-z]{2,8}_[A-Za-z0-9_]+$")
_EVENT_TYPE = re.compile(r"^[a-z_]+(\.[a-z_]+){0,3}$")


def path_template(url: str) -> str:
    """'https://api.stripe.com/v1/charges/ch_123/refunds' -> '/v1/charges/{id}/refunds' (bounded labels)."""
    parts = urlsplit(url).path.split("/")
    return "/".join("{id}" if _ID_SEGMENT.match(part) else part for part in parts)


def stripe_outcome(status: int) -> str:
    if status < 400:
        return "ok"
    if status == 429:
        return "rate_limited"
    return "client_error" if status < 500 else "server_error"


class BillingMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.webhooks = Counter(
            "billing_webhooks_total",
            "Stripe webhooks handled, by event type and outcome (the action, or error:<REASON>).",
            ["event_type", "outcome"],
            registry=registry,
        )
        self.stripe_requests = Counter(
            "billing_stripe_requests_total",
            "Stripe API calls by method, path template and outcome.",
            ["method", "path", "outcome"],
            registry=registry,
        )
        self.stripe_seconds = Histogram(
            "billing_stripe_request_seconds",
            "Stripe API call latency (the SDK's retries included).",
            ["method", "path"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )

    def webhook(self, event_type: str, outcome: str) -> None:
        self.webhooks.labels(event_type if _EVENT_TYPE.match(event_type) else "other", outcome).inc()


class ObservedHTTPXClient(stripe.HTTPXClient):
    """The SDK's httpx client, with one span and one metric per Stripe call."""

    def __init__(self, metrics: BillingMetrics | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._metrics = metrics

    async def request_with_retries_async(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        post_data: Any = None,
        max_network_retries: int | None = None,
        **kwargs: Any,
    ) -> tuple[Any, int, Any]:
        path = path_template(url)
        started = time.perf_counter()
        outcome = "network_error"
        attributes = {"http.request.method": method.upper(), "url.path": path, "server.address": urlsplit(url).netloc}
        with span(f"stripe {method.upper()} {path}", attributes, SpanKind.CLIENT) as current:
            try:
                response = await super().request_with_retries_async(
                    method, url, headers, post_data, max_network_retries, **kwargs
                )
                outcome = stripe_outcome(int(response[1]))
                current.set_attribute("http.response.status_code", int(response[1]))
                return response
            finally:
                if self._metrics is not None:
                    self._metrics.stripe_requests.labels(method.upper(), path, outcome).inc()
                    self._metrics.stripe_seconds.labels(method.upper(), path).observe(time.perf_counter() - started)

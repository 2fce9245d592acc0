"""OpenTelemetry tracing for every service, configured in this one place.

- On when OTEL_EXPORTER_OTLP_ENDPOINT is set: each service's __main__ calls configure_tracing(), which installs
  an SDK TracerProvider (resource service.name) exporting over OTLP/gRPC in batches. Off otherwise: no
  provider, no exporter, no interceptors; the API's no-op tracer makes the manual spans below cost a call.
- W3C trace context (`traceparent`) crosses every hop: the gateway's FastAPI instrumentation reads it from
  HTTP, the gRPC client interceptors (service_kit.channels) write it into call metadata and the gRPC aio
  server interceptor (service_kit.grpc_server) reads it back, so gateway, billing and profile spans of one
  request share one trace id.
- Manual spans: Stripe calls (billing) and each store batch transaction (profile), via span().
- service_kit.logs writes the current trace id beside the request id in every log line.

Tests install their own SDK provider (with an in-memory exporter) through set_provider() before building
servers; tracing_enabled() is what the builders ask.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import grpc.aio
from opentelemetry import trace
from opentelemetry.context import Context, get_current
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

TRACER_NAME = "token-backend"
_provider: TracerProvider | None = None
# A no-op until set_provider() names a provider (tracing is on only through this module).
_tracer: trace.Tracer = trace.NoOpTracer()


def configure_tracing(service_name: str, endpoint: str) -> bool:
    """Exports this process's spans to the OTLP/gRPC collector at `endpoint` (http://host:4317); an empty
    endpoint leaves tracing off. The exporter's other OTEL_EXPORTER_OTLP_* variables (headers, certificate,
    insecure) apply as the SDK documents them. Returns whether tracing is on."""
    if not endpoint:
        return False
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter  # only when exporting

    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    set_provider(provider)
    return True


def set_provider(provider: TracerProvider | None) -> None:
    """Makes `provider` the one the services' interceptors and spans use, and the global one if none is set
    yet (OpenTelemetry allows that once per process). None turns tracing off again (tests)."""
    global _provider, _tracer
    _provider = provider
    if provider is None:
        _tracer = trace.NoOpTracer()
        return
    _tracer = provider.get_tracer(TRACER_NAME)
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        trace.set_tracer_provider(provider)


def tracing_enabled() -> bool:
    return _provider is not None


def shutdown_tracing() -> None:
    """Flushes the spans still in the batch processor (at the end of a service's main)."""
    if _provider is not None:
        _provider.shutdown()


def server_interceptors() -> list[grpc.aio.ServerInterceptor]:
    """The gRPC aio server span (remote parent from `traceparent`), outermost in the chain; none when off."""
    if _provider is None:
        return []
    from opentelemetry.instrumentation.grpc import aio_server_interceptor

    interceptor: grpc.aio.ServerInterceptor = aio_server_interceptor(tracer_provider=_provider)  # type: ignore[no-untyped-call]
    return [interceptor]


def client_interceptors() -> list[grpc.aio.ClientInterceptor]:
    """gRPC aio client spans that write `traceparent` into the call metadata; none when off (intercepted
    calls take gRPC's slower path, so an untraced process keeps the plain one)."""
    if _provider is None:
        return []
    from opentelemetry.instrumentation.grpc import aio_client_interceptors

    interceptors: list[grpc.aio.ClientInterceptor] = aio_client_interceptors(tracer_provider=_provider)  # type: ignore[no-untyped-call]
    return interceptors


def instrument_fastapi(app: Any) -> None:
    """The FastAPI server spans (pure ASGI middleware), when tracing is on."""
    if _provider is None:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(app, tracer_provider=_provider, exclude_spans=["receive", "send"])


def current_context() -> Context | None:
    """The caller's trace context, to parent work done later on another task (None when tracing is off)."""
    return get_current() if _provider is not None else None


@contextlib.contextmanager
def span(
    name: str,
    attributes: Mapping[str, str | int | float | bool] | None = None,
    kind: trace.SpanKind = trace.SpanKind.INTERNAL,
    parent: Context | None = None,
    linked: Sequence[Context | None] = (),
) -> Iterator[trace.Span]:
    """A span named `name` under the current one, or under `parent` (a context from current_context()),
    linked to the spans current in `linked` (a no-op span when tracing is off). An exception marks it as
    an error and is re-raised."""
    links = [
        trace.Link(c) for c in (trace.get_current_span(ctx).get_span_context() for ctx in linked if ctx) if c.is_valid
    ]
    with _tracer.start_as_current_span(name, context=parent, kind=kind, attributes=attributes, links=links) as current:
        yield current


def current_trace_id() -> str | None:
    """The current trace id as 32 hex digits, or None outside any (sampled or not) trace."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None

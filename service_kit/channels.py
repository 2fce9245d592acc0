"""The one way services open gRPC channels to each other (TLS/mTLS when configured), and the credential
metadata each caller sends with every call."""

from __future__ import annotations

from pathlib import Path

import grpc

from service_kit import tracing
from service_kit.auth import AUTH_HEADER
from service_kit.settings import CommonSettings


def auth_metadata(caller_token: str) -> tuple[tuple[str, str], ...]:
    """This caller's credential as call metadata, computed once per client. Clients pass it with every
    call (plain metadata, not a client interceptor: intercepted calls take gRPC's slower path)."""
    return ((AUTH_HEADER, f"Bearer {caller_token}"),) if caller_token else ()


def client_credentials(settings: CommonSettings) -> grpc.ChannelCredentials | None:
    if not settings.tls_ca_file:
        return None
    return grpc.ssl_channel_credentials(
        root_certificates=Path(settings.tls_ca_file).read_bytes(),
        private_key=Path(settings.tls_client_key_file).read_bytes() if settings.tls_client_key_file else None,
        certificate_chain=Path(settings.tls_client_cert_file).read_bytes() if settings.tls_client_cert_file else None,
    )


def open_channel(
    target: str, settings: CommonSettings, interceptors: list[grpc.aio.ClientInterceptor] | None = None
) -> grpc.aio.Channel:
    credentials = client_credentials(settings)
    # With tracing on, the client span that carries `traceparent` to the callee (service_kit.tracing).
    interceptors = [*tracing.client_interceptors(), *(interceptors or [])] or None
    if credentials is None:
        return grpc.aio.insecure_channel(target, interceptors=interceptors)
    options = [("grpc.ssl_target_name_override", settings.tls_server_name)] if settings.tls_server_name else []
    return grpc.aio.secure_channel(target, credentials, options=options, interceptors=interceptors)


def server_credentials(settings: CommonSettings) -> grpc.ServerCredentials | None:
    """Server TLS; with a client CA configured, client certificates are required (mTLS)."""
    if not settings.tls_cert_file:
        return None
    pair = (Path(settings.tls_key_file).read_bytes(), Path(settings.tls_cert_file).read_bytes())
    client_ca = Path(settings.tls_client_ca_file).read_bytes() if settings.tls_client_ca_file else None
    return grpc.ssl_server_credentials([pair], root_certificates=client_ca, require_client_auth=client_ca is not None)

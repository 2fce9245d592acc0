"""The one way services open gRPC channels to each other: TLS when configured, and a client interceptor
that adds this caller's credential and the current request id to every call."""
from __future__ import annotations

from pathlib import Path

import grpc

from service_kit.auth import AUTH_HEADER
from service_kit.request_context import REQUEST_ID_HEADER, request_id_var
from service_kit.settings import CommonSettings


class OutgoingMetadataInterceptor(grpc.aio.UnaryUnaryClientInterceptor):
    def __init__(self, caller_token: str) -> None:
        self._token = caller_token

    async def intercept_unary_unary(self, continuation, client_call_details, request):
        metadata = list(client_call_details.metadata or ())
        names = {k for k, _ in metadata}
        if REQUEST_ID_HEADER not in names:
            metadata.append((REQUEST_ID_HEADER, request_id_var.get()))
        if self._token and AUTH_HEADER not in names:
            metadata.append((AUTH_HEADER, f"Bearer {self._token}"))
        details = grpc.aio.ClientCallDetails(
            client_call_details.method, client_call_details.timeout, metadata,
            client_call_details.credentials, client_call_details.wait_for_ready,
        )
        return await continuation(details, request)


def client_credentials(settings: CommonSettings) -> grpc.ChannelCredentials | None:
    if not settings.tls_ca_file:
        return None
    return grpc.ssl_channel_credentials(
        root_certificates=Path(settings.tls_ca_file).read_bytes(),
        private_key=Path(settings.tls_client_key_file).read_bytes() if settings.tls_client_key_file else None,
        certificate_chain=Path(settings.tls_client_cert_file).read_bytes() if settings.tls_client_cert_file else None,
    )


def open_channel(target: str, settings: CommonSettings, caller_token: str) -> grpc.aio.Channel:
    interceptors = [OutgoingMetadataInterceptor(caller_token)]
    credentials = client_credentials(settings)
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

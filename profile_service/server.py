"""create_server(settings, store) -> (ServingServer, port). Tests bind to 127.0.0.1:0."""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from prometheus_client import CollectorRegistry

from profile_service.error_mapping import to_rpc_error
from profile_service.metrics import ProfileMetrics
from profile_service.permissions import PERMISSIONS
from profile_service.servicer import ProfileServicer
from profile_service.settings import ProfileSettings
from profile_service.store.base import ProfileStore
from service_kit.grpc_server import ServingServer, build_service_server
from tokens.profile.v1 import profile_service_pb2 as pb
from tokens.profile.v1 import profile_service_pb2_grpc as pb_grpc

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["ProfileService"].full_name


def create_server(
    settings: ProfileSettings,
    store: ProfileStore,
    address: str | None = None,
    extra_interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
) -> tuple[ServingServer, int]:
    registry = CollectorRegistry(auto_describe=True)  # gRPC series (service_kit) + ledger and queue series
    servicer = ProfileServicer(store, settings, ProfileMetrics(registry))
    serving = build_service_server(
        settings,
        address=address or settings.profile_listen,
        register=lambda server: pb_grpc.add_ProfileServiceServicer_to_server(servicer, server),
        service_names=[SERVICE_NAME],
        permissions=PERMISSIONS,
        error_mapper=to_rpc_error,
        extra_interceptors=extra_interceptors,
        listen_setting="PROFILE_LISTEN",
        registry=registry,
    )
    return serving, serving.port

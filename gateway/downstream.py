"""The gateway's clients of the profile and billing services: service_kit's ServiceClient (deadline, request id
and the gateway's credential on every call, TLS per settings), with each call timed in the gateway's metrics.
A failed call raises service_kit's RpcCallError; gateway/errors.py turns it into the HTTP answer."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

from gateway.metrics import GatewayMetrics
from gateway.settings import GatewaySettings
from service_kit.grpc_client import CallObserver, ServiceClient
from tokens.billing.v1 import billing_service_pb2 as billing_pb
from tokens.billing.v1 import billing_service_pb2_grpc as billing_grpc
from tokens.profile.v1 import profile_service_pb2 as profile_pb
from tokens.profile.v1 import profile_service_pb2_grpc as profile_grpc

PROFILE_SERVICE = profile_pb.DESCRIPTOR.services_by_name["ProfileService"].full_name
BILLING_SERVICE = billing_pb.DESCRIPTOR.services_by_name["BillingService"].full_name

if TYPE_CHECKING:  # the async stub types exist in the generated .pyi only
    ProfileServiceClient: TypeAlias = ServiceClient[profile_grpc.ProfileServiceAsyncStub]
    BillingServiceClient: TypeAlias = ServiceClient[billing_grpc.BillingServiceAsyncStub]
else:
    ProfileServiceClient = ServiceClient[profile_grpc.ProfileServiceStub]
    BillingServiceClient = ServiceClient[billing_grpc.BillingServiceStub]


class Downstream:
    """Both clients. Opened and closed by the app's lifespan."""

    def __init__(self, profile: ProfileServiceClient, billing: BillingServiceClient) -> None:
        self.profile = profile
        self.billing = billing

    @classmethod
    def open(cls, settings: GatewaySettings, metrics: GatewayMetrics | None = None) -> Downstream:
        observer: CallObserver | None = metrics.observe_downstream if metrics is not None else None

        token = settings.auth_token_gateway.get_secret_value()
        timeout_s = settings.downstream_timeout_s
        return cls(
            ServiceClient.open(
                "profile",
                PROFILE_SERVICE,
                settings.profile_target,
                settings,
                profile_grpc.ProfileServiceStub,
                timeout_s=timeout_s,
                caller_token=token,
                observer=observer,
            ),
            ServiceClient.open(
                "billing",
                BILLING_SERVICE,
                settings.billing_target,
                settings,
                billing_grpc.BillingServiceStub,
                timeout_s=timeout_s,
                caller_token=token,
                observer=observer,
            ),
        )

    async def close(self) -> None:
        await self.profile.close()
        await self.billing.close()

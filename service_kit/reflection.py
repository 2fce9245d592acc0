"""gRPC server reflection (grpc.reflection.v1alpha) that also resolves method symbols (`pkg.Service.Method`),
so `grpcurl describe` works for services, methods and messages alike. grpcio-reflection asks the descriptor
pool for the file containing a symbol, and the pool (upb) does not index methods (grpc/grpc#34743); this
servicer falls back to the method's service."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import grpc
import grpc.aio
from google.protobuf import descriptor, descriptor_pb2, descriptor_pool
from grpc_reflection.v1alpha import reflection_pb2 as rpb

REFLECTION_SERVICE = rpb.DESCRIPTOR.services_by_name["ServerReflection"].full_name


def file_containing_symbol(pool: descriptor_pool.DescriptorPool, symbol: str) -> descriptor.FileDescriptor:
    """The file defining `symbol` (a service, method, message, enum, ...); KeyError when unknown."""
    try:
        return pool.FindFileContainingSymbol(symbol)
    except KeyError:
        service_name, _, method = symbol.rpartition(".")
        try:
            service = pool.FindServiceByName(service_name)
        except KeyError:
            raise KeyError(symbol) from None
        if method not in service.methods_by_name:
            raise KeyError(symbol) from None
        return service.file


def _with_dependencies(file: descriptor.FileDescriptor) -> list[bytes]:
    """The file and everything it imports, serialized, the file first (as grpcio-reflection answers)."""
    seen: dict[str, descriptor.FileDescriptor] = {}
    pending = [file]
    while pending:
        current = pending.pop()
        if current.name in seen:
            continue
        seen[current.name] = current
        pending.extend(current.dependencies)
    serialized = []
    for each in seen.values():
        proto = descriptor_pb2.FileDescriptorProto()
        each.CopyToProto(proto)
        serialized.append(proto.SerializeToString())
    return serialized


class ReflectionServicer:
    def __init__(self, service_names: Sequence[str], pool: descriptor_pool.DescriptorPool | None = None) -> None:
        self._service_names = tuple(sorted({*service_names, REFLECTION_SERVICE}))
        self._pool = pool or descriptor_pool.Default()

    def answer(self, request: rpb.ServerReflectionRequest) -> rpb.ServerReflectionResponse:
        kind = request.WhichOneof("message_request")
        try:
            if kind == "file_by_filename":
                return self._files(request, self._pool.FindFileByName(request.file_by_filename))
            if kind == "file_containing_symbol":
                return self._files(request, file_containing_symbol(self._pool, request.file_containing_symbol))
            if kind == "file_containing_extension":
                wanted = request.file_containing_extension
                message = self._pool.FindMessageTypeByName(wanted.containing_type)
                extension = self._pool.FindExtensionByNumber(message, wanted.extension_number)
                return self._files(request, self._pool.FindFileContainingSymbol(extension.full_name))
            if kind == "all_extension_numbers_of_type":
                message = self._pool.FindMessageTypeByName(request.all_extension_numbers_of_type)
                numbers = sorted(ext.number for ext in self._pool.FindAllExtensions(message))
                return rpb.ServerReflectionResponse(
                    original_request=request,
                    all_extension_numbers_response=rpb.ExtensionNumberResponse(
                        base_type_name=message.full_name, extension_number=numbers
                    ),
                )
            if kind == "list_services":
                return rpb.ServerReflectionResponse(
                    original_request=request,
                    list_services_response=rpb.ListServiceResponse(
                        service=[rpb.ServiceResponse(name=name) for name in self._service_names]
                    ),
                )
        except KeyError:
            return self._error(request, grpc.StatusCode.NOT_FOUND, "symbol not found")
        return self._error(request, grpc.StatusCode.INVALID_ARGUMENT, "unknown reflection request")

    @staticmethod
    def _files(request: rpb.ServerReflectionRequest, file: descriptor.FileDescriptor) -> rpb.ServerReflectionResponse:
        return rpb.ServerReflectionResponse(
            original_request=request,
            file_descriptor_response=rpb.FileDescriptorResponse(file_descriptor_proto=_with_dependencies(file)),
        )

    @staticmethod
    def _error(
        request: rpb.ServerReflectionRequest, code: grpc.StatusCode, message: str
    ) -> rpb.ServerReflectionResponse:
        number = code.value[0]
        assert isinstance(number, int)
        return rpb.ServerReflectionResponse(
            original_request=request, error_response=rpb.ErrorResponse(error_code=number, error_message=message)
        )

    async def ServerReflectionInfo(
        self, requests: AsyncIterator[rpb.ServerReflectionRequest], context: Any
    ) -> AsyncIterator[rpb.ServerReflectionResponse]:
        async for request in requests:
            yield self.answer(request)


def enable_reflection(service_names: Sequence[str], server: grpc.aio.Server) -> None:
    """Registers reflection listing `service_names` and itself."""
    servicer = ReflectionServicer(service_names)
    handler = grpc.stream_stream_rpc_method_handler(
        servicer.ServerReflectionInfo,
        request_deserializer=rpb.ServerReflectionRequest.FromString,
        response_serializer=rpb.ServerReflectionResponse.SerializeToString,
    )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(REFLECTION_SERVICE, {"ServerReflectionInfo": handler}),)
    )

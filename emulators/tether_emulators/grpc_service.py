"""A gRPC service assembled from proto-plus request/response types.

The Google client packages ship the message types (with ``serialize``/``deserialize``) but no
server stubs, so each emulator declares its methods as ``name -> (handler, request type,
response type)`` and this module registers them as a generic handler on a ``grpc.Server``.
A handler raises :class:`RpcError` to answer with a status code, as the real service does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass
from typing import Any

import grpc

__all__ = ["Method", "RpcError", "serve"]

log = logging.getLogger("tether_emulators")


class RpcError(Exception):
    """Ends the call with ``code`` and ``message`` (NOT_FOUND, ALREADY_EXISTS, ...)."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Method:
    handler: Callable[[Any], Any]
    request_type: Any
    response_type: Any


def _unary(method: Method) -> grpc.RpcMethodHandler[Any, Any]:
    def call(request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return method.handler(request)
        except RpcError as exc:
            context.abort(exc.code, exc.message)
        except Exception:
            log.exception("emulator handler failed")
            context.abort(grpc.StatusCode.INTERNAL, "internal emulator error")

    return grpc.unary_unary_rpc_method_handler(
        call,
        request_deserializer=method.request_type.deserialize,
        response_serializer=method.response_type.serialize,
    )


def serve(
    service_name: str,
    methods: dict[str, Method],
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    max_workers: int = 16,
) -> tuple[grpc.Server, int]:
    """Start a server for ``service_name`` (e.g. ``google.cloud.secretmanager.v1.
    SecretManagerService``) on ``host:port`` (0 picks a free port); returns it and the port."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=max_workers))
    handlers = {name: _unary(method) for name, method in methods.items()}
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service_name, handlers),))
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"cannot listen on {host}:{port}")
    server.start()
    return server, bound

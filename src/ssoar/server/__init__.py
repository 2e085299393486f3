"""The HTTP service: ``ssoar serve``."""

from ssoar.server._app import (
    ENDPOINTS,
    ServiceLimits,
    build_app,
    openapi_document,
    tune_collector,
)

__all__ = [
    "ENDPOINTS",
    "ServiceLimits",
    "build_app",
    "openapi_document",
    "tune_collector",
]

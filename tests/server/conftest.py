"""Fixtures that start real booth services on 127.0.0.1 (see booth_service)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from booth_service import (
    ServerThread,
    Service,
    StartService,
    create_tenant_keys,
    make_booth,
)

from ssoar.server import ServiceLimits, build_app


@pytest.fixture(scope="module")
def start_service(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[StartService]:
    """Return a function that starts a booth service with the given limits.

    Every service it started is stopped, and its booth closed, when the
    module's tests are done.
    """
    running: list[tuple[Service, ServerThread]] = []

    def start(limits: ServiceLimits | None = None) -> Service:
        booth = make_booth(tmp_path_factory.mktemp("booth"))
        try:
            keys = create_tenant_keys(booth)
            server = ServerThread(build_app(booth, limits))
            port = server.start()
        except BaseException:
            booth.close()
            raise
        service = Service(f"http://127.0.0.1:{port}", booth, keys)
        running.append((service, server))
        return service

    yield start
    for service, server in reversed(running):
        for client in service.clients:
            client.close()
        try:
            server.stop()
        finally:
            service.booth.close()


@pytest.fixture(scope="module")
def service(start_service: StartService) -> Service:
    """A booth service with the default limits, shared by a module's tests."""
    return start_service()

"""A real booth service on 127.0.0.1 for the HTTP tests, and checks they share.

Each service is a ``LiveBooth`` on its own SQLite file, wrapped by
``build_app`` and served by uvicorn in a thread on a port the operating
system picks. Two tenants, acme and beta, get one API key per scope and one
key with every scope. Webhook delivery is off, so no test sends a request to
any host but the service itself.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.types import ASGIApp

from ssoar.config._settings import load_settings
from ssoar.live import LiveBooth
from ssoar.live._tenants import ApiKey
from ssoar.server._schemas import Problem

TENANTS = ("acme", "beta")
SCOPES = ("booth", "read", "admin")
ALL_SCOPES = "all"
"""The key name, next to the scope names, of the key that has every scope."""
STARTUP_TIMEOUT_SECONDS = 20.0
SHUTDOWN_TIMEOUT_SECONDS = 20.0


@dataclass
class Service:
    """A running booth service, its booth and the API keys of its tenants."""

    url: str
    booth: LiveBooth
    keys: dict[str, dict[str, ApiKey]]
    """API keys by tenant, then by scope name or ``ALL_SCOPES``."""
    clients: list[httpx.Client] = field(default_factory=list)

    def client(self, key: ApiKey | str | None = None, **options: Any) -> httpx.Client:
        """Return an HTTP client for the service, sending ``key`` as a bearer token.

        The service closes every client it returned when it stops.
        """
        headers = dict(options.pop("headers", {}))
        if key is not None:
            secret = key.secret if isinstance(key, ApiKey) else key
            headers["authorization"] = f"Bearer {secret}"
        client = httpx.Client(
            base_url=self.url,
            headers=headers,
            timeout=30.0,
            **options,
        )
        self.clients.append(client)
        return client

    def key(self, tenant: str, scope: str = ALL_SCOPES) -> ApiKey:
        """Return the tenant's key for one scope, or the key with every scope."""
        return self.keys[tenant][scope]


class ServerThread:
    """Uvicorn serving one app in a background thread."""

    def __init__(self, app: ASGIApp) -> None:
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=0,
            log_level="warning",
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=5,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, name="booth-service", daemon=True
        )

    def start(self) -> int:
        """Start serving and return the port the operating system chose."""
        self.thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("the booth service stopped while starting")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"the booth service did not start in {STARTUP_TIMEOUT_SECONDS} s"
                )
            time.sleep(0.01)
        sockets = self.server.servers[0].sockets
        return int(sockets[0].getsockname()[1])

    def stop(self) -> None:
        """Ask uvicorn to exit and wait for the thread."""
        self.server.should_exit = True
        self.thread.join(SHUTDOWN_TIMEOUT_SECONDS)
        if self.thread.is_alive():
            raise RuntimeError(
                f"the booth service did not stop in {SHUTDOWN_TIMEOUT_SECONDS} s"
            )


def make_booth(folder: Path) -> LiveBooth:
    """Open a live booth on a new database and signing key in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    settings = load_settings(
        {"db": str(folder / "live.db"), "key_file": str(folder / "live.key")},
        environ={},
    )
    return LiveBooth(settings, deliver_webhooks=False)


def create_tenant_keys(booth: LiveBooth) -> dict[str, dict[str, ApiKey]]:
    """Create, for each tenant, one key per scope and one key with every scope."""
    keys: dict[str, dict[str, ApiKey]] = {}
    for tenant in TENANTS:
        keys[tenant] = {
            scope: booth.create_key(tenant, (scope,), f"{tenant} {scope} only")
            for scope in SCOPES
        }
        keys[tenant][ALL_SCOPES] = booth.create_key(tenant, SCOPES, f"{tenant} all")
    return keys


StartService = Callable[..., "Service"]
"""The ``start_service`` fixture: call it with ``ServiceLimits`` or nothing."""

PROBLEM_TYPE = "application/problem+json"
PROBLEM_FIELDS = frozenset(Problem.__struct_fields__)


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """Check that a response is an RFC 9457 problem document with this status."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_TYPE
    problem = response.json()
    assert isinstance(problem, dict)
    assert set(problem) <= PROBLEM_FIELDS
    assert {"type", "title", "status", "detail"} <= set(problem)
    assert problem["status"] == status
    assert problem["type"].startswith("https://ssoar.dev/problems/")
    return problem

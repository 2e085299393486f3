"""Fixtures for SDK tests: in-process booths, a stub OpenAI upstream, a booth service.

Every server these fixtures start listens on 127.0.0.1 only, and the
environment is cleared of OPENAI_*, SSOAR_* and proxy variables, so no test
reaches another host or picks up a developer's settings. The stub and the
service themselves are in sdk_support.py, which tests import.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from sdk_support import (
    TENANT,
    BoothService,
    FakeClock,
    StubUpstream,
    run_stub_upstream,
    serve_booth,
)

import ssoar
from ssoar.config._settings import load_settings
from ssoar.live import LiveBooth
from ssoar.sdk import Client

_PROXY_VARIABLES = frozenset(
    {"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"}
)


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Clear OPENAI_*, SSOAR_* and proxy variables and run in an empty folder.

    The folder matters because settings are also read from ./ssoar.toml.
    """
    for name in list(os.environ):
        if name.startswith(("OPENAI_", "SSOAR_")) or name in _PROXY_VARIABLES:
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def booth_client(tmp_path: Path) -> Iterator[Client]:
    """An SDK client on an in-process booth with its own database and key."""
    client = ssoar.connect(
        db=tmp_path / "s.db", key_file=tmp_path / "s.key", tenant=TENANT
    )
    yield client
    client.close()


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def clocked_booth(tmp_path: Path, fake_clock: FakeClock) -> Iterator[LiveBooth]:
    """A LiveBooth whose time is the fake clock's."""
    settings = load_settings(
        {"db": str(tmp_path / "clocked.db"), "key_file": str(tmp_path / "s.key")}
    )
    booth = LiveBooth(settings, clock=fake_clock)
    yield booth
    booth.close()


@pytest.fixture
def clocked_client(clocked_booth: LiveBooth) -> Iterator[Client]:
    """An SDK client sharing the fake-clock booth in process."""
    client = ssoar.connect(booth=clocked_booth, tenant=TENANT)
    yield client
    client.close()


@pytest.fixture
def booth_service(clocked_booth: LiveBooth) -> Iterator[BoothService]:
    """The fake-clock booth served over HTTP on 127.0.0.1."""
    with serve_booth(clocked_booth) as service:
        yield service


@pytest.fixture
def http_client(booth_service: BoothService) -> Iterator[Client]:
    """An SDK client that reaches the fake-clock booth over HTTP."""
    client = ssoar.connect(booth_service.url, api_key=booth_service.api_key)
    yield client
    client.close()


@pytest.fixture
def stub_upstream() -> Iterator[StubUpstream]:
    """A stub OpenAI chat completions server on 127.0.0.1 at a free port."""
    with run_stub_upstream() as stub:
        yield stub


@pytest.fixture
def openai_client(stub_upstream: StubUpstream) -> Iterator[openai.OpenAI]:
    """An OpenAI client that talks only to the stub upstream, without retries."""
    client = openai.OpenAI(
        base_url=stub_upstream.url + "/v1", api_key="test", max_retries=0
    )
    yield client
    client.close()

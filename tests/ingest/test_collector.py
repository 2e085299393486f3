"""The import turns automatic garbage collection off, and always back on."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from ssoar.ingest._pipeline import _fewer_collections


@pytest.fixture
def collector_on() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.enable()
    yield
    if not was_enabled:
        gc.disable()


def test_off_during_import(collector_on: None) -> None:
    with _fewer_collections():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_back_on_after_error(collector_on: None) -> None:
    with pytest.raises(RuntimeError), _fewer_collections():
        raise RuntimeError("import failed")
    assert gc.isenabled()


def test_stays_off_if_disabled(collector_on: None) -> None:
    gc.disable()
    with _fewer_collections():
        pass
    assert not gc.isenabled()

"""Shared fixtures: access to the real input files under SSOAR_REAL_DATA."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def real_data_path(relative: str) -> Path:
    """Return a path under SSOAR_REAL_DATA, skipping or failing when it is missing.

    The real traces, price tables and proof vectors are not part of this
    repository. When SSOAR_REQUIRE_SHARED_DATA=1 a missing file fails the test,
    so CI cannot pass by skipping everything.
    """
    root = os.environ.get("SSOAR_REAL_DATA")
    required = os.environ.get("SSOAR_REQUIRE_SHARED_DATA") == "1"
    if not root:
        message = "SSOAR_REAL_DATA is not set; point it at the real input folder"
        if required:
            pytest.fail(message)
        pytest.skip(message)
    path = Path(root) / relative
    if not path.exists():
        message = f"real input {path} is missing"
        if required:
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
def real_data() -> type[RealData]:
    """Give tests a way to reach real input files."""
    return RealData


class RealData:
    """Access to files under SSOAR_REAL_DATA."""

    path = staticmethod(real_data_path)

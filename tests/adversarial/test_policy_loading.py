"""Policy files that are large, deeply nested or use unsupported Cedar features.

``ssoar policy check`` is what operators run before deploying policies, so it
must return a verdict on every file: valid, or an error naming the file and
line. It must never die with a Python traceback or a segmentation fault in
Cedar's parser. Each check runs in a subprocess, because a crash in Cedar's
native code would otherwise take the test run down with it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PERMIT_HEAD = '@id("tenant.deep") permit (principal, action, resource) when { '


def _check(path: Path, *options: str) -> subprocess.CompletedProcess[str]:
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith("SSOAR_")
    }
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "from ssoar.cli import main; main()",
            "policy",
            "check",
            str(path),
            *options,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=path.parent,
        env=environment,
        check=False,
    )


NESTED_CONDITIONS = {
    "parentheses": "(" * 5000 + "true" + ")" * 5000,
    "and chain": " && ".join(["true"] * 20000),
    "nested sets": "[" * 3000 + "]" * 3000 + " == []",
    "nested records": "{a: " * 3000 + "1" + "}" * 3000 + " == {}",
    "if chain": "if true then " * 2000 + "true" + " else false" * 2000,
}


@pytest.mark.parametrize("case", sorted(NESTED_CONDITIONS))
def test_nested_condition_rejected(tmp_path: Path, case: str) -> None:
    path = tmp_path / "deep.cedar"
    path.write_text(PERMIT_HEAD + NESTED_CONDITIONS[case] + " };\n", encoding="utf-8")

    completed = _check(path)

    assert completed.returncode == 1, (completed.returncode, completed.stderr[-500:])
    assert "Traceback" not in completed.stderr
    assert "deep.cedar:1" in completed.stderr


def test_long_allow_list_checked(tmp_path: Path) -> None:
    # A valid policy: one model id per alternative, 500 of them.
    alternatives = " || ".join(f'context.model == "model-{i}"' for i in range(500))
    path = tmp_path / "models.cedar"
    path.write_text(
        '@id("tenant.models.allow-list")\n'
        'permit (principal, action == Action::"model_invocation", resource)\n'
        f"when {{ context has model && ({alternatives}) }};\n",
        encoding="utf-8",
    )

    completed = _check(path)

    assert "Traceback" not in completed.stderr, completed.stderr[-500:]
    if completed.returncode == 0:
        assert "1 policies valid" in completed.stdout
    else:
        assert completed.returncode == 1
        assert "models.cedar:1" in completed.stderr


def test_template_error_names_file(tmp_path: Path) -> None:
    path = tmp_path / "tenant.cedar"
    path.write_text(
        '@id("tenant.ok") permit (principal, action, resource);\n'
        '@id("tenant.linked") permit (principal == ?principal, action, resource);\n',
        encoding="utf-8",
    )

    completed = _check(path)

    assert completed.returncode == 1
    assert "tenant.cedar:2" in completed.stderr

"""Doctored proof documents against tools/ssoar-verify-proof.

The tool takes the public key from the document and prints the id of the key
that signed, for the reader to compare with the key they trust. That id must
be computed from the attached key: a document that names the trusted key's id
beside another key must not verify under the trusted id.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from typer.testing import CliRunner, Result

from ssoar.cli import app

TOOL = Path(__file__).resolve().parents[2] / "tools" / "ssoar-verify-proof"
SESSION = "conv:ticket"


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "SSOAR_DB",
        "SSOAR_KEY_FILE",
        "SSOAR_TENANT",
        "SSOAR_TEMPLATE",
        "SSOAR_CONFIG",
        "SSOAR_POLICY_DIR",
        "SSOAR_TEMPLATE_POLICIES",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def _invoke(*arguments: str) -> Result:
    return CliRunner().invoke(app, list(arguments), env={"COLUMNS": "200"})


def _key_id(public_key: bytes) -> str:
    return "ed25519:" + hashlib.sha256(public_key).hexdigest()[:16]


def _genuine_proof(tmp_path: Path) -> dict[str, Any]:
    values = {
        "gen_ai.operation.name": {"stringValue": "chat"},
        "gen_ai.provider.name": {"stringValue": "openai"},
        "gen_ai.request.model": {"stringValue": "gpt-4o-mini"},
        "gen_ai.conversation.id": {"stringValue": "ticket"},
        "gen_ai.usage.input_tokens": {"intValue": "10"},
        "gen_ai.usage.output_tokens": {"intValue": "5"},
    }
    span = {
        "traceId": "ab" * 16,
        "spanId": "00000000000000a1",
        "name": "chat gpt-4o-mini",
        "startTimeUnixNano": "1764840000000000000",
        "endTimeUnixNano": "1764840001000000000",
        "attributes": [{"key": key, "value": value} for key, value in values.items()],
    }
    trace = tmp_path / "trace.json"
    trace.write_text(
        json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}),
        encoding="utf-8",
    )
    db = tmp_path / "ssoar.db"
    assert _invoke("import", str(trace), "--db", str(db)).exit_code == 0
    result = _invoke("prove", SESSION, f"{'ab' * 16}/00000000000000a1", "--db", str(db))
    assert result.exit_code == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def _run_tool(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(TOOL), str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _forged_document(trusted_key_id: str) -> tuple[dict[str, Any], str]:
    """Return a one-leaf proof signed by a fresh key that names the trusted id."""
    record = json.dumps(
        {
            "type": "crossing",
            "session_id": SESSION,
            "crossing": {"crossing_id": "forged/1"},
        },
        separators=(",", ":"),
    ).encode("utf-8")
    leaf_hash = hashlib.sha256(b"\x00" + record).digest()
    key = Ed25519PrivateKey.generate()
    public_key = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    settlement = json.dumps(
        {
            "session_id": SESSION,
            "state": "settled",
            "merkle_root": leaf_hash.hex(),
            "tree_size": 1,
            "key_id": trusted_key_id,
        }
    ).encode("utf-8")
    document = {
        "format": "ssoar-inclusion-proof/1",
        "session_id": SESSION,
        "record_id": "forged/1",
        "leaf_index": 0,
        "tree_size": 1,
        "record": base64.b64encode(record).decode("ascii"),
        "leaf_hash": leaf_hash.hex(),
        "proof": [],
        "root": leaf_hash.hex(),
        "settlement": {
            "record": base64.b64encode(settlement).decode("ascii"),
            "signature": base64.b64encode(key.sign(settlement)).decode("ascii"),
            "public_key": public_key.hex(),
            "key_id": trusted_key_id,
        },
    }
    return document, _key_id(public_key)


def test_forged_key_id_not_trusted(tmp_path: Path) -> None:
    genuine = _genuine_proof(tmp_path)
    trusted_key_id = genuine["settlement"]["key_id"]
    assert trusted_key_id == _key_id(bytes.fromhex(genuine["settlement"]["public_key"]))
    document, forger_key_id = _forged_document(trusted_key_id)
    path = tmp_path / "forged.json"
    path.write_text(json.dumps(document), encoding="utf-8")

    completed = _run_tool(path)

    assert f"signature valid (key {trusted_key_id})" not in completed.stdout
    assert (
        completed.returncode != 0
        or f"signature valid (key {forger_key_id})" in completed.stdout
    ), completed.stdout


@pytest.mark.parametrize("record", [b"[]", b'"crossing"', b"7"])
def test_record_not_object(tmp_path: Path, record: bytes) -> None:
    document = _genuine_proof(tmp_path)
    document["record"] = base64.b64encode(record).decode("ascii")
    path = tmp_path / "proof.json"
    path.write_text(json.dumps(document), encoding="utf-8")

    completed = _run_tool(path)

    assert "Traceback" not in completed.stderr, completed.stderr
    assert completed.returncode == 1
    assert "record check failed" in completed.stderr


def test_leaf_index_too_long(tmp_path: Path) -> None:
    # Python's json rejects integers of more than 4300 digits with a plain
    # ValueError, not a JSONDecodeError.
    document = _genuine_proof(tmp_path)
    text = json.dumps(document).replace(
        f'"leaf_index": {document["leaf_index"]}', '"leaf_index": ' + "9" * 5000
    )
    path = tmp_path / "proof.json"
    path.write_text(text, encoding="utf-8")

    completed = _run_tool(path)

    assert "Traceback" not in completed.stderr, completed.stderr
    assert completed.returncode == 2

"""``ssoar prove`` documents, checked by tools/ssoar-verify-proof as a subprocess."""

from __future__ import annotations

import base64
import json
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from ssoar.audit._proof import InclusionProofDocument, ProofError
from ssoar.cli import app

TOOL = Path(__file__).resolve().parents[2] / "tools" / "ssoar-verify-proof"
TRACE = "traces/langfuse/openai-agents-2025-09-30.trace.json"
SESSION_ID = "trace:fee618f96dc31e0ca38b2f7b26eb8b29"


@dataclass(frozen=True)
class Proved:
    """A settled session and the ids of its crossings, in log order."""

    db: Path
    crossing_ids: list[str]


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "SSOAR_DB",
        "SSOAR_KEY_FILE",
        "SSOAR_TENANT",
        "SSOAR_CONFIG",
        "SSOAR_TEMPLATE_POLICIES",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def invoke(*arguments: str) -> Result:
    return CliRunner().invoke(app, list(arguments), env={"COLUMNS": "80"})


@pytest.fixture
def proved(real_data: Any, tmp_path: Path) -> Proved:
    db = tmp_path / "ssoar.db"
    result = invoke(
        "import",
        str(real_data.path(TRACE)),
        "--db",
        str(db),
        "--key-file",
        str(tmp_path / "ssoar.key"),
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    with sqlite3.connect(db) as connection:
        crossing_ids = [
            row[0]
            for row in connection.execute(
                "SELECT record_id FROM audit_leaves WHERE session_id = ? AND "
                "record_type = 'crossing' ORDER BY leaf_index",
                (SESSION_ID,),
            )
        ]
    assert len(crossing_ids) == 6
    return Proved(db, crossing_ids)


def prove(db: Path, session_id: str, record_id: str) -> Result:
    return invoke("prove", session_id, record_id, "--db", str(db))


def run_tool(
    document: dict[str, Any], folder: Path
) -> subprocess.CompletedProcess[str]:
    path = folder / "proof.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return subprocess.run(
        [sys.executable, str(TOOL), str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _proof_of(proved: Proved, position: int) -> dict[str, Any]:
    result = prove(proved.db, SESSION_ID, proved.crossing_ids[position])
    assert result.exit_code == 0, result.stderr
    return dict(json.loads(result.stdout))


def _flip_base64(text: str, position: int) -> str:
    data = bytearray(base64.b64decode(text))
    data[position % len(data)] ^= 0x01
    return base64.b64encode(bytes(data)).decode("ascii")


def _flip_hex(text: str, position: int) -> str:
    data = bytearray(bytes.fromhex(text))
    data[position % len(data)] ^= 0x01
    return bytes(data).hex()


def _tampered(document: dict[str, Any], part: str, position: int) -> dict[str, Any]:
    """Return a copy with one byte of ``part`` flipped."""
    copy = json.loads(json.dumps(document))
    if part == "record":
        copy["record"] = _flip_base64(copy["record"], position)
    elif part == "proof":
        copy["proof"][0] = _flip_hex(copy["proof"][0], position)
    elif part == "root":
        copy["root"] = _flip_hex(copy["root"], position)
    elif part == "signature":
        settlement = copy["settlement"]
        settlement["signature"] = _flip_base64(settlement["signature"], position)
    else:
        settlement = copy["settlement"]
        settlement["record"] = _flip_base64(settlement["record"], position)
    return copy


def test_prove_every_crossing_exits_0(proved: Proved) -> None:
    codes = {
        crossing_id: prove(proved.db, SESSION_ID, crossing_id).exit_code
        for crossing_id in proved.crossing_ids
    }
    assert codes == dict.fromkeys(proved.crossing_ids, 0)


def test_tool_accepts_every_crossing(proved: Proved, tmp_path: Path) -> None:
    """The standalone checker accepts the proof of each crossing of the session."""
    rejected: dict[str, str] = {}
    first_lines: list[str] = []
    for position, crossing_id in enumerate(proved.crossing_ids):
        completed = run_tool(_proof_of(proved, position), tmp_path)
        if completed.returncode != 0:
            rejected[crossing_id] = f"exit {completed.returncode}: {completed.stderr}"
        first_lines.append(completed.stdout.splitlines()[0])
    assert rejected == {}
    assert first_lines == [
        f"record is {crossing_id} of session {SESSION_ID}"
        for crossing_id in proved.crossing_ids
    ]


def test_library_accepts_every_crossing(proved: Proved) -> None:
    """``InclusionProofDocument.verify`` accepts what ``ssoar prove`` prints."""
    rejected: dict[str, str] = {}
    for position, crossing_id in enumerate(proved.crossing_ids):
        document = InclusionProofDocument.from_json(_proof_of(proved, position))
        try:
            document.verify()
        except ValueError as error:
            rejected[crossing_id] = str(error)
    assert rejected == {}


def test_proof_matches_stored_log(proved: Proved) -> None:
    """The document states the leaf position, size and root of the stored log."""
    with sqlite3.connect(proved.db) as connection:
        leaf_index, tree_size = connection.execute(
            "SELECT leaf_index, (SELECT count(*) FROM audit_leaves WHERE "
            "session_id = ?) FROM audit_leaves WHERE session_id = ? AND record_id = ?",
            (SESSION_ID, SESSION_ID, proved.crossing_ids[2]),
        ).fetchone()
        (merkle_root,) = connection.execute(
            "SELECT merkle_root FROM settlements WHERE session_id = ?", (SESSION_ID,)
        ).fetchone()
    document = _proof_of(proved, 2)
    assert document["session_id"] == SESSION_ID
    assert document["record_id"] == proved.crossing_ids[2]
    assert document["leaf_index"] == leaf_index
    assert document["tree_size"] == tree_size
    assert document["root"] == merkle_root


def test_prove_output_file(proved: Proved, tmp_path: Path) -> None:
    """``--output`` writes the same document that stdout would carry."""
    output = tmp_path / "written.json"
    result = invoke(
        "prove",
        SESSION_ID,
        proved.crossing_ids[0],
        "--db",
        str(proved.db),
        "--output",
        str(output),
    )
    assert result.exit_code == 0
    assert result.stdout == ""
    assert json.loads(output.read_text(encoding="utf-8")) == _proof_of(proved, 0)


# A flipped settlement byte breaks its JSON (root check) or only its bytes
# (signature check), depending on where it lands.
SETTLEMENT_CHECKS = ("settlement root check failed", "signature check failed")
# Flipping the first or last byte of the record breaks its JSON, which the
# record check, run first, rejects. An inner byte leaves the JSON readable.
RECORD_JSON_BROKEN = {0, -1}


@pytest.mark.parametrize(
    ("part", "failed_checks"),
    [
        ("record", ("leaf hash check failed",)),
        ("proof", ("inclusion proof check failed",)),
        ("root", ("inclusion proof check failed",)),
        ("signature", ("signature check failed",)),
        ("settlement record", SETTLEMENT_CHECKS),
    ],
)
@pytest.mark.parametrize("position", [0, 17, -1], ids=["first", "inner", "last"])
def test_tool_rejects_flipped_byte(
    proved: Proved,
    tmp_path: Path,
    part: str,
    failed_checks: tuple[str, ...],
    position: int,
) -> None:
    if part == "record" and position in RECORD_JSON_BROKEN:
        failed_checks = ("record check failed: not an audit record",)
    document = _tampered(_proof_of(proved, 2), part, position)
    completed = run_tool(document, tmp_path)
    assert completed.returncode == 1
    prefix = "ssoar-verify-proof: FAILED: "
    assert completed.stderr.startswith(prefix)
    assert completed.stderr.removeprefix(prefix).startswith(failed_checks)


def test_tool_rejects_other_record_id(proved: Proved, tmp_path: Path) -> None:
    """A document whose record_id names another crossing than its record is rejected."""
    document = _proof_of(proved, 2)
    document["record_id"] = proved.crossing_ids[3]
    message = (
        f"record check failed: the document names {proved.crossing_ids[3]!r} in "
        f"session {SESSION_ID!r}, but the record is {proved.crossing_ids[2]!r} in "
        f"session {SESSION_ID!r}"
    )
    completed = run_tool(document, tmp_path)
    assert completed.returncode == 1
    assert completed.stdout == ""
    assert completed.stderr == f"ssoar-verify-proof: FAILED: {message}\n"
    with pytest.raises(ProofError) as raised:
        InclusionProofDocument.from_json(document).verify()
    assert str(raised.value) == message


def test_prove_unknown_session_exits_2(proved: Proved) -> None:
    result = prove(proved.db, "conv:no-such-session", proved.crossing_ids[0])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "session 'conv:no-such-session' is not stored" in " ".join(
        result.stderr.split()
    )


def test_prove_unknown_crossing_exits_2(proved: Proved) -> None:
    result = prove(proved.db, SESSION_ID, "no-such-crossing")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert f"session {SESSION_ID!r} has no record 'no-such-crossing'" in " ".join(
        result.stderr.split()
    )

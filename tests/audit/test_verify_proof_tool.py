"""Tests for tools/ssoar-verify-proof, run as a separate process."""

from __future__ import annotations

import ast
import base64
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ssoar.audit._merkle import (
    ProofError,
    hash_leaf,
    inclusion_proof,
    root_from_leaf_hashes,
    verify_inclusion,
)
from ssoar.audit._proof import InclusionProofDocument
from ssoar.audit._signing import compute_key_id

TOOL = Path(__file__).resolve().parents[2] / "tools" / "ssoar-verify-proof"
TREE_SIZE = 7
LEAF_INDEX = 3
KEY_ID = "settlement-key-1"
"""The document's key_id field, which the tool ignores in favour of the id it
computes from the public key."""


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def build_document_json(signed: bool = True) -> dict[str, Any]:
    """Build the JSON form of a valid document with the library."""
    records = [
        canonical_json(
            {
                "type": "crossing",
                "session_id": "sess-1",
                "crossing": {"crossing_id": f"rec-{i}"},
                "seq": i,
            }
        )
        for i in range(TREE_SIZE)
    ]
    leaf_hashes = [hash_leaf(record) for record in records]
    root = root_from_leaf_hashes(leaf_hashes)
    settlement = None
    if signed:
        key = Ed25519PrivateKey.generate()
        statement = canonical_json(
            {"session_id": "sess-1", "merkle_root": root.hex(), "tree_size": TREE_SIZE}
        )
        public_key = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        settlement = {
            "record": base64.b64encode(statement).decode(),
            "signature": base64.b64encode(key.sign(statement)).decode(),
            "public_key": public_key.hex(),
            "key_id": KEY_ID,
        }
    document = InclusionProofDocument(
        session_id="sess-1",
        record_id=f"rec-{LEAF_INDEX}",
        leaf_index=LEAF_INDEX,
        tree_size=TREE_SIZE,
        record=records[LEAF_INDEX],
        leaf_hash=leaf_hashes[LEAF_INDEX],
        proof=inclusion_proof(LEAF_INDEX, leaf_hashes),
        root=root,
        settlement=settlement,
    )
    return document.to_json()


def signer_key_id(data: dict[str, Any]) -> str:
    """Return ssoar's key id of the public key a document's settlement carries."""
    return compute_key_id(bytes.fromhex(data["settlement"]["public_key"]))


def other_public_key_hex() -> str:
    """Return the public key of a freshly generated key that signed nothing."""
    key = Ed25519PrivateKey.generate()
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


def run_tool(
    *arguments: str, stdin: bytes | None = None, python_code: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the tool with this interpreter, or run ``python_code`` instead."""
    command = [sys.executable, str(TOOL), *arguments]
    if python_code is not None:
        command = [sys.executable, "-c", python_code, *arguments]
    completed = subprocess.run(
        command,
        input=stdin,
        capture_output=True,
        timeout=60,
        check=False,
    )
    return subprocess.CompletedProcess(
        completed.args,
        completed.returncode,
        completed.stdout.decode(),
        completed.stderr.decode(),
    )


def write_json(path: Path, value: Any) -> str:
    path.write_text(json.dumps(value))
    return str(path)


def flip_hex(text: str, position: int = 0) -> str:
    changed = bytearray.fromhex(text)
    changed[position] ^= 0x01
    return changed.hex()


def flip_base64(text: str, position: int = 0) -> str:
    changed = bytearray(base64.b64decode(text))
    changed[position] ^= 0x01
    return base64.b64encode(changed).decode()


# --- The script itself ------------------------------------------------------


def test_tool_is_executable_python3_script() -> None:
    assert TOOL.read_text().splitlines()[0] == "#!/usr/bin/env python3"
    assert os.access(TOOL, os.X_OK)


def test_tool_imports_only_stdlib_and_cryptography() -> None:
    tree = ast.parse(TOOL.read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert "ssoar" not in imported
    assert imported - sys.stdlib_module_names == {"cryptography"}


# --- Documents --------------------------------------------------------------


def test_tool_accepts_valid_document(tmp_path: Path) -> None:
    data = build_document_json()
    result = run_tool(write_json(tmp_path / "proof.json", data))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"record is rec-{LEAF_INDEX} of session sess-1",
        "leaf hash matches record",
        f"inclusion proof reaches root {data['root']} at size {TREE_SIZE}",
        "settlement root matches",
        f"signature valid (key {signer_key_id(data)})",
    ]
    assert result.stderr == ""


def test_tool_reads_stdin() -> None:
    data = build_document_json()
    result = run_tool("-", stdin=json.dumps(data).encode())
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == (
        f"signature valid (key {signer_key_id(data)})"
    )


def test_tool_prints_key_id_of_public_key(tmp_path: Path) -> None:
    """The printed id comes from the key, never from the document's key_id."""
    data = build_document_json()
    data["settlement"]["key_id"] = "ed25519:0000000000000000"
    result = run_tool(write_json(tmp_path / "proof.json", data))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == (
        f"signature valid (key {signer_key_id(data)})"
    )
    assert "ed25519:0000000000000000" not in result.stdout


def test_tool_help_lists_exit_status() -> None:
    result = run_tool("--help")
    assert result.returncode == 0
    assert "  0  every check passed" in result.stdout
    assert "  1  a check failed" in result.stdout
    assert "  2  the command line is invalid" in result.stdout
    assert "  3  every other check passed, but the signature was not" in result.stdout


def test_tool_accepts_unsigned_document(tmp_path: Path) -> None:
    result = run_tool(write_json(tmp_path / "p.json", build_document_json(False)))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == (
        "no settlement attached: the root is not signed"
    )


def test_tool_no_signature_option(tmp_path: Path) -> None:
    data = build_document_json()
    data["settlement"]["signature"] = flip_base64(data["settlement"]["signature"])
    result = run_tool("--no-signature", write_json(tmp_path / "p.json", data))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-2:] == [
        "settlement root matches",
        "signature not checked (--no-signature)",
    ]


# --- Pinning the signer with --public-key -----------------------------------


@pytest.mark.parametrize("spelling", [str.lower, str.upper])
def test_tool_public_key_matching_signer(tmp_path: Path, spelling: Any) -> None:
    data = build_document_json()
    trusted = spelling(data["settlement"]["public_key"])
    path = write_json(tmp_path / "proof.json", data)
    result = run_tool("--public-key", trusted, path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"record is rec-{LEAF_INDEX} of session sess-1",
        "leaf hash matches record",
        f"inclusion proof reaches root {data['root']} at size {TREE_SIZE}",
        "settlement root matches",
        "signer is the trusted key",
        f"signature valid (key {signer_key_id(data)})",
    ]
    assert result.stderr == ""


def test_tool_public_key_other_signer(tmp_path: Path) -> None:
    data = build_document_json()
    trusted = other_public_key_hex()
    path = write_json(tmp_path / "proof.json", data)
    result = run_tool("--public-key", trusted, path)
    assert result.returncode == 1
    assert result.stderr == (
        "ssoar-verify-proof: FAILED: signer check failed: the settlement is signed "
        f"with public key {data['settlement']['public_key']}, not the trusted key "
        f"{trusted}\n"
    )
    assert result.stdout.splitlines()[-1] == "settlement root matches"
    assert "signature valid" not in result.stdout


def test_tool_public_key_unsigned_document(tmp_path: Path) -> None:
    data = build_document_json(signed=False)
    path = write_json(tmp_path / "proof.json", data)
    result = run_tool("--public-key", other_public_key_hex(), path)
    assert result.returncode == 1
    assert result.stderr == (
        "ssoar-verify-proof: FAILED: signer check failed: the document has no "
        "settlement, so nothing shows that the trusted key signed its root\n"
    )


def test_tool_public_key_forged_signature(tmp_path: Path) -> None:
    """The signer's key matches, but its signature over the record does not."""
    data = build_document_json()
    trusted = data["settlement"]["public_key"]
    flip_signature(data)
    result = run_tool("--public-key", trusted, write_json(tmp_path / "p.json", data))
    assert result.returncode == 1
    assert "FAILED: signature check failed" in result.stderr


@pytest.mark.parametrize(
    "value", ["xyz", "ab" * 31, "ab" * 33, "g" * 64, " " + "ab" * 32]
)
def test_tool_public_key_invalid(tmp_path: Path, value: str) -> None:
    path = write_json(tmp_path / "proof.json", build_document_json())
    result = run_tool("--public-key", value, path)
    assert result.returncode == 2
    assert (
        f"argument --public-key: {value!r} is not 64 hex digits; 'ssoar key show' "
        "prints the public key"
    ) in result.stderr
    assert result.stdout == ""


def test_tool_public_key_with_no_signature(tmp_path: Path) -> None:
    data = build_document_json()
    path = write_json(tmp_path / "proof.json", data)
    result = run_tool(
        "--public-key", data["settlement"]["public_key"], "--no-signature", path
    )
    assert result.returncode == 2
    assert "--public-key needs the signature check; drop --no-signature" in (
        result.stderr
    )


def test_tool_public_key_with_vectors(tmp_path: Path) -> None:
    leaf_hashes = [hash_leaf(bytes([i])) for i in range(5)]
    vector = make_vector(2, 5, leaf_hashes, inclusion_proof(2, leaf_hashes))
    path = write_json(tmp_path / "vector.json", vector)
    result = run_tool("--public-key", other_public_key_hex(), "--vector", path)
    assert result.returncode == 2
    assert "--public-key applies to a proof document, not to --vector" in (
        result.stderr
    )


def flip_record(data: dict[str, Any]) -> None:
    """Flip a byte of the record's ``seq`` value, so it still names its id."""
    record = base64.b64decode(data["record"])
    data["record"] = flip_base64(data["record"], record.index(b'"seq":') + 6)


def flip_record_id(data: dict[str, Any]) -> None:
    """Flip the last byte of the crossing id the record states."""
    record = base64.b64decode(data["record"])
    data["record"] = flip_base64(data["record"], record.index(b"rec-") + 4)


def flip_proof(data: dict[str, Any]) -> None:
    data["proof"][1] = flip_hex(data["proof"][1], 7)


def flip_root(data: dict[str, Any]) -> None:
    data["root"] = flip_hex(data["root"], 31)


def flip_signature(data: dict[str, Any]) -> None:
    data["settlement"]["signature"] = flip_base64(data["settlement"]["signature"], 9)


def flip_settlement_root(data: dict[str, Any]) -> None:
    statement = json.loads(base64.b64decode(data["settlement"]["record"]))
    statement["merkle_root"] = flip_hex(statement["merkle_root"])
    data["settlement"]["record"] = base64.b64encode(canonical_json(statement)).decode()


@pytest.mark.parametrize(
    ("change", "failed_step", "passed_lines"),
    [
        (flip_record_id, "record check failed", 0),
        (flip_record, "leaf hash check failed", 1),
        (flip_proof, "inclusion proof check failed", 2),
        (flip_root, "inclusion proof check failed", 2),
        (flip_settlement_root, "settlement root check failed", 3),
        (flip_signature, "signature check failed", 4),
    ],
)
def test_tool_rejects_flipped_byte(
    tmp_path: Path, change: Any, failed_step: str, passed_lines: int
) -> None:
    data = build_document_json()
    change(data)
    result = run_tool(write_json(tmp_path / "proof.json", data))
    assert result.returncode == 1
    assert f"FAILED: {failed_step}" in result.stderr
    assert len(result.stdout.splitlines()) == passed_lines


@pytest.mark.parametrize(
    ("field", "value", "stated"),
    [
        ("record_id", "rec-4", "'rec-4' in session 'sess-1'"),
        ("session_id", "sess-2", "'rec-3' in session 'sess-2'"),
    ],
)
def test_tool_rejects_other_record(
    tmp_path: Path, field: str, value: str, stated: str
) -> None:
    """A valid proof of one record does not prove another id or session."""
    data = build_document_json()
    data[field] = value
    result = run_tool(write_json(tmp_path / "proof.json", data))
    assert result.returncode == 1
    assert result.stdout == ""
    assert (
        f"FAILED: record check failed: the document names {stated}, but the record "
        "is 'rec-3' in session 'sess-1'"
    ) in result.stderr


@pytest.mark.parametrize(
    ("record", "kind"), [(b"[]", "list"), (b'"crossing"', "str"), (b"7", "int")]
)
def test_tool_record_not_object(tmp_path: Path, record: bytes, kind: str) -> None:
    data = build_document_json()
    data["record"] = base64.b64encode(record).decode()
    result = run_tool(write_json(tmp_path / "proof.json", data))
    assert result.returncode == 1
    assert result.stderr == (
        "ssoar-verify-proof: FAILED: record check failed: not an audit record "
        f"(the record is a JSON {kind}, not an object)\n"
    )


# Python's json module raises a plain ValueError, not a JSONDecodeError, for an
# integer of more than 4300 digits.
HUGE_INTEGER = "9" * 5000


def test_tool_huge_integer_in_document(tmp_path: Path) -> None:
    data = build_document_json()
    text = json.dumps(data).replace(
        f'"leaf_index": {LEAF_INDEX}', f'"leaf_index": {HUGE_INTEGER}'
    )
    path = tmp_path / "proof.json"
    path.write_text(text)
    result = run_tool(str(path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "unreadable proof document" in result.stderr
    assert "not valid JSON" in result.stderr


def test_tool_huge_integer_in_settlement(tmp_path: Path) -> None:
    data = build_document_json()
    statement = f'{{"merkle_root": "{data["root"]}", "tree_size": {HUGE_INTEGER}}}'
    data["settlement"]["record"] = base64.b64encode(statement.encode()).decode()
    result = run_tool(write_json(tmp_path / "proof.json", data))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert (
        "FAILED: settlement root check failed: settlement record is not JSON"
        in result.stderr
    )


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"not json", "not valid JSON"),
        (b"\xff\xfe\x00", "not valid JSON"),
        (b"[]", "not a JSON object"),
        (b"{}", "'format' is missing"),
        (b'{"format": "ssoar-inclusion-proof/9"}', "unsupported format"),
    ],
)
def test_tool_garbage_input(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "proof.json"
    path.write_bytes(content)
    result = run_tool(str(path))
    assert result.returncode == 2
    assert "unreadable proof document" in result.stderr
    assert expected in result.stderr


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("leaf_index", "3", "'leaf_index' must be an integer"),
        ("tree_size", True, "'tree_size' must be an integer"),
        ("root", "00" * 31, "'root' must be 64 lowercase hex digits"),
        ("proof", ["00" * 32, 1], "'proof[1]' must be a hex string"),
        ("record", "%%%", "'record' is not valid base64"),
        ("settlement", [], "'settlement' must be a JSON object or null"),
        ("extra", 1, "unknown fields ['extra']"),
    ],
)
def test_tool_malformed_document(
    tmp_path: Path, field: str, value: Any, expected: str
) -> None:
    data = build_document_json()
    data[field] = value
    result = run_tool(write_json(tmp_path / "proof.json", data))
    assert result.returncode == 2
    assert expected in result.stderr


def test_tool_missing_file(tmp_path: Path) -> None:
    result = run_tool(str(tmp_path / "absent.json"))
    assert result.returncode == 2
    assert "cannot read the file" in result.stderr


def test_tool_requires_an_input() -> None:
    result = run_tool()
    assert result.returncode == 2
    assert "usage" in result.stderr


# The tool is run with `cryptography` blocked: a None entry in sys.modules makes
# every import of it raise ImportError.
WITHOUT_CRYPTOGRAPHY = (
    "import runpy, sys\n"
    "sys.modules['cryptography'] = None\n"
    f"sys.argv[0] = {str(TOOL)!r}\n"
    f"runpy.run_path({str(TOOL)!r}, run_name='__main__')\n"
)


def test_tool_without_cryptography(tmp_path: Path) -> None:
    path = write_json(tmp_path / "proof.json", build_document_json())
    result = run_tool(path, python_code=WITHOUT_CRYPTOGRAPHY)
    assert result.returncode == 3
    lines = result.stdout.splitlines()
    assert lines[0] == f"record is rec-{LEAF_INDEX} of session sess-1"
    assert lines[1] == "leaf hash matches record"
    assert lines[2].startswith("inclusion proof reaches root")
    assert lines[3] == "settlement root matches"
    assert lines[4].startswith("signature not checked")
    assert "pip install cryptography" in result.stderr


def test_tool_without_cryptography_no_signature(tmp_path: Path) -> None:
    path = write_json(tmp_path / "proof.json", build_document_json())
    result = run_tool("--no-signature", path, python_code=WITHOUT_CRYPTOGRAPHY)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "signature not checked (--no-signature)"


def test_tool_without_cryptography_public_key(tmp_path: Path) -> None:
    """Without cryptography a matching key still needs the signature: exit 3."""
    data = build_document_json()
    path = write_json(tmp_path / "proof.json", data)
    trusted = data["settlement"]["public_key"]
    result = run_tool("--public-key", trusted, path, python_code=WITHOUT_CRYPTOGRAPHY)
    assert result.returncode == 3
    assert result.stdout.splitlines()[4] == "signer is the trusted key"
    assert result.stdout.splitlines()[5].startswith("signature not checked")


def test_tool_without_cryptography_other_key(tmp_path: Path) -> None:
    path = write_json(tmp_path / "proof.json", build_document_json())
    result = run_tool(
        "--public-key", other_public_key_hex(), path, python_code=WITHOUT_CRYPTOGRAPHY
    )
    assert result.returncode == 1
    assert "FAILED: signer check failed" in result.stderr


def test_tool_without_cryptography_still_checks_merkle(tmp_path: Path) -> None:
    data = build_document_json()
    flip_proof(data)
    path = write_json(tmp_path / "proof.json", data)
    result = run_tool("--no-signature", path, python_code=WITHOUT_CRYPTOGRAPHY)
    assert result.returncode == 1
    assert "FAILED: inclusion proof check failed" in result.stderr


# --- Vector mode ------------------------------------------------------------


def test_tool_conformance_vectors(real_data: Any) -> None:
    directory = real_data.path("merkle/inclusion")
    files = sorted(
        str(path)
        for path in directory.rglob("*.json")
        if "subtree" not in path.relative_to(directory).parts
    )
    assert files, f"no vectors under {directory}"
    result = run_tool("--vector", *files)
    lines = result.stdout.splitlines()
    mismatches = [line for line in lines if not line.startswith("ok ")]
    assert mismatches == []
    assert result.stderr == ""
    assert len(lines) == len(files)
    assert result.returncode == 0


def make_vector(
    index: int, size: int, leaf_hashes: list[bytes], proof: list[bytes]
) -> dict[str, Any]:
    """Build a vector whose wantErr is the library's verify_inclusion outcome."""
    leaf_hash = leaf_hashes[min(index, len(leaf_hashes) - 1)]
    root = root_from_leaf_hashes(leaf_hashes)
    try:
        verify_inclusion(index, size, leaf_hash, proof, root)
    except ProofError:
        want_error = True
    else:
        want_error = False
    return {
        "leafIdx": index,
        "treeSize": size,
        "root": base64.b64encode(root).decode(),
        "leafHash": base64.b64encode(leaf_hash).decode(),
        "proof": [base64.b64encode(item).decode() for item in proof],
        "desc": f"index {index} size {size}",
        "wantErr": want_error,
    }


def test_tool_agrees_with_library(tmp_path: Path) -> None:
    # The tool implements RFC 9162's verification loop and the library the
    # transparency-dev decomposition, so agreement on many proof shapes checks
    # both. Each vector's wantErr is the library's outcome.
    files = []
    for size in range(1, 21):
        leaf_hashes = [hash_leaf(bytes([size, i])) for i in range(size)]
        for index in range(size):
            proof = inclusion_proof(index, leaf_hashes)
            cases = [
                (index, size, proof),
                (index + 1, size, proof),
                (index, size + 1, proof),
                (index, size - 1, proof),
                (index, size, proof[:-1]),
            ]
            for number, case in enumerate(cases):
                vector = make_vector(case[0], case[1], leaf_hashes, case[2])
                name = f"v-{size}-{index}-{number}.json"
                files.append(write_json(tmp_path / name, vector))
    result = run_tool("--vector", *files)
    mismatches = [line for line in result.stdout.splitlines() if "MISMATCH" in line]
    assert mismatches == []
    assert result.returncode == 0


def test_tool_vector_mismatch(tmp_path: Path) -> None:
    leaf_hashes = [hash_leaf(bytes([i])) for i in range(5)]
    vector = make_vector(2, 5, leaf_hashes, inclusion_proof(2, leaf_hashes))
    assert vector["wantErr"] is False
    good = write_json(tmp_path / "good.json", vector)
    vector["wantErr"] = True
    wrong = write_json(tmp_path / "wrong.json", vector)
    result = run_tool("--vector", good)
    assert result.returncode == 0
    result = run_tool("--vector", good, wrong)
    assert result.returncode == 1
    assert f"MISMATCH {wrong}: wantErr=True, accepted" in result.stdout


def test_tool_vector_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "vector.json"
    path.write_text('{"leafIdx": 0}')
    result = run_tool("--vector", str(path))
    assert result.returncode == 2
    assert "'wantErr' is missing" in result.stderr

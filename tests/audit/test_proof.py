"""Tests for the inclusion-proof document that `ssoar prove` prints."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from ssoar.audit._merkle import hash_leaf, inclusion_proof, root_from_leaf_hashes
from ssoar.audit._proof import PROOF_FORMAT, InclusionProofDocument, ProofError

PROPERTY_SETTINGS = settings(max_examples=200, deadline=None, database=None)
SIGNING_KEY = Ed25519PrivateKey.generate()


def canonical_json(value: Any) -> bytes:
    """Serialise like a canonical record: sorted keys, no whitespace."""
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def sign_settlement(
    statement: dict[str, Any], key: Ed25519PrivateKey = SIGNING_KEY
) -> dict[str, str]:
    """Build the JSON form of a signed settlement over ``statement``."""
    record = canonical_json(statement)
    public_key = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return {
        "record": base64.b64encode(record).decode(),
        "signature": base64.b64encode(key.sign(record)).decode(),
        "public_key": public_key.hex(),
        "key_id": "settlement-key-1",
    }


def build_document(
    tree_size: int = 7, leaf_index: int = 3, signed: bool = True
) -> InclusionProofDocument:
    """Build a valid document for one record of a session's audit log."""
    records = [
        canonical_json(
            {
                "type": "crossing",
                "session_id": "sess-1",
                "crossing": {"crossing_id": f"rec-{i}", "kind": "tool_call"},
                "seq": i,
            }
        )
        for i in range(tree_size)
    ]
    leaf_hashes = [hash_leaf(record) for record in records]
    root = root_from_leaf_hashes(leaf_hashes)
    settlement = None
    if signed:
        settlement = sign_settlement(
            {
                "session_id": "sess-1",
                "merkle_root": root.hex(),
                "tree_size": tree_size,
                "total_usd": "0.42",
            }
        )
    return InclusionProofDocument(
        session_id="sess-1",
        record_id=f"rec-{leaf_index}",
        leaf_index=leaf_index,
        tree_size=tree_size,
        record=records[leaf_index],
        leaf_hash=leaf_hashes[leaf_index],
        proof=inclusion_proof(leaf_index, leaf_hashes),
        root=root,
        settlement=settlement,
    )


def flip_byte(value: bytes, position: int, mask: int = 0x01) -> bytes:
    changed = bytearray(value)
    changed[position] ^= mask
    return bytes(changed)


def verify_error(document: InclusionProofDocument) -> str:
    """Return the message of the ProofError that verify raises."""
    with pytest.raises(ProofError) as caught:
        document.verify()
    return str(caught.value)


# --- JSON form --------------------------------------------------------------


def test_document_json_round_trip() -> None:
    document = build_document()
    text = json.dumps(document.to_json())
    assert InclusionProofDocument.from_json(json.loads(text)) == document


def test_document_json_encodings() -> None:
    document = build_document()
    data = document.to_json()
    assert data["format"] == PROOF_FORMAT == "ssoar-inclusion-proof/1"
    assert base64.b64decode(data["record"]) == document.record
    assert data["leaf_hash"] == document.leaf_hash.hex()
    assert data["proof"] == [item.hex() for item in document.proof]
    assert data["root"] == document.root.hex()
    assert data["settlement"] == document.settlement
    assert data["settlement"] is not document.settlement


def test_unsigned_document_round_trip() -> None:
    document = build_document(signed=False)
    assert document.to_json()["settlement"] is None
    assert InclusionProofDocument.from_json(document.to_json()) == document


def test_document_rejects_other_format() -> None:
    with pytest.raises(ProofError, match="'format'"):
        dataclasses.replace(build_document(), format="ssoar-inclusion-proof/2")


@pytest.mark.parametrize(
    "field",
    [
        "format",
        "session_id",
        "record_id",
        "leaf_index",
        "tree_size",
        "record",
        "leaf_hash",
        "proof",
        "root",
        "settlement",
    ],
)
def test_from_json_missing_field(field: str) -> None:
    data = build_document().to_json()
    del data[field]
    with pytest.raises(ProofError, match=f"'{field}' is missing"):
        InclusionProofDocument.from_json(data)


HEX_HASH = "ab" * 32


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("format", 1, "'format' must be a string"),
        ("format", "ssoar-inclusion-proof/2", "'format' must be 'ssoar-inclusion"),
        ("session_id", None, "'session_id' must be a string"),
        ("record_id", 7, "'record_id' must be a string"),
        ("leaf_index", "3", "'leaf_index' must be a non-negative integer"),
        ("leaf_index", True, "'leaf_index' must be a non-negative integer"),
        ("leaf_index", 3.0, "'leaf_index' must be a non-negative integer"),
        ("leaf_index", -1, "'leaf_index' must be a non-negative integer"),
        ("tree_size", None, "'tree_size' must be a non-negative integer"),
        ("record", b"raw".hex() + "!", "'record' must be standard base64"),
        ("record", ["a"], "'record' must be a string"),
        ("leaf_hash", HEX_HASH[:-2], "'leaf_hash' must be 64 lowercase hex digits"),
        ("leaf_hash", HEX_HASH.upper(), "'leaf_hash' must be 64 lowercase hex"),
        ("leaf_hash", base64.b64encode(bytes(32)).decode(), "'leaf_hash' must be 64"),
        ("root", HEX_HASH + "00", "'root' must be 64 lowercase hex digits"),
        ("root", 0, "'root' must be a string"),
        ("proof", HEX_HASH, "'proof' must be a list of hex hashes"),
        ("proof", [HEX_HASH, 5], r"'proof\[1\]' must be a string"),
        ("proof", [HEX_HASH, "zz" * 32], r"'proof\[1\]' must be 64 lowercase hex"),
        ("settlement", "signed", "'settlement': expected a JSON object"),
    ],
)
def test_from_json_ill_typed_field(field: str, value: Any, expected: str) -> None:
    data = build_document().to_json()
    data[field] = value
    with pytest.raises(ProofError, match=expected):
        InclusionProofDocument.from_json(data)


@pytest.mark.parametrize("field", ["record", "signature", "public_key", "key_id"])
def test_from_json_settlement_missing_field(field: str) -> None:
    data = build_document().to_json()
    del data["settlement"][field]
    with pytest.raises(ProofError, match=f"'settlement.{field}' is missing"):
        InclusionProofDocument.from_json(data)


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("record", "***", "'settlement.record' must be standard base64"),
        ("record", 5, "'settlement.record' must be a string"),
        ("signature", base64.b64encode(bytes(63)).decode(), "must decode to 64"),
        ("public_key", "ab" * 31, "'settlement.public_key' must be 64 lowercase"),
        ("key_id", None, "'settlement.key_id' must be a string"),
    ],
)
def test_from_json_settlement_ill_typed_field(
    field: str, value: Any, expected: str
) -> None:
    data = build_document().to_json()
    data["settlement"][field] = value
    with pytest.raises(ProofError, match=expected):
        InclusionProofDocument.from_json(data)


def test_from_json_rejects_unknown_fields() -> None:
    data = build_document().to_json()
    data["comment"] = "extra"
    with pytest.raises(ProofError, match=r"unknown fields \['comment'\]"):
        InclusionProofDocument.from_json(data)
    data = build_document().to_json()
    data["settlement"]["algorithm"] = "ed25519"
    with pytest.raises(ProofError, match=r"unknown fields \['algorithm'\]"):
        InclusionProofDocument.from_json(data)


@pytest.mark.parametrize("value", [None, [], "text", 3])
def test_from_json_rejects_non_object(value: Any) -> None:
    with pytest.raises(ProofError, match="expected a JSON object"):
        InclusionProofDocument.from_json(value)


def test_from_json_format_checked_first() -> None:
    data = build_document().to_json()
    data["format"] = "ssoar-inclusion-proof/2"
    data["new_field"] = 1
    with pytest.raises(ProofError, match="'format' must be"):
        InclusionProofDocument.from_json(data)


# --- Verification -----------------------------------------------------------


def test_verify_accepts_signed_document() -> None:
    build_document().verify()


def test_verify_accepts_unsigned_document() -> None:
    build_document(signed=False).verify()


@pytest.mark.parametrize(("tree_size", "leaf_index"), [(1, 0), (2, 1), (9, 8)])
def test_verify_accepts_edge_positions(tree_size: int, leaf_index: int) -> None:
    build_document(tree_size, leaf_index).verify()


def test_verify_record_other_id() -> None:
    """A valid proof of one record does not prove another record id."""
    document = build_document()
    changed = dataclasses.replace(document, record_id="rec-4")
    assert verify_error(changed) == (
        "record check failed: the document names 'rec-4' in session 'sess-1', but "
        "the record is 'rec-3' in session 'sess-1'"
    )


def test_verify_record_other_session() -> None:
    document = build_document()
    changed = dataclasses.replace(document, session_id="sess-2")
    assert verify_error(changed) == (
        "record check failed: the document names 'rec-3' in session 'sess-2', but "
        "the record is 'rec-3' in session 'sess-1'"
    )


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (b"\xff", "record check failed: not an audit record ("),
        (b"[1]", "record check failed: not an audit record ("),
        (b'"crossing"', "record check failed: not an audit record ("),
        (b"9" * 5000, "record check failed: not an audit record ("),
        (
            b'{"session_id":"sess-1"}',
            "record check failed: not an audit record ('type')",
        ),
        (
            b'{"type":"ballot","session_id":"sess-1"}',
            "record check failed: not an audit record (\"record type 'ballot'\")",
        ),
    ],
)
def test_verify_record_not_audit_record(record: bytes, expected: str) -> None:
    """The record check runs first, before the leaf hash is compared."""
    document = build_document()
    changed = dataclasses.replace(document, record=record, leaf_hash=hash_leaf(record))
    assert verify_error(changed).startswith(expected)


def _public_key_hex(key: Ed25519PrivateKey) -> str:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


def _key_id(public_key_hex: str) -> str:
    return "ed25519:" + hashlib.sha256(bytes.fromhex(public_key_hex)).hexdigest()[:16]


def test_verify_returns_signer_key_id() -> None:
    document = build_document()
    assert document.settlement is not None
    signer = _key_id(document.settlement["public_key"])
    assert document.signer_key_id == signer
    assert document.verify() == signer


def test_verify_unsigned_returns_none() -> None:
    document = build_document(signed=False)
    assert document.signer_key_id is None
    assert document.verify() is None


def test_signer_key_id_ignores_key_id_field() -> None:
    """A document that labels another key with the trusted id still names its
    real signer."""
    document = build_document()
    assert document.settlement is not None
    trusted = _key_id(_public_key_hex(SIGNING_KEY))
    forger = Ed25519PrivateKey.generate()
    statement = json.loads(base64.b64decode(document.settlement["record"]))
    forged = dict(sign_settlement(statement, forger), key_id=trusted)
    changed = dataclasses.replace(document, settlement=forged)
    assert changed.verify() == _key_id(_public_key_hex(forger))


def test_verify_trusted_key_accepted() -> None:
    trusted = bytes.fromhex(_public_key_hex(SIGNING_KEY))
    assert build_document().verify(trusted) == _key_id(trusted.hex())


def test_verify_trusted_key_other_signer() -> None:
    other = bytes.fromhex(_public_key_hex(Ed25519PrivateKey.generate()))
    message = verify_error_with_key(build_document(), other)
    assert message.startswith("signer check failed")
    assert _key_id(other.hex()) in message


def test_verify_trusted_key_needs_settlement() -> None:
    trusted = bytes.fromhex(_public_key_hex(SIGNING_KEY))
    message = verify_error_with_key(build_document(signed=False), trusted)
    assert message.startswith("signer check failed")


def test_verify_trusted_key_wrong_length() -> None:
    message = verify_error_with_key(build_document(), b"\x01" * 31)
    assert message.startswith("signer check failed")


def verify_error_with_key(document: InclusionProofDocument, key: bytes) -> str:
    """Return the message of the ProofError that verify raises for ``key``."""
    with pytest.raises(ProofError) as caught:
        document.verify(key)
    return str(caught.value)


def test_verify_leaf_hash_step() -> None:
    document = build_document()
    changed = dataclasses.replace(document, leaf_hash=flip_byte(document.leaf_hash, 5))
    assert verify_error(changed).startswith("leaf hash check failed")


def test_verify_inclusion_step() -> None:
    document = build_document()
    proof = list(document.proof)
    proof[1] = flip_byte(proof[1], 0)
    message = verify_error(dataclasses.replace(document, proof=proof))
    assert message.startswith("inclusion proof")
    assert document.root.hex() in message
    message = verify_error(dataclasses.replace(document, proof=document.proof[:-1]))
    assert message.startswith("inclusion proof")


def test_verify_settlement_root_step() -> None:
    document = build_document()
    other_root = flip_byte(document.root, 0)
    settlement = sign_settlement({"merkle_root": other_root.hex(), "tree_size": 7})
    message = verify_error(dataclasses.replace(document, settlement=settlement))
    assert message.startswith("settlement root check failed")
    assert other_root.hex() in message
    assert document.root.hex() in message


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ({"tree_size": 7}, "merkle_root is None"),
        ({"merkle_root": "ROOT", "tree_size": 8}, "tree_size is 8"),
        ({"merkle_root": "ROOT", "tree_size": "7"}, "tree_size is '7'"),
        ({"merkle_root": "ROOT"}, "tree_size is None"),
        (["ROOT", 7], "not a JSON object"),
    ],
)
def test_verify_settlement_statement(statement: Any, expected: str) -> None:
    document = build_document()
    text = json.dumps(statement).replace("ROOT", document.root.hex())
    settlement = sign_settlement(json.loads(text))
    message = verify_error(dataclasses.replace(document, settlement=settlement))
    assert message.startswith("settlement root check failed")
    assert expected in message


def test_verify_settlement_record_not_json() -> None:
    document = build_document()
    assert document.settlement is not None
    settlement = dict(document.settlement, record=base64.b64encode(b"\xff").decode())
    message = verify_error(dataclasses.replace(document, settlement=settlement))
    assert message.startswith("settlement root check failed")


def test_verify_signature_step() -> None:
    document = build_document()
    assert document.settlement is not None
    signature = base64.b64decode(document.settlement["signature"])
    settlement = dict(
        document.settlement,
        signature=base64.b64encode(flip_byte(signature, 10)).decode(),
    )
    message = verify_error(dataclasses.replace(document, settlement=settlement))
    assert message.startswith("signature check failed")
    assert "settlement-key-1" in message


def test_verify_signature_other_key() -> None:
    document = build_document()
    assert document.settlement is not None
    other_key = Ed25519PrivateKey.generate().public_key()
    public_key = other_key.public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
    settlement = dict(document.settlement, public_key=public_key)
    message = verify_error(dataclasses.replace(document, settlement=settlement))
    assert message.startswith("signature check failed")


def test_verify_constructed_settlement_bad_encoding() -> None:
    document = build_document()
    assert document.settlement is not None
    settlement = dict(document.settlement, signature="not base64!")
    message = verify_error(dataclasses.replace(document, settlement=settlement))
    assert "settlement.signature" in message


@PROPERTY_SETTINGS
@given(st.data(), st.integers(min_value=1, max_value=255))
def test_verify_detects_every_record_byte_change(
    data: st.DataObject, mask: int
) -> None:
    tree_size = data.draw(st.integers(min_value=1, max_value=40), label="tree_size")
    leaf_index = data.draw(st.integers(0, tree_size - 1), label="leaf_index")
    document = build_document(tree_size, leaf_index)
    undetected = []
    for position in range(len(document.record)):
        record = flip_byte(document.record, position, mask)
        changed = dataclasses.replace(document, record=record)
        try:
            changed.verify()
        except ProofError as error:
            # A change that breaks the JSON or the stated id fails the record
            # check, which runs first. Every other change fails the leaf hash.
            assert str(error).startswith(
                ("record check failed", "leaf hash check failed")
            )
        else:
            undetected.append(position)
    assert undetected == []


@PROPERTY_SETTINGS
@given(st.data(), st.integers(min_value=1, max_value=255))
def test_verify_detects_every_settlement_byte_change(
    data: st.DataObject, mask: int
) -> None:
    document = build_document()
    assert document.settlement is not None
    record = base64.b64decode(document.settlement["record"])
    position = data.draw(st.integers(0, len(record) - 1), label="position")
    changed_record = flip_byte(record, position, mask)
    settlement = dict(
        document.settlement, record=base64.b64encode(changed_record).decode()
    )
    message = verify_error(dataclasses.replace(document, settlement=settlement))
    assert message.startswith(("settlement root check failed", "signature check"))


@PROPERTY_SETTINGS
@given(st.data())
def test_verify_rejects_position_off_by_one(data: st.DataObject) -> None:
    tree_size = data.draw(st.integers(min_value=2, max_value=60), label="tree_size")
    leaf_index = data.draw(st.integers(0, tree_size - 1), label="leaf_index")
    document = build_document(tree_size, leaf_index)
    for wrong_index in (leaf_index - 1, leaf_index + 1):
        changed = dataclasses.replace(document, leaf_index=wrong_index)
        assert verify_error(changed).startswith("inclusion proof")
    # A bare inclusion proof does not always bind the tree size, but the
    # signed settlement does, so the document rejects every size change.
    for wrong_size in (tree_size - 1, tree_size + 1):
        changed = dataclasses.replace(document, tree_size=wrong_size)
        assert verify_error(changed).startswith(
            ("inclusion proof", "settlement root check failed")
        )

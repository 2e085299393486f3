"""The inclusion-proof document: one audit record, its proof and the signed root.

`ssoar prove` prints this document as JSON. A holder of the document can check
that the record is a leaf of the session's Merkle tree without access to the
audit log. When the signed settlement is attached, the holder can also check
that the session's settlement key signed the tree's root.

JSON shape (hashes in lowercase hex, byte strings in standard base64)::

    {
      "format": "ssoar-inclusion-proof/1",
      "session_id": str, "record_id": str,
      "leaf_index": int, "tree_size": int,
      "record": base64 canonical JSON bytes of the record,
      "leaf_hash": hex, "proof": [hex, ...], "root": hex,
      "settlement": null | {"record": base64 canonical JSON bytes,
                            "signature": base64 Ed25519 signature,
                            "public_key": hex raw Ed25519 public key,
                            "key_id": str}
    }
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ssoar.audit._log import record_id_of
from ssoar.audit._merkle import HASH_SIZE, ProofError, hash_leaf, verify_inclusion
from ssoar.audit._signing import compute_key_id

__all__ = ["PROOF_FORMAT", "InclusionProofDocument", "ProofError"]

PROOF_FORMAT = "ssoar-inclusion-proof/1"
"""Value of the ``format`` field of every document this module reads or writes."""

_FIELDS = frozenset(
    {
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
    }
)
_SETTLEMENT_FIELDS = frozenset({"record", "signature", "public_key", "key_id"})
_ED25519_PUBLIC_KEY_SIZE = 32
_ED25519_SIGNATURE_SIZE = 64
_LOWERCASE_HEX = re.compile("[0-9a-f]*")


@dataclass(frozen=True, kw_only=True)
class InclusionProofDocument:
    """Proof that one audit record is a leaf of a session's Merkle tree.

    Attributes:
        format: Document format identifier, always `PROOF_FORMAT`.
        session_id: Session whose audit log contains the record.
        record_id: Identifier of the record within the session.
        leaf_index: Zero-based position of the record in the audit log.
        tree_size: Number of leaves in the tree that ``root`` covers.
        record: Canonical JSON bytes of the record, the leaf's data.
        leaf_hash: RFC 6962 leaf hash of ``record``.
        proof: Inclusion proof hashes, from the leaf's level upwards.
        root: Merkle root of the first ``tree_size`` records.
        settlement: The signed settlement in its JSON form (``record`` and
            ``signature`` in base64, ``public_key`` in hex, ``key_id``), or
            None when the document carries no signature.
    """

    session_id: str
    record_id: str
    leaf_index: int
    tree_size: int
    record: bytes
    leaf_hash: bytes
    proof: list[bytes]
    root: bytes
    settlement: dict[str, str] | None = None
    format: str = PROOF_FORMAT

    def __post_init__(self) -> None:
        """Reject a document whose format this module cannot write or verify."""
        if self.format != PROOF_FORMAT:
            raise ProofError(
                f"proof document: field 'format' must be {PROOF_FORMAT!r},"
                f" got {self.format!r}"
            )

    def to_json(self) -> dict[str, Any]:
        """Convert the document to a JSON-serialisable dict.

        Returns:
            A dict in the shape that `from_json` reads back.
        """
        return {
            "format": self.format,
            "session_id": self.session_id,
            "record_id": self.record_id,
            "leaf_index": self.leaf_index,
            "tree_size": self.tree_size,
            "record": base64.b64encode(self.record).decode("ascii"),
            "leaf_hash": self.leaf_hash.hex(),
            "proof": [sibling.hex() for sibling in self.proof],
            "root": self.root.hex(),
            "settlement": None if self.settlement is None else dict(self.settlement),
        }

    @classmethod
    def from_json(cls, data: object) -> InclusionProofDocument:
        """Parse a document from its decoded JSON form, strictly.

        Every field must be present with the expected type and encoding, and
        unknown fields are rejected, so a document that parses has one meaning.

        Args:
            data: The value returned by `json.loads` for the document.

        Returns:
            The parsed document. It is not yet verified (see `verify`).

        Raises:
            ProofError: A field is missing, unknown, ill-typed or ill-encoded.
                The message names the field and what was expected.
        """
        fields = _require_object(data, "proof document")
        # The format is checked first because another format may define the
        # remaining fields differently.
        document_format = _parse_str(_require(fields, "format"), "format")
        if document_format != PROOF_FORMAT:
            raise ProofError(
                f"proof document: field 'format' must be {PROOF_FORMAT!r},"
                f" got {document_format!r}"
            )
        _reject_unknown_fields(fields, "proof document", _FIELDS)
        proof_field = _require(fields, "proof")
        if not isinstance(proof_field, list):
            raise ProofError(
                "proof document: field 'proof' must be a list of hex hashes,"
                f" got {type(proof_field).__name__}"
            )
        proof = [
            _parse_hex(item, f"proof[{position}]", HASH_SIZE)
            for position, item in enumerate(proof_field)
        ]
        settlement_field = _require(fields, "settlement")
        settlement = None
        if settlement_field is not None:
            settlement = _parse_settlement(settlement_field)
        return cls(
            format=document_format,
            session_id=_parse_str(_require(fields, "session_id"), "session_id"),
            record_id=_parse_str(_require(fields, "record_id"), "record_id"),
            leaf_index=_parse_count(_require(fields, "leaf_index"), "leaf_index"),
            tree_size=_parse_count(_require(fields, "tree_size"), "tree_size"),
            record=_parse_base64(_require(fields, "record"), "record"),
            leaf_hash=_parse_hex(_require(fields, "leaf_hash"), "leaf_hash", HASH_SIZE),
            proof=proof,
            root=_parse_hex(_require(fields, "root"), "root", HASH_SIZE),
            settlement=settlement,
        )

    @property
    def signer_key_id(self) -> str | None:
        """The id of the attached public key, computed from the key itself, in
        the form ``ssoar key show`` prints; None without a settlement.

        The document's own ``key_id`` field is a label that anyone can write,
        so it never identifies the signer.
        """
        if self.settlement is None:
            return None
        return _decode_settlement(self.settlement).signer_key_id

    def verify(self, trusted_public_key: bytes | None = None) -> str | None:
        """Check the record, the inclusion proof and, if present, the settlement.

        Steps, in order:

        0. record: the record is an audit record with the document's
           ``record_id``, in the document's session.
        1. leaf hash: ``leaf_hash`` is the hash of ``record``.
        2. inclusion proof: the proof leads from the leaf hash to ``root`` at
           ``tree_size``.
        3. settlement root: the signed settlement record, a JSON object,
           states the same ``merkle_root`` (lowercase hex) and ``tree_size``.
        4. signer: with ``trusted_public_key``, the attached public key is
           that key.
        5. signature: the Ed25519 signature over the settlement record bytes
           verifies with the attached public key.

        Steps 3 to 5 run only when ``settlement`` is not None. With
        ``trusted_public_key``, a document without a settlement fails, because
        nothing shows who signed its root.

        Without ``trusted_public_key`` the public key is taken from the
        document, so a valid signature shows only that the holder of that key
        signed this root. The returned key id is computed from that key, so
        compare it with the id of a key you trust. The document's ``key_id``
        field is not checked.

        Args:
            trusted_public_key: The raw Ed25519 public key that must have
                signed the settlement, or None to accept the attached key.

        Returns:
            The id of the key that signed the settlement (see
            ``signer_key_id``), or None when the document has no settlement.

        Raises:
            ProofError: A step failed. The message names the step.
        """
        self._verify_identity()
        computed_leaf_hash = hash_leaf(self.record)
        if computed_leaf_hash != self.leaf_hash:
            raise ProofError(
                f"leaf hash check failed: hash of the record is"
                f" {computed_leaf_hash.hex()}, document states {self.leaf_hash.hex()}"
            )
        verify_inclusion(
            self.leaf_index, self.tree_size, self.leaf_hash, self.proof, self.root
        )
        if self.settlement is None:
            if trusted_public_key is not None:
                raise ProofError(
                    "signer check failed: the document has no settlement, so nothing "
                    "shows that the trusted key signed its root"
                )
            return None
        settlement = _decode_settlement(self.settlement)
        self._verify_settlement_root(settlement.record)
        if trusted_public_key is not None:
            _verify_signer(settlement, trusted_public_key)
        _verify_settlement_signature(settlement)
        return settlement.signer_key_id

    def _verify_identity(self) -> None:
        """Step 0: the record is the one the document names, in its session."""
        try:
            # ValueError covers UnicodeDecodeError, JSONDecodeError and
            # integers longer than Python's int conversion limit (4300 digits).
            record = json.loads(self.record)
        except ValueError as error:
            raise ProofError(
                f"record check failed: not an audit record ({error})"
            ) from None
        if not isinstance(record, dict):
            raise ProofError(
                "record check failed: not an audit record (the record is a JSON "
                f"{type(record).__name__}, not an object)"
            )
        try:
            stated = record_id_of(record)
        except (KeyError, TypeError) as error:
            raise ProofError(
                f"record check failed: not an audit record ({error})"
            ) from None
        if record.get("session_id") != self.session_id or stated != self.record_id:
            raise ProofError(
                f"record check failed: the document names {self.record_id!r} in "
                f"session {self.session_id!r}, but the record is {stated!r} in "
                f"session {record.get('session_id')!r}"
            )

    def _verify_settlement_root(self, settlement_record: bytes) -> None:
        try:
            statement = json.loads(settlement_record)
        except ValueError as error:
            raise ProofError(
                f"settlement root check failed: settlement record is not JSON ({error})"
            ) from error
        if not isinstance(statement, dict):
            raise ProofError(
                "settlement root check failed: settlement record is not a JSON object"
            )
        merkle_root = statement.get("merkle_root")
        if merkle_root != self.root.hex():
            raise ProofError(
                f"settlement root check failed: settlement merkle_root is"
                f" {merkle_root!r}, proof root is {self.root.hex()}"
            )
        tree_size = statement.get("tree_size")
        if type(tree_size) is not int or tree_size != self.tree_size:
            raise ProofError(
                f"settlement root check failed: settlement tree_size is"
                f" {tree_size!r}, proof tree_size is {self.tree_size}"
            )


def _verify_signer(settlement: _SettlementParts, trusted_public_key: bytes) -> None:
    if len(trusted_public_key) != _ED25519_PUBLIC_KEY_SIZE:
        raise ProofError(
            f"signer check failed: the trusted key has {len(trusted_public_key)} "
            f"bytes; an Ed25519 public key has {_ED25519_PUBLIC_KEY_SIZE}"
        )
    if settlement.public_key != trusted_public_key:
        raise ProofError(
            f"signer check failed: the settlement is signed with key "
            f"{settlement.signer_key_id}, not the trusted key "
            f"{compute_key_id(trusted_public_key)}"
        )


def _verify_settlement_signature(settlement: _SettlementParts) -> None:
    try:
        public_key = Ed25519PublicKey.from_public_bytes(settlement.public_key)
        public_key.verify(settlement.signature, settlement.record)
    except (InvalidSignature, ValueError) as error:
        raise ProofError(
            f"signature check failed: the settlement signature does not verify"
            f" with key {settlement.signer_key_id} (the document names it"
            f" {settlement.key_id!r})"
        ) from error


def _require_object(data: object, where: str) -> dict[str, object]:
    if not isinstance(data, dict):
        raise ProofError(f"{where}: expected a JSON object, got {type(data).__name__}")
    return data


def _reject_unknown_fields(
    fields: dict[str, object], where: str, allowed: frozenset[str]
) -> None:
    unknown = sorted(str(key) for key in fields if key not in allowed)
    if unknown:
        raise ProofError(f"{where}: unknown fields {unknown}")


def _require(fields: dict[str, object], name: str) -> object:
    if name not in fields:
        raise ProofError(f"proof document: field {name!r} is missing")
    return fields[name]


def _parse_str(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise ProofError(
            f"proof document: field {name!r} must be a string,"
            f" got {type(value).__name__}"
        )
    return value


def _parse_count(value: object, name: str) -> int:
    # bool is a subclass of int, but `true` is not a count.
    if type(value) is not int or value < 0:
        raise ProofError(
            f"proof document: field {name!r} must be a non-negative integer,"
            f" got {value!r}"
        )
    return value


def _parse_base64(value: object, name: str) -> bytes:
    text = _parse_str(value, name)
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error as error:
        raise ProofError(
            f"proof document: field {name!r} must be standard base64 ({error})"
        ) from error


def _parse_hex(value: object, name: str, size: int) -> bytes:
    text = _parse_str(value, name)
    if len(text) != 2 * size or _LOWERCASE_HEX.fullmatch(text) is None:
        raise ProofError(
            f"proof document: field {name!r} must be {2 * size} lowercase hex"
            f" digits, got {text!r}"
        )
    return bytes.fromhex(text)


@dataclass(frozen=True)
class _SettlementParts:
    record: bytes
    signature: bytes
    public_key: bytes
    key_id: str
    """The document's label for the key; never trusted."""

    @property
    def signer_key_id(self) -> str:
        """The id computed from ``public_key``."""
        return compute_key_id(self.public_key)


def _parse_settlement(value: object) -> dict[str, str]:
    where = "proof document: field 'settlement'"
    fields = _require_object(value, where)
    _reject_unknown_fields(fields, where, _SETTLEMENT_FIELDS)
    settlement: dict[str, str] = {}
    for name in sorted(_SETTLEMENT_FIELDS):
        if name not in fields:
            raise ProofError(f"proof document: field 'settlement.{name}' is missing")
        settlement[name] = _parse_str(fields[name], f"settlement.{name}")
    _decode_settlement(settlement)
    return settlement


def _decode_settlement(settlement: dict[str, str]) -> _SettlementParts:
    signature = _parse_base64(settlement["signature"], "settlement.signature")
    if len(signature) != _ED25519_SIGNATURE_SIZE:
        raise ProofError(
            f"proof document: field 'settlement.signature' must decode to"
            f" {_ED25519_SIGNATURE_SIZE} bytes, got {len(signature)}"
        )
    return _SettlementParts(
        record=_parse_base64(settlement["record"], "settlement.record"),
        signature=signature,
        public_key=_parse_hex(
            settlement["public_key"], "settlement.public_key", _ED25519_PUBLIC_KEY_SIZE
        ),
        key_id=settlement["key_id"],
    )

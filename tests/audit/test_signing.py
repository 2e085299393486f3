"""Tests for the Ed25519 keys that sign settlements."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ssoar.audit._signing import (
    SignatureInvalid,
    SigningKey,
    compute_key_id,
    verify_signature,
)
from ssoar.errors import ConfigError

# RFC 8032 section 7.1, test 1: the secret key, its public key and the
# signature of the empty message.
RFC8032_SECRET = bytes.fromhex(
    "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
)
RFC8032_PUBLIC = bytes.fromhex(
    "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
)
RFC8032_SIGNATURE = bytes.fromhex(
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
    "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
)


def rfc_key() -> SigningKey:
    return SigningKey.from_private_key(
        Ed25519PrivateKey.from_private_bytes(RFC8032_SECRET)
    )


def test_sign_rfc8032_vector() -> None:
    key = rfc_key()
    assert key.public_key == RFC8032_PUBLIC
    assert key.sign(b"") == RFC8032_SIGNATURE


def test_key_id_is_sha256_prefix() -> None:
    expected = "ed25519:" + hashlib.sha256(RFC8032_PUBLIC).hexdigest()[:16]
    assert compute_key_id(RFC8032_PUBLIC) == expected
    assert rfc_key().key_id == expected


def test_verify_good_signature() -> None:
    verify_signature(RFC8032_PUBLIC, RFC8032_SIGNATURE, b"")


def test_verify_changed_message_rejected() -> None:
    with pytest.raises(SignatureInvalid):
        verify_signature(RFC8032_PUBLIC, RFC8032_SIGNATURE, b"x")


def test_verify_changed_signature_rejected() -> None:
    signature = bytes([RFC8032_SIGNATURE[0] ^ 1]) + RFC8032_SIGNATURE[1:]
    with pytest.raises(SignatureInvalid):
        verify_signature(RFC8032_PUBLIC, signature, b"")


def test_verify_other_key_rejected() -> None:
    other = SigningKey.from_private_key(Ed25519PrivateKey.generate())
    with pytest.raises(SignatureInvalid):
        verify_signature(other.public_key, RFC8032_SIGNATURE, b"")


@pytest.mark.parametrize("size", [0, 31, 33])
def test_verify_wrong_key_size_rejected(size: int) -> None:
    with pytest.raises(SignatureInvalid):
        verify_signature(bytes(size), RFC8032_SIGNATURE, b"")


def test_load_or_create_creates_private_file(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "settlement.pem"
    key = SigningKey.load_or_create(path)
    assert path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    verify_signature(key.public_key, key.sign(b"message"), b"message")


def test_load_or_create_reloads_same_key(tmp_path: Path) -> None:
    path = tmp_path / "settlement.pem"
    first = SigningKey.load_or_create(path)
    second = SigningKey.load_or_create(path)
    assert second.public_key == first.public_key
    assert second.key_id == first.key_id


def test_load_garbage_rejected(tmp_path: Path) -> None:
    path = tmp_path / "bad.pem"
    path.write_text("not a key", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        SigningKey.load(path)
    assert str(path) in str(caught.value)


def test_load_other_algorithm_rejected(tmp_path: Path) -> None:
    path = tmp_path / "ec.pem"
    path.write_bytes(
        generate_private_key(SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(ConfigError) as caught:
        SigningKey.load(path)
    assert "Ed25519" in str(caught.value)


def test_load_encrypted_rejected(tmp_path: Path) -> None:
    path = tmp_path / "locked.pem"
    path.write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    with pytest.raises(ConfigError):
        SigningKey.load(path)

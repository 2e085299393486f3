"""Ed25519 keys that sign settlement records."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from ssoar.errors import ConfigError

__all__ = ["SignatureInvalid", "SigningKey", "compute_key_id", "verify_signature"]

_PUBLIC_KEY_SIZE = 32


class SignatureInvalid(ValueError):
    """A signature does not verify with the given public key."""


def compute_key_id(public_key: bytes) -> str:
    """Return the short id of a raw Ed25519 public key: ``ed25519:`` and 16 hex
    digits of its SHA-256."""
    assert len(public_key) == _PUBLIC_KEY_SIZE
    return "ed25519:" + hashlib.sha256(public_key).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A private Ed25519 key and the id of its public half."""

    private_key: Ed25519PrivateKey
    public_key: bytes
    key_id: str

    @classmethod
    def load_or_create(cls, path: Path) -> SigningKey:
        """Load the key at ``path``, creating it (mode 0600) when it does not exist.

        Raises:
            ConfigError: If the file exists but is not an unencrypted PEM
                Ed25519 private key.
        """
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            key = Ed25519PrivateKey.generate()
            pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            # O_EXCL: two processes starting at once must not overwrite each
            # other's key after one of them has signed with it.
            try:
                descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                return cls.load(path)
            with os.fdopen(descriptor, "wb") as file:
                file.write(pem)
            return cls.from_private_key(key)
        return cls.load(path)

    @classmethod
    def load(cls, path: Path) -> SigningKey:
        """Load an unencrypted PEM Ed25519 private key."""
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (ValueError, TypeError) as error:
            raise ConfigError(
                f"signing key {path} is not an unencrypted PEM private key ({error}); "
                "point SSOAR_KEY_FILE at an Ed25519 key or at a path to create one"
            ) from None
        if not isinstance(key, Ed25519PrivateKey):
            raise ConfigError(
                f"signing key {path} holds a {type(key).__name__}; settlements are "
                "signed with Ed25519 keys only"
            )
        return cls.from_private_key(key)

    @classmethod
    def from_private_key(cls, key: Ed25519PrivateKey) -> SigningKey:
        """Wrap an Ed25519 private key."""
        public = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return cls(key, public, compute_key_id(public))

    def sign(self, message: bytes) -> bytes:
        """Return the Ed25519 signature of ``message``."""
        return self.private_key.sign(message)


def verify_signature(public_key: bytes, signature: bytes, message: bytes) -> None:
    """Check an Ed25519 signature.

    Raises:
        SignatureInvalid: If the key is malformed or the signature does not match.
    """
    if len(public_key) != _PUBLIC_KEY_SIZE:
        raise SignatureInvalid(
            f"public key has {len(public_key)} bytes; Ed25519 keys have 32"
        )
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except InvalidSignature:
        raise SignatureInvalid(
            f"signature does not verify with key {compute_key_id(public_key)}"
        ) from None

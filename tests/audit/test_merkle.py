"""Tests for the RFC 6962 / RFC 9162 Merkle tree, proofs and verifiers."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ssoar.audit._merkle import (
    EMPTY_ROOT,
    MerkleFrontier,
    ProofError,
    consistency_proof,
    hash_children,
    hash_leaf,
    inclusion_proof,
    root_from_consistency_proof,
    root_from_inclusion_proof,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)

# The reference tree of the tests in transparency-dev/merkle
# (proof/verify_test.go): eight leaves and the roots of its prefixes of sizes
# 0 to 8, copied from that file.
REFERENCE_LEAVES = [
    bytes.fromhex(text)
    for text in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
REFERENCE_ROOTS = [
    bytes.fromhex(text)
    for text in (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    )
]
REFERENCE_LEAF_HASHES = [hash_leaf(leaf) for leaf in REFERENCE_LEAVES]

# Proofs over the reference tree, from the same Go test file.
REFERENCE_INCLUSION_PROOFS = [
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (0, 1, []),
]
REFERENCE_CONSISTENCY_PROOFS = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]

MAX_TREE_SIZE = 300
PROPERTY_SETTINGS = settings(max_examples=200, deadline=None, database=None)
# Properties that check every index of a tree cost O(n^2) hashes per example.
QUADRATIC_PROPERTY_SETTINGS = settings(max_examples=50, deadline=None, database=None)


def make_leaf_hashes(count: int, salt: bytes = b"") -> list[bytes]:
    """Return ``count`` distinct leaf hashes."""
    return [hash_leaf(salt + index.to_bytes(4, "big")) for index in range(count)]


@st.composite
def leaf_hash_lists(draw: st.DrawFn, min_size: int = 1) -> list[bytes]:
    """Draw a list of distinct leaf hashes of at most MAX_TREE_SIZE leaves."""
    count = draw(st.integers(min_value=min_size, max_value=MAX_TREE_SIZE))
    salt = draw(st.binary(max_size=8))
    return make_leaf_hashes(count, salt)


def flip_byte(value: bytes, position: int, mask: int) -> bytes:
    """Return ``value`` with the byte at ``position`` XORed with ``mask``."""
    changed = bytearray(value)
    changed[position] ^= mask
    return bytes(changed)


def decode_hashes(items: list[str] | None) -> list[bytes]:
    """Decode a vector's base64 proof list, where null means no hashes."""
    return [base64.b64decode(item) for item in items or []]


def vector_files(directory: Path) -> list[Path]:
    """List the JSON vectors under ``directory``, without subtree vectors."""
    # Subtree vectors, where a vector set has them, are neither inclusion nor
    # consistency vectors.
    return sorted(
        path
        for path in directory.rglob("*.json")
        if "subtree" not in path.relative_to(directory).parts
    )


# --- Hashing and roots ------------------------------------------------------


def test_empty_root_is_sha256_of_empty_string() -> None:
    assert hashlib.sha256(b"").digest() == EMPTY_ROOT
    assert root_from_leaf_hashes([]) == EMPTY_ROOT
    assert MerkleFrontier().root() == EMPTY_ROOT


def test_hashes_use_domain_prefixes() -> None:
    left, right = b"L" * 32, b"R" * 32
    assert hash_leaf(b"data") == hashlib.sha256(b"\x00data").digest()
    assert hash_children(left, right) == hashlib.sha256(b"\x01" + left + right).digest()
    assert hash_leaf(left + right) != hash_children(left, right)


@pytest.mark.parametrize("size", range(len(REFERENCE_ROOTS)))
def test_root_known_answers(size: int) -> None:
    leaf_hashes = REFERENCE_LEAF_HASHES[:size]
    frontier = MerkleFrontier()
    for leaf_hash in leaf_hashes:
        frontier.append(leaf_hash)
    assert root_from_leaf_hashes(leaf_hashes).hex() == REFERENCE_ROOTS[size].hex()
    assert frontier.root().hex() == REFERENCE_ROOTS[size].hex()
    assert frontier.size == size


def test_root_lone_node_is_promoted() -> None:
    a, b, c = make_leaf_hashes(3)
    assert root_from_leaf_hashes([a, b, c]) == hash_children(hash_children(a, b), c)
    assert root_from_leaf_hashes([a, b, c]) != root_from_leaf_hashes([a, b, c, c])


def test_root_of_large_tree_matches_frontier() -> None:
    leaf_hashes = make_leaf_hashes(5_000)
    frontier = MerkleFrontier()
    for leaf_hash in leaf_hashes:
        frontier.append(leaf_hash)
    assert root_from_leaf_hashes(leaf_hashes) == frontier.root()


@pytest.mark.parametrize("length", [0, 31, 33])
def test_builders_reject_bad_leaf_hash(length: int) -> None:
    bad = b"\x07" * length
    with pytest.raises(ProofError, match="must be 32 bytes"):
        root_from_leaf_hashes([EMPTY_ROOT, bad])
    with pytest.raises(ProofError, match="must be 32 bytes"):
        MerkleFrontier().append(bad)
    with pytest.raises(ProofError, match="must be 32 bytes"):
        inclusion_proof(0, [EMPTY_ROOT, bad])
    with pytest.raises(ProofError, match="must be 32 bytes"):
        consistency_proof(1, [EMPTY_ROOT, bad])


def test_frontier_rejected_append_keeps_state() -> None:
    frontier = MerkleFrontier()
    frontier.append(REFERENCE_LEAF_HASHES[0])
    with pytest.raises(ProofError):
        frontier.append(b"short")
    assert frontier.size == 1
    assert frontier.root() == REFERENCE_ROOTS[1]


# --- Proof generation -------------------------------------------------------


@pytest.mark.parametrize(("index", "size", "expected"), REFERENCE_INCLUSION_PROOFS)
def test_inclusion_proof_known_answers(
    index: int, size: int, expected: list[str]
) -> None:
    proof = inclusion_proof(index, REFERENCE_LEAF_HASHES[:size])
    assert [item.hex() for item in proof] == expected
    verify_inclusion(
        index, size, REFERENCE_LEAF_HASHES[index], proof, REFERENCE_ROOTS[size]
    )


@pytest.mark.parametrize(("size1", "size2", "expected"), REFERENCE_CONSISTENCY_PROOFS)
def test_consistency_proof_known_answers(
    size1: int, size2: int, expected: list[str]
) -> None:
    proof = consistency_proof(size1, REFERENCE_LEAF_HASHES[:size2])
    assert [item.hex() for item in proof] == expected
    verify_consistency(
        size1, size2, REFERENCE_ROOTS[size1], REFERENCE_ROOTS[size2], proof
    )


@pytest.mark.parametrize(("index", "size"), [(-1, 3), (3, 3), (4, 3), (0, 0)])
def test_inclusion_proof_rejects_index_out_of_range(index: int, size: int) -> None:
    with pytest.raises(ProofError, match="out of range"):
        inclusion_proof(index, make_leaf_hashes(size))


def test_consistency_proof_edge_sizes() -> None:
    leaf_hashes = make_leaf_hashes(5)
    assert consistency_proof(5, leaf_hashes) == []
    assert consistency_proof(0, []) == []
    with pytest.raises(ProofError, match="empty tree"):
        consistency_proof(0, leaf_hashes)
    with pytest.raises(ProofError, match="out of range"):
        consistency_proof(6, leaf_hashes)
    with pytest.raises(ProofError, match="out of range"):
        consistency_proof(-1, leaf_hashes)


# --- Inclusion verification edge rules -------------------------------------


def reference_inclusion(index: int, size: int) -> tuple[bytes, list[bytes], bytes]:
    leaf_hash = REFERENCE_LEAF_HASHES[index]
    return (
        leaf_hash,
        inclusion_proof(index, REFERENCE_LEAF_HASHES[:size]),
        (REFERENCE_ROOTS[size]),
    )


def test_verify_inclusion_index_not_below_size() -> None:
    leaf_hash, proof, root = reference_inclusion(2, 5)
    for index, size in [(5, 5), (6, 5), (-1, 5), (0, 0)]:
        with pytest.raises(ProofError, match="out of range"):
            verify_inclusion(index, size, leaf_hash, proof, root)


@pytest.mark.parametrize("length", [0, 31, 33])
def test_verify_inclusion_hash_lengths(length: int) -> None:
    leaf_hash, proof, root = reference_inclusion(2, 5)
    bad = b"\x01" * length
    with pytest.raises(ProofError, match=r"leaf_hash must be 32 bytes"):
        verify_inclusion(2, 5, bad, proof, root)
    with pytest.raises(ProofError, match=r"proof\[1\] must be 32 bytes"):
        verify_inclusion(2, 5, leaf_hash, [proof[0], bad, proof[2]], root)
    with pytest.raises(ProofError, match=r"root must be 32 bytes"):
        verify_inclusion(2, 5, leaf_hash, proof, bad)


def test_verify_inclusion_exact_proof_length() -> None:
    leaf_hash, proof, root = reference_inclusion(2, 5)
    variants = {
        "missing last": proof[:-1],
        "missing first": proof[1:],
        "trailing root": [*proof, root],
        "preceding root": [root, *proof],
        "empty": [],
    }
    for name, variant in variants.items():
        with pytest.raises(ProofError, match="expected 3") as caught:
            verify_inclusion(2, 5, leaf_hash, variant, root)
        assert "inclusion proof" in str(caught.value), name


def test_verify_inclusion_mismatch_names_both_roots() -> None:
    leaf_hash, proof, root = reference_inclusion(2, 5)
    computed = root_from_inclusion_proof(2, 5, leaf_hash, proof)
    wrong_root = flip_byte(root, 0, 1)
    with pytest.raises(ProofError) as caught:
        verify_inclusion(2, 5, leaf_hash, proof, wrong_root)
    message = str(caught.value)
    assert message.startswith("inclusion proof:")
    assert computed.hex() in message
    assert wrong_root.hex() in message


def test_verify_inclusion_single_leaf_tree() -> None:
    leaf_hash = hash_leaf(b"data")
    verify_inclusion(0, 1, leaf_hash, [], leaf_hash)
    with pytest.raises(ProofError):
        verify_inclusion(0, 1, leaf_hash, [], EMPTY_ROOT)


def test_inclusion_proof_does_not_bind_size() -> None:
    # Index 0 has only right siblings at sizes 5 and 6, and both proofs have
    # three hashes, so a size-5 proof also "verifies" at size 6. The size must
    # come from the same trusted source as the root (the signed settlement).
    leaf_hashes = make_leaf_hashes(5)
    proof = inclusion_proof(0, leaf_hashes)
    root = root_from_leaf_hashes(leaf_hashes)
    verify_inclusion(0, 6, leaf_hashes[0], proof, root)
    with pytest.raises(ProofError):
        verify_inclusion(0, 10, leaf_hashes[0], proof, root)


# --- Consistency verification edge rules -----------------------------------


def test_consistency_proof_does_not_bind_size2() -> None:
    # The proofs from size 1 to sizes 5 and 6 have the same shape, so the
    # size-5 proof also "verifies" at size 6.
    leaf_hashes = make_leaf_hashes(5)
    proof = consistency_proof(1, leaf_hashes)
    root1 = root_from_leaf_hashes(leaf_hashes[:1])
    root2 = root_from_leaf_hashes(leaf_hashes)
    verify_consistency(1, 6, root1, root2, proof)
    with pytest.raises(ProofError):
        verify_consistency(1, 10, root1, root2, proof)


DONT_CARE_1 = b"don't care 1"
DONT_CARE_2 = b"don't care 2"


@pytest.mark.parametrize(
    ("size1", "size2", "root1", "root2", "proof", "accepted"),
    [
        pytest.param(0, 0, EMPTY_ROOT, EMPTY_ROOT, [], True, id="both-empty"),
        pytest.param(0, 0, DONT_CARE_1, DONT_CARE_1, [], False, id="empty-not-sha"),
        pytest.param(0, 0, EMPTY_ROOT, DONT_CARE_2, [], False, id="empty-mismatch"),
        pytest.param(
            0, 0, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT], False, id="empty-with-proof"
        ),
        pytest.param(0, 1, EMPTY_ROOT, DONT_CARE_2, [], False, id="from-empty"),
        pytest.param(
            0, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT], False, id="from-empty-proof"
        ),
        pytest.param(1, 1, DONT_CARE_2, DONT_CARE_2, [], True, id="equal-sizes"),
        pytest.param(1, 1, DONT_CARE_1, DONT_CARE_2, [], False, id="equal-mismatch"),
        pytest.param(
            1, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT], False, id="equal-with-proof"
        ),
        pytest.param(1, 0, DONT_CARE_1, DONT_CARE_2, [], False, id="shrinking"),
        pytest.param(2, 1, DONT_CARE_1, DONT_CARE_2, [], False, id="shrinking-2"),
        pytest.param(1, 2, EMPTY_ROOT, EMPTY_ROOT, [], False, id="missing-proof"),
        pytest.param(-1, 2, EMPTY_ROOT, EMPTY_ROOT, [], False, id="negative"),
    ],
)
def test_verify_consistency_edge_rules(
    size1: int,
    size2: int,
    root1: bytes,
    root2: bytes,
    proof: list[bytes],
    accepted: bool,
) -> None:
    if accepted:
        verify_consistency(size1, size2, root1, root2, proof)
    else:
        with pytest.raises(ProofError, match="consistency proof"):
            verify_consistency(size1, size2, root1, root2, proof)


def test_verify_consistency_exact_proof_length() -> None:
    root6, root8 = REFERENCE_ROOTS[6], REFERENCE_ROOTS[8]
    proof = consistency_proof(6, REFERENCE_LEAF_HASHES)
    for variant in ([*proof, root6], [root8, *proof], proof[:-1], proof[1:]):
        with pytest.raises(ProofError, match="expected 3"):
            verify_consistency(6, 8, root6, root8, variant)


def test_verify_consistency_hash_lengths() -> None:
    root6, root8 = REFERENCE_ROOTS[6], REFERENCE_ROOTS[8]
    proof = consistency_proof(6, REFERENCE_LEAF_HASHES)
    with pytest.raises(ProofError, match=r"proof\[0\] must be 32 bytes"):
        verify_consistency(6, 8, root6, root8, [b"", *proof[1:]])
    with pytest.raises(ProofError, match="root1 must be 32 bytes"):
        verify_consistency(6, 8, b"short", root8, proof)
    with pytest.raises(ProofError, match="root2 must be 32 bytes"):
        verify_consistency(6, 8, root6, b"short", proof)


def test_verify_consistency_mismatch_names_both_roots() -> None:
    root6, root8 = REFERENCE_ROOTS[6], REFERENCE_ROOTS[8]
    proof = consistency_proof(6, REFERENCE_LEAF_HASHES)
    computed = root_from_consistency_proof(6, 8, root6, proof)
    wrong = flip_byte(root8, 31, 0x80)
    with pytest.raises(ProofError) as caught:
        verify_consistency(6, 8, root6, wrong, proof)
    assert computed.hex() in str(caught.value)
    assert wrong.hex() in str(caught.value)
    wrong = flip_byte(root6, 0, 0x01)
    with pytest.raises(ProofError, match=r"\(root1\)") as caught:
        verify_consistency(6, 8, wrong, root8, proof)
    assert wrong.hex() in str(caught.value)


# --- Conformance vectors ----------------------------------------------------


def run_inclusion_vector(vector: dict[str, Any]) -> bool:
    """Return True when verify_inclusion rejects the vector."""
    try:
        verify_inclusion(
            vector["leafIdx"],
            vector["treeSize"],
            base64.b64decode(vector["leafHash"]),
            decode_hashes(vector["proof"]),
            base64.b64decode(vector["root"]),
        )
    except ProofError:
        return True
    return False


def run_consistency_vector(vector: dict[str, Any]) -> bool:
    """Return True when verify_consistency rejects the vector."""
    try:
        verify_consistency(
            vector["size1"],
            vector["size2"],
            base64.b64decode(vector["root1"]),
            base64.b64decode(vector["root2"]),
            decode_hashes(vector["proof"]),
        )
    except ProofError:
        return True
    return False


@pytest.mark.parametrize(
    ("kind", "run"),
    [("inclusion", run_inclusion_vector), ("consistency", run_consistency_vector)],
)
def test_conformance_vectors(real_data: Any, kind: str, run: Any) -> None:
    directory = real_data.path(f"merkle/{kind}")
    files = vector_files(directory)
    outcomes = set()
    mismatches = []
    for path in files:
        vector = json.loads(path.read_text())
        outcomes.add(vector["wantErr"])
        got_error = run(vector)
        if got_error != vector["wantErr"]:
            mismatches.append(
                f"{path.relative_to(directory)}: wantErr={vector['wantErr']},"
                f" got error={got_error} ({vector['desc']})"
            )
    assert files, f"no vectors under {directory}"
    assert outcomes == {True, False}, "vectors must include accepted and rejected"
    assert mismatches == []


# --- Properties -------------------------------------------------------------


@PROPERTY_SETTINGS
@given(leaf_hash_lists(min_size=0))
def test_frontier_root_equals_batch_root(leaf_hashes: list[bytes]) -> None:
    frontier = MerkleFrontier()
    for leaf_hash in leaf_hashes:
        frontier.append(leaf_hash)
    assert frontier.size == len(leaf_hashes)
    assert frontier.root() == root_from_leaf_hashes(leaf_hashes)


@QUADRATIC_PROPERTY_SETTINGS
@given(leaf_hash_lists())
def test_every_inclusion_proof_verifies(leaf_hashes: list[bytes]) -> None:
    size = len(leaf_hashes)
    root = root_from_leaf_hashes(leaf_hashes)
    for index in range(size):
        proof = inclusion_proof(index, leaf_hashes)
        verify_inclusion(index, size, leaf_hashes[index], proof, root)


@QUADRATIC_PROPERTY_SETTINGS
@given(leaf_hash_lists())
def test_every_consistency_proof_verifies(leaf_hashes: list[bytes]) -> None:
    frontier = MerkleFrontier()
    prefix_roots = [frontier.root()]
    for leaf_hash in leaf_hashes:
        frontier.append(leaf_hash)
        prefix_roots.append(frontier.root())
    size2 = len(leaf_hashes)
    for size1 in range(1, size2 + 1):
        proof = consistency_proof(size1, leaf_hashes)
        verify_consistency(
            size1, size2, prefix_roots[size1], prefix_roots[size2], proof
        )


@PROPERTY_SETTINGS
@given(leaf_hash_lists(), st.data(), st.integers(min_value=1, max_value=255))
def test_inclusion_detects_every_byte_change(
    leaf_hashes: list[bytes], data: st.DataObject, mask: int
) -> None:
    size = len(leaf_hashes)
    index = data.draw(st.integers(min_value=0, max_value=size - 1), label="index")
    leaf_hash = leaf_hashes[index]
    proof = inclusion_proof(index, leaf_hashes)
    root = root_from_leaf_hashes(leaf_hashes)
    verify_inclusion(index, size, leaf_hash, proof, root)
    undetected = []
    for position in range(32):
        changed_leaf = flip_byte(leaf_hash, position, mask)
        changed_root = flip_byte(root, position, mask)
        if not rejects_inclusion(index, size, changed_leaf, proof, root):
            undetected.append(f"leaf_hash[{position}]")
        if not rejects_inclusion(index, size, leaf_hash, proof, changed_root):
            undetected.append(f"root[{position}]")
        for item in range(len(proof)):
            changed_proof = list(proof)
            changed_proof[item] = flip_byte(proof[item], position, mask)
            if not rejects_inclusion(index, size, leaf_hash, changed_proof, root):
                undetected.append(f"proof[{item}][{position}]")
    assert undetected == []


def rejects_inclusion(
    index: int, size: int, leaf_hash: bytes, proof: list[bytes], root: bytes
) -> bool:
    try:
        verify_inclusion(index, size, leaf_hash, proof, root)
    except ProofError:
        return True
    return False


@PROPERTY_SETTINGS
@given(leaf_hash_lists(min_size=2), st.data(), st.integers(min_value=1, max_value=255))
def test_consistency_detects_every_byte_change(
    leaf_hashes: list[bytes], data: st.DataObject, mask: int
) -> None:
    size2 = len(leaf_hashes)
    size1 = data.draw(st.integers(min_value=1, max_value=size2 - 1), label="size1")
    root1 = root_from_leaf_hashes(leaf_hashes[:size1])
    root2 = root_from_leaf_hashes(leaf_hashes)
    proof = consistency_proof(size1, leaf_hashes)
    undetected = []
    for position in range(32):
        changed_root1 = flip_byte(root1, position, mask)
        changed_root2 = flip_byte(root2, position, mask)
        if not rejects_consistency(size1, size2, changed_root1, root2, proof):
            undetected.append(f"root1[{position}]")
        if not rejects_consistency(size1, size2, root1, changed_root2, proof):
            undetected.append(f"root2[{position}]")
        for item in range(len(proof)):
            changed_proof = list(proof)
            changed_proof[item] = flip_byte(proof[item], position, mask)
            if not rejects_consistency(size1, size2, root1, root2, changed_proof):
                undetected.append(f"proof[{item}][{position}]")
    assert undetected == []


def rejects_consistency(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: list[bytes]
) -> bool:
    try:
        verify_consistency(size1, size2, root1, root2, proof)
    except ProofError:
        return True
    return False


@PROPERTY_SETTINGS
@given(leaf_hash_lists(min_size=2), st.data())
def test_inclusion_rejects_index_off_by_one(
    leaf_hashes: list[bytes], data: st.DataObject
) -> None:
    size = len(leaf_hashes)
    index = data.draw(st.integers(min_value=0, max_value=size - 1), label="index")
    proof = inclusion_proof(index, leaf_hashes)
    root = root_from_leaf_hashes(leaf_hashes)
    for wrong_index in (index - 1, index + 1):
        assert rejects_inclusion(wrong_index, size, leaf_hashes[index], proof, root)


@PROPERTY_SETTINGS
@given(leaf_hash_lists(min_size=2), st.data())
def test_consistency_rejects_size1_off_by_one(
    leaf_hashes: list[bytes], data: st.DataObject
) -> None:
    size2 = len(leaf_hashes)
    size1 = data.draw(st.integers(min_value=1, max_value=size2 - 1), label="size1")
    root1 = root_from_leaf_hashes(leaf_hashes[:size1])
    root2 = root_from_leaf_hashes(leaf_hashes)
    proof = consistency_proof(size1, leaf_hashes)
    for wrong_size1 in (size1 - 1, size1 + 1):
        assert rejects_consistency(wrong_size1, size2, root1, root2, proof)


@PROPERTY_SETTINGS
@given(leaf_hash_lists(min_size=2), st.data())
def test_size_change_rejected_unless_same_shape(
    leaf_hashes: list[bytes], data: st.DataObject
) -> None:
    # A proof binds the tree size only through its shape (see
    # test_inclusion_proof_does_not_bind_size): a size of the same shape is
    # accepted. Every other size change must be rejected.
    size = len(leaf_hashes)
    index = data.draw(st.integers(min_value=0, max_value=size - 2), label="index")
    proof = inclusion_proof(index, leaf_hashes)
    root = root_from_leaf_hashes(leaf_hashes)
    for wrong_size in (size - 1, size + 1):
        same_shape = proof_shape(index, wrong_size) == proof_shape(index, size)
        rejected = rejects_inclusion(index, wrong_size, leaf_hashes[index], proof, root)
        assert rejected != same_shape, f"size {size} -> {wrong_size}"


def proof_shape(index: int, size: int) -> list[bool]:
    """List, from the leaf up, whether each proof hash is a left sibling."""
    shape = []
    low, high = 0, size
    while high - low > 1:
        split = low + (1 << ((high - low - 1).bit_length() - 1))
        if index < split:
            shape.append(False)
            high = split
        else:
            shape.append(True)
            low = split
    return shape[::-1]

"""RFC 6962 / RFC 9162 Merkle tree hashing, proofs and proof verification.

The audit log of a session is a Merkle tree over the hashes of its records.
Leaf and interior hashes follow RFC 6962 §2.1 (SHA-256 with the 0x00 and
0x01 domain-separation prefixes), proofs follow RFC 9162 §2.1.3 and §2.1.4.
Verification also applies the stricter edge rules of the transparency-dev/merkle
Go package. Hash lengths and proof lengths are checked exactly before any
hashing, so a proof with a missing or trailing hash is rejected.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MerkleFrontier",
    "ProofError",
    "consistency_proof",
    "hash_children",
    "hash_leaf",
    "inclusion_proof",
    "root_from_consistency_proof",
    "root_from_inclusion_proof",
    "root_from_leaf_hashes",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
"""Length in bytes of every leaf, node and root hash (SHA-256)."""

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""Root hash of the tree with no leaves: SHA-256 of the empty string."""

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


class ProofError(ValueError):
    """A Merkle proof or its inputs are invalid, or the proof does not verify.

    The message names the step that failed. For a root mismatch it contains
    both the expected and the computed root in hex.
    """


def hash_leaf(data: bytes) -> bytes:
    """Hash one leaf: SHA-256(0x00 ‖ data).

    Args:
        data: The leaf's content, for example a record's canonical bytes.

    Returns:
        The 32-byte leaf hash.
    """
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def hash_children(left: bytes, right: bytes) -> bytes:
    """Hash an interior node: SHA-256(0x01 ‖ left ‖ right).

    Args:
        left: Hash of the left subtree.
        right: Hash of the right subtree.

    Returns:
        The 32-byte node hash.
    """
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def _check_hash(value: bytes, name: str) -> None:
    if len(value) != HASH_SIZE:
        raise ProofError(f"{name} must be {HASH_SIZE} bytes, got {len(value)}")


def _check_hashes(values: Sequence[bytes], name: str) -> None:
    for position, value in enumerate(values):
        _check_hash(value, f"{name}[{position}]")


def _check_match(step: str, expected: bytes, computed: bytes) -> None:
    if computed != expected:
        raise ProofError(
            f"{step}: computed root {computed.hex()} does not match "
            f"expected root {expected.hex()}"
        )


def _largest_power_of_two_below(n: int) -> int:
    """Return the largest power of two strictly less than ``n`` (``n`` >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_from_leaf_hashes(leaf_hashes: Sequence[bytes]) -> bytes:
    """Compute the Merkle Tree Hash (RFC 6962 §2.1) of a list of leaf hashes.

    RFC 6962 splits a list of n leaves at the largest power of two k < n.
    Hashing level by level from the leaves up, pairing neighbours and
    promoting a lone last node unchanged, builds exactly that tree, so this
    needs no recursion and handles any size. A lone node is never paired with
    a copy of itself.

    Args:
        leaf_hashes: Leaf hashes (see `hash_leaf`) in log order.

    Returns:
        The 32-byte root, or `EMPTY_ROOT` for an empty list.

    Raises:
        ProofError: A leaf hash is not 32 bytes long.
    """
    _check_hashes(leaf_hashes, "leaf_hashes")
    if not leaf_hashes:
        return EMPTY_ROOT
    level = list(leaf_hashes)
    while len(level) > 1:
        parents = [
            hash_children(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)
        ]
        if len(level) % 2 == 1:
            parents.append(level[-1])
        level = parents
    return level[0]


class MerkleFrontier:
    """Streaming builder of a Merkle Tree Hash that keeps O(log n) state.

    The state is the list of roots of the perfect subtrees that make up the
    tree so far, one per set bit of `size`, largest (leftmost) first.
    `root` returns the same value as `root_from_leaf_hashes` over all the
    appended leaf hashes.
    """

    def __init__(self) -> None:
        """Start an empty tree."""
        self._subtree_roots: list[bytes] = []
        self._size = 0

    @property
    def size(self) -> int:
        """Number of leaf hashes appended so far."""
        return self._size

    def append(self, leaf_hash: bytes) -> None:
        """Append one leaf hash to the tree.

        Args:
            leaf_hash: The 32-byte hash of the new leaf (see `hash_leaf`).

        Raises:
            ProofError: ``leaf_hash`` is not 32 bytes long.
        """
        _check_hash(leaf_hash, "leaf_hash")
        node = leaf_hash
        # Each trailing one bit of the old size is a perfect subtree of the
        # same height as `node`, so merge them the way binary addition carries.
        carry = self._size
        while carry & 1:
            node = hash_children(self._subtree_roots.pop(), node)
            carry >>= 1
        self._subtree_roots.append(node)
        self._size += 1

    def root(self) -> bytes:
        """Compute the root hash of the leaves appended so far.

        Returns:
            The 32-byte root, or `EMPTY_ROOT` when no leaf was appended.
        """
        if not self._subtree_roots:
            return EMPTY_ROOT
        # Fold right to left: RFC 6962 puts the largest perfect subtree on the
        # left and the tree of the remaining leaves on the right.
        node = self._subtree_roots[-1]
        for left in reversed(self._subtree_roots[:-1]):
            node = hash_children(left, node)
        return node


def inclusion_proof(index: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """Build the inclusion proof PATH(index, D[n]) of RFC 9162 §2.1.3.1.

    Args:
        index: Zero-based index of the leaf to prove.
        leaf_hashes: All leaf hashes of the tree, in log order.

    Returns:
        The sibling hashes from the leaf's level up to the root's children.

    Raises:
        ProofError: ``index`` is not in ``[0, len(leaf_hashes))``, or a leaf
            hash is not 32 bytes long.
    """
    size = len(leaf_hashes)
    if not 0 <= index < size:
        raise ProofError(
            f"inclusion proof: index {index} is out of range for tree size {size}"
        )
    _check_hashes(leaf_hashes, "leaf_hashes")
    # Walk down from the root, keeping the subtree [low, high) that contains
    # the leaf. The sibling found at each level belongs at the end of the
    # proof, so the list is built top-down and reversed at the end.
    siblings: list[bytes] = []
    low, high = 0, size
    while high - low > 1:
        split = low + _largest_power_of_two_below(high - low)
        if index < split:
            siblings.append(root_from_leaf_hashes(leaf_hashes[split:high]))
            high = split
        else:
            siblings.append(root_from_leaf_hashes(leaf_hashes[low:split]))
            low = split
    siblings.reverse()
    return siblings


def consistency_proof(size1: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """Build the consistency proof PROOF(size1, D[n]) of RFC 9162 §2.1.4.1.

    Args:
        size1: Size of the earlier tree, a prefix of ``leaf_hashes``.
        leaf_hashes: All leaf hashes of the later tree, in log order.

    Returns:
        The proof hashes. The proof is empty when ``size1`` equals the tree
        size, which `verify_consistency` accepts only with equal roots.

    Raises:
        ProofError: ``size1`` is negative or larger than the tree, or it is 0
            for a non-empty tree (`verify_consistency` rejects every proof
            from an empty tree to a non-empty one), or a leaf hash is not 32
            bytes long.
    """
    size2 = len(leaf_hashes)
    if not 0 <= size1 <= size2:
        raise ProofError(
            f"consistency proof: size1 {size1} is out of range for tree size {size2}"
        )
    if size1 == 0 and size2 > 0:
        raise ProofError(
            "consistency proof: a proof from the empty tree (size1 0) proves nothing"
            " and is not built"
        )
    _check_hashes(leaf_hashes, "leaf_hashes")
    if size1 == size2:
        return []
    # This is the RFC's SUBPROOF(m, D[low:high], whole) without recursion. It
    # walks down until the subtree [low, high) contains exactly m old leaves. That
    # subtree's root goes first unless it is the old root itself (whole is
    # still true). The siblings, collected top-down, follow in reverse order.
    siblings: list[bytes] = []
    low, high, m, whole = 0, size2, size1, True
    while m != high - low:
        k = _largest_power_of_two_below(high - low)
        if m <= k:
            siblings.append(root_from_leaf_hashes(leaf_hashes[low + k : high]))
            high = low + k
        else:
            siblings.append(root_from_leaf_hashes(leaf_hashes[low : low + k]))
            low, m, whole = low + k, m - k, False
    siblings.reverse()
    if whole:
        return siblings
    return [root_from_leaf_hashes(leaf_hashes[low:high]), *siblings]


def _decompose_inclusion_proof(index: int, size: int) -> tuple[int, int]:
    """Split the proof length for leaf ``index`` in a tree of ``size`` leaves.

    Returns ``(inner, border)``: ``inner`` hashes lie below the level where the
    paths to ``index`` and to the last leaf ``size - 1`` meet, and ``border``
    hashes are left siblings on the tree's right border above it.
    """
    inner = (index ^ (size - 1)).bit_length()
    border = (index >> inner).bit_count()
    return inner, border


def _chain_inner(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    for level, sibling in enumerate(proof):
        if (index >> level) & 1 == 0:
            seed = hash_children(seed, sibling)
        else:
            seed = hash_children(sibling, seed)
    return seed


def _chain_inner_right(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    # Only left siblings belong to the older, smaller tree.
    for level, sibling in enumerate(proof):
        if (index >> level) & 1 == 1:
            seed = hash_children(sibling, seed)
    return seed


def _chain_border_right(seed: bytes, proof: Sequence[bytes]) -> bytes:
    # Above the split every proof hash is a left sibling.
    for sibling in proof:
        seed = hash_children(sibling, seed)
    return seed


def root_from_inclusion_proof(
    index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes]
) -> bytes:
    """Compute the root that an inclusion proof leads to (RFC 9162 §2.1.3.2).

    Preconditions are checked before any hashing: ``0 <= index < size``, the
    leaf hash and every proof hash are 32 bytes, and the proof has exactly the
    number of hashes that the index and size call for.

    Args:
        index: Zero-based index of the leaf.
        size: Number of leaves in the tree.
        leaf_hash: The leaf's 32-byte hash (see `hash_leaf`).
        proof: Sibling hashes from the leaf's level upwards.

    Returns:
        The 32-byte root hash that the proof leads to.

    Raises:
        ProofError: A precondition does not hold.
    """
    if not 0 <= index < size:
        raise ProofError(
            f"inclusion proof: index {index} is out of range for tree size {size}"
        )
    _check_hash(leaf_hash, "leaf_hash")
    _check_hashes(proof, "proof")
    inner, border = _decompose_inclusion_proof(index, size)
    if len(proof) != inner + border:
        raise ProofError(
            f"inclusion proof: proof has {len(proof)} hashes, expected "
            f"{inner + border} for index {index} in a tree of size {size}"
        )
    node = _chain_inner(leaf_hash, proof[:inner], index)
    return _chain_border_right(node, proof[inner:])


def verify_inclusion(
    index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Verify that a leaf is included in the tree with the given root and size.

    NOTE: The proof does not bind ``size``. The size only fixes the proof's
    shape, so the same proof and root often also verify at ``size - 1`` or
    ``size + 1``. Take the size from the same trusted source as the root, such
    as the signed settlement, which signs ``tree_size`` with the root.

    Args:
        index: Zero-based index of the leaf.
        size: Number of leaves in the tree.
        leaf_hash: The leaf's 32-byte hash (see `hash_leaf`).
        proof: Sibling hashes from the leaf's level upwards.
        root: Expected 32-byte root hash of the tree.

    Raises:
        ProofError: A precondition of `root_from_inclusion_proof` does not
            hold, ``root`` is not 32 bytes, or the computed root differs from
            ``root``.
    """
    computed = root_from_inclusion_proof(index, size, leaf_hash, proof)
    _check_hash(root, "root")
    _check_match("inclusion proof", root, computed)


def root_from_consistency_proof(
    size1: int, size2: int, root1: bytes, proof: Sequence[bytes]
) -> bytes:
    """Check a consistency proof against ``root1`` and compute the later root.

    This is RFC 9162 §2.1.4.2 with the transparency-dev/merkle edge rules.
    Sizes must satisfy ``0 < size1 < size2``, because `verify_consistency`
    handles equal sizes (and the empty tree) without a proof.

    Args:
        size1: Size of the earlier tree.
        size2: Size of the later tree.
        root1: The earlier tree's 32-byte root.
        proof: Consistency proof hashes (see `consistency_proof`).

    Returns:
        The 32-byte root of the tree of ``size2`` leaves that the proof leads to.

    Raises:
        ProofError: ``size1`` or ``size2`` is out of range, a hash is not 32
            bytes, the proof does not have exactly the expected number of
            hashes, or the root the proof leads to for ``size1`` is not
            ``root1``.
    """
    if not 0 < size1 < size2:
        raise ProofError(
            f"consistency proof: sizes {size1} and {size2} do not satisfy"
            " 0 < size1 < size2"
        )
    _check_hash(root1, "root1")
    _check_hashes(proof, "proof")
    # The proof is the tail of the inclusion proof of leaf size1 - 1 in the
    # later tree, starting at the level of the old tree's last complete
    # subtree (height `shift`).
    inner, border = _decompose_inclusion_proof(size1 - 1, size2)
    shift = (size1 & -size1).bit_length() - 1
    inner -= shift
    # When size1 is a power of two, that subtree is the whole old tree, so
    # root1 is the starting hash and the proof does not repeat it.
    starts_at_root1 = size1 == 1 << shift
    expected_length = inner + border + (0 if starts_at_root1 else 1)
    if len(proof) != expected_length:
        raise ProofError(
            f"consistency proof: proof has {len(proof)} hashes, expected "
            f"{expected_length} for sizes {size1} and {size2}"
        )
    if starts_at_root1:
        seed, tail = root1, proof
    else:
        seed, tail = proof[0], proof[1:]
    mask = (size1 - 1) >> shift
    old_root = _chain_inner_right(seed, tail[:inner], mask)
    old_root = _chain_border_right(old_root, tail[inner:])
    _check_match("consistency proof (root1)", root1, old_root)
    new_root = _chain_inner(seed, tail[:inner], mask)
    return _chain_border_right(new_root, tail[inner:])


def verify_consistency(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]
) -> None:
    """Verify that the tree of ``size1`` leaves is a prefix of the later tree.

    Edge rules, checked before any hashing:

    - ``size1 > size2`` or a negative size is rejected.
    - ``size1 == size2`` accepts only an empty proof and ``root1 == root2``.
      The roots are compared byte for byte and not length-checked, as in
      transparency-dev/merkle, because no hash is computed.
    - Both sizes 0: accepted only with an empty proof and both roots equal to
      `EMPTY_ROOT`, because that is the only root a tree without leaves has.
    - ``size1 == 0 < size2`` is always rejected, whatever the roots and proof.
      The empty tree is a prefix of every tree, so such a proof would carry no
      information, and rejecting it catches a caller that passes a zero size
      by mistake. This matches transparency-dev/merkle and its test vectors.
      A caller that starts from an empty log needs no consistency check.

    NOTE: As with `verify_inclusion`, the proof does not bind ``size2``, so the
    same proof and roots often also verify at ``size2 - 1`` or ``size2 + 1``.
    A wrong ``size1`` is rejected because ``root1`` is recomputed from it.

    Args:
        size1: Size of the earlier tree.
        size2: Size of the later tree.
        root1: The earlier tree's root.
        root2: The later tree's root.
        proof: Consistency proof hashes (see `consistency_proof`).

    Raises:
        ProofError: An edge rule rejects the input, a hash or the proof has the
            wrong length, or a computed root differs from ``root1`` or
            ``root2``.
    """
    if size1 < 0 or size2 < 0:
        raise ProofError(f"consistency proof: sizes {size1} and {size2} are negative")
    if size1 > size2:
        raise ProofError(
            f"consistency proof: size1 {size1} is greater than size2 {size2}"
        )
    if size1 == size2:
        if proof:
            raise ProofError(
                f"consistency proof: sizes are equal ({size1}) but the proof has"
                f" {len(proof)} hashes, expected none"
            )
        if size1 == 0:
            _check_match("consistency proof (empty tree)", root1, EMPTY_ROOT)
        _check_match("consistency proof (equal sizes)", root2, root1)
        return
    if size1 == 0:
        raise ProofError(
            f"consistency proof: a proof from the empty tree to size {size2}"
            " proves nothing and is rejected"
        )
    _check_hash(root2, "root2")
    computed = root_from_consistency_proof(size1, size2, root1, proof)
    _check_match("consistency proof (root2)", root2, computed)

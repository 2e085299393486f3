"""The audit log: canonical records, RFC 6962 Merkle proofs and signed settlements."""

from ssoar.audit._canonical import (
    CanonicalJSONError,
    canonical_json,
    canonical_record_json,
)
from ssoar.audit._log import (
    Leaf,
    SessionLog,
)
from ssoar.audit._merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
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
from ssoar.audit._proof import (
    PROOF_FORMAT,
    InclusionProofDocument,
)
from ssoar.audit._signing import (
    SignatureInvalid,
    SigningKey,
    compute_key_id,
    verify_signature,
)

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "PROOF_FORMAT",
    "CanonicalJSONError",
    "InclusionProofDocument",
    "Leaf",
    "MerkleFrontier",
    "ProofError",
    "SessionLog",
    "SignatureInvalid",
    "SigningKey",
    "canonical_json",
    "canonical_record_json",
    "compute_key_id",
    "consistency_proof",
    "hash_children",
    "hash_leaf",
    "inclusion_proof",
    "root_from_consistency_proof",
    "root_from_inclusion_proof",
    "root_from_leaf_hashes",
    "verify_consistency",
    "verify_inclusion",
    "verify_signature",
]

"""Booth policies: Cedar policy sets, their schema and their evaluation."""

from ssoar.policy._policy_set import (
    POLICY_COUNT_MAX,
    BoothPolicies,
    Evaluation,
    PolicyInfo,
    PolicySource,
    compute_policy_digest,
)
from ssoar.policy._schema import CONTEXT_ATTRIBUTES, ContextAttribute, build_schema
from ssoar.policy._source import PolicyStatement, read_policy_files, split_policies

__all__ = [
    "CONTEXT_ATTRIBUTES",
    "POLICY_COUNT_MAX",
    "BoothPolicies",
    "ContextAttribute",
    "Evaluation",
    "PolicyInfo",
    "PolicySource",
    "PolicyStatement",
    "build_schema",
    "compute_policy_digest",
    "read_policy_files",
    "split_policies",
]

"""Reading the store: the reconciliation ledger, explanations, proofs, verification."""

from ssoar.report._explain import QUESTIONS, explain_session
from ssoar.report._ledger import LedgerReport, build_report
from ssoar.report._prove import prove_record
from ssoar.report._verify import VerifyReport, verify_session, verify_store

__all__ = [
    "QUESTIONS",
    "LedgerReport",
    "VerifyReport",
    "build_report",
    "explain_session",
    "prove_record",
    "verify_session",
    "verify_store",
]

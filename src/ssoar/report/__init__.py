"""Reading the store: the reconciliation ledger, explanations, proofs, verification."""

-- Every table below except schema_migrations holds projections of audit
-- records: each row names the session and the leaf it was derived from, and
-- `ssoar verify` checks every row against that leaf.

CREATE TABLE policy_sets (
    digest TEXT PRIMARY KEY,
    sources TEXT NOT NULL
) STRICT;

CREATE TABLE audit_leaves (
    session_id TEXT NOT NULL,
    leaf_index INTEGER NOT NULL,
    record_type TEXT NOT NULL,
    record_id TEXT NOT NULL,
    record BLOB NOT NULL,
    leaf_hash BLOB NOT NULL,
    PRIMARY KEY (session_id, leaf_index)
) STRICT, WITHOUT ROWID;

CREATE TABLE sessions (
    session_id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    template TEXT NOT NULL,
    origin TEXT NOT NULL,
    opened_at TEXT NOT NULL,
    labels TEXT NOT NULL,
    policy_digest TEXT NOT NULL,
    leaf_index INTEGER NOT NULL
) STRICT;
CREATE INDEX sessions_by_tenant ON sessions (tenant, opened_at);

CREATE TABLE participants (
    session_id TEXT NOT NULL,
    participant_id TEXT NOT NULL,
    class TEXT NOT NULL,
    name TEXT NOT NULL,
    scope TEXT NOT NULL,
    declared INTEGER NOT NULL,
    leaf_index INTEGER NOT NULL,
    PRIMARY KEY (session_id, participant_id)
) STRICT;

CREATE TABLE grants (
    grant_id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    grantor TEXT NOT NULL,
    grantee TEXT NOT NULL,
    scope TEXT NOT NULL,
    not_before TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    parent_grant_id TEXT,
    grant_session_id TEXT,
    leaf_index INTEGER NOT NULL
) STRICT;
CREATE INDEX grants_by_session ON grants (session_id);

CREATE TABLE grant_revocations (
    grant_id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    revoked_at TEXT NOT NULL,
    reason TEXT NOT NULL,
    leaf_index INTEGER NOT NULL
) STRICT;
CREATE INDEX grant_revocations_by_session ON grant_revocations (session_id);

CREATE TABLE session_accounts (
    session_id TEXT NOT NULL,
    account_id TEXT NOT NULL,
    quota_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    scope_key TEXT NOT NULL,
    unit TEXT NOT NULL,
    currency TEXT,
    limit_amount TEXT NOT NULL,
    kinds TEXT NOT NULL,
    posted_before TEXT NOT NULL,
    leaf_index INTEGER NOT NULL,
    PRIMARY KEY (session_id, account_id)
) STRICT;
CREATE INDEX session_accounts_by_account ON session_accounts (account_id);

CREATE TABLE crossings (
    crossing_id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    actor_id TEXT NOT NULL,
    invoker_id TEXT,
    target_type TEXT,
    target_id TEXT,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    state TEXT NOT NULL,
    attributes TEXT NOT NULL,
    usage TEXT,
    usage_source TEXT NOT NULL,
    error TEXT,
    source TEXT,
    allowed INTEGER NOT NULL,
    decision TEXT NOT NULL,
    leaf_index INTEGER NOT NULL
) STRICT;
CREATE INDEX crossings_by_session ON crossings (session_id, leaf_index);

-- Ledger entries are keyed by session and crossing: sessions are written
-- whole, so these keys arrive in order and inserts stay cheap.
CREATE TABLE compute_entries (
    session_id TEXT NOT NULL,
    crossing_id TEXT NOT NULL,
    model TEXT,
    provider TEXT,
    input_uncached_tokens INTEGER NOT NULL,
    cache_read_tokens INTEGER NOT NULL,
    cache_write_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    reasoning_tokens INTEGER NOT NULL,
    usage_source TEXT NOT NULL,
    flops TEXT,
    flops_basis TEXT,
    leaf_index INTEGER NOT NULL,
    PRIMARY KEY (session_id, crossing_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE billing_entries (
    session_id TEXT NOT NULL,
    crossing_id TEXT NOT NULL,
    status TEXT NOT NULL,
    usage_amount TEXT,
    usage_currency TEXT,
    toll_amount TEXT NOT NULL,
    toll_currency TEXT NOT NULL,
    billed_usage TEXT,
    model_id TEXT,
    provider_id TEXT,
    price_ref TEXT,
    catalogue_version TEXT,
    priced_at TEXT,
    message TEXT,
    leaf_index INTEGER NOT NULL,
    PRIMARY KEY (session_id, crossing_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE entitlement_entries (
    session_id TEXT NOT NULL,
    crossing_id TEXT NOT NULL,
    accounts TEXT NOT NULL,
    postings TEXT NOT NULL,
    overdrafts TEXT NOT NULL,
    leaf_index INTEGER NOT NULL,
    PRIMARY KEY (session_id, crossing_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE entitlement_releases (
    session_id TEXT NOT NULL,
    transfer_id TEXT NOT NULL,
    account_id TEXT NOT NULL,
    crossing_id TEXT NOT NULL,
    amount TEXT NOT NULL,
    released_at TEXT NOT NULL,
    leaf_index INTEGER NOT NULL,
    PRIMARY KEY (session_id, transfer_id)
) STRICT, WITHOUT ROWID;

-- The authority, memory, placement and settlement ledgers: one row per
-- crossing and ledger, with the entry as JSON.
CREATE TABLE ledger_entries (
    session_id TEXT NOT NULL,
    crossing_id TEXT NOT NULL,
    ledger TEXT NOT NULL,
    body TEXT NOT NULL,
    leaf_index INTEGER NOT NULL,
    PRIMARY KEY (session_id, crossing_id, ledger)
) STRICT, WITHOUT ROWID;

CREATE TABLE settlements (
    session_id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    state TEXT NOT NULL,
    close_reason TEXT NOT NULL,
    closed_at TEXT NOT NULL,
    settled_at TEXT NOT NULL,
    merkle_root TEXT NOT NULL,
    tree_size INTEGER NOT NULL,
    key_id TEXT NOT NULL,
    public_key BLOB NOT NULL,
    record BLOB NOT NULL,
    signature BLOB NOT NULL
) STRICT;
CREATE INDEX settlements_by_tenant ON settlements (tenant, closed_at);

CREATE TABLE settlement_exceptions (
    session_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    crossing_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    reason TEXT NOT NULL,
    message TEXT NOT NULL,
    money_at_risk TEXT,
    money_currency TEXT,
    review_cost TEXT NOT NULL,
    review_currency TEXT NOT NULL,
    PRIMARY KEY (session_id, position)
) STRICT;
CREATE INDEX settlement_exceptions_by_reason ON settlement_exceptions (reason);

-- What each settled session posted to each entitlement account, so a
-- tenant-wide quota knows its earlier usage.
CREATE TABLE settlement_accounts (
    session_id TEXT NOT NULL,
    account_id TEXT NOT NULL,
    posted TEXT NOT NULL,
    PRIMARY KEY (session_id, account_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX settlement_accounts_by_account ON settlement_accounts (account_id);

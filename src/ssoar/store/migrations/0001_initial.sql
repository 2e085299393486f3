-- The audit log is the single source of truth. audit_leaves holds every
-- record of every session; each table below it is a projection of those
-- records (each row names its session and leaf), and each ledger is a view
-- over them. `ssoar verify` recomputes every projected row from its leaf.

CREATE TABLE audit_leaves (
    session_id TEXT NOT NULL,
    leaf_index INTEGER NOT NULL,
    record_type TEXT NOT NULL,
    record_id TEXT NOT NULL,
    record BLOB NOT NULL,
    leaf_hash BLOB NOT NULL,
    UNIQUE (session_id, leaf_index)
) STRICT;

CREATE TABLE policy_sets (
    digest TEXT PRIMARY KEY,
    sources TEXT NOT NULL
) STRICT;

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
) STRICT, WITHOUT ROWID;

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
) STRICT, WITHOUT ROWID;
CREATE INDEX grants_by_session ON grants (session_id);

CREATE TABLE grant_revocations (
    grant_id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    revoked_at TEXT NOT NULL,
    reason TEXT NOT NULL,
    leaf_index INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
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
) STRICT, WITHOUT ROWID;
CREATE INDEX session_accounts_by_account ON session_accounts (account_id);

-- One row per crossing, for finding crossings by id, session, kind or state;
-- the crossing's full record, decision and ledger entries are in its leaf.
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
    allowed INTEGER NOT NULL,
    leaf_index INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX crossings_by_session ON crossings (session_id, leaf_index);

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
) STRICT, WITHOUT ROWID;
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

-- The ledgers, one entry per crossing and ledger, read from the crossing
-- records. Written once, inside the crossing's leaf, they cannot disagree
-- with the audit log.
CREATE VIEW crossing_records AS
SELECT session_id, leaf_index, record_id AS crossing_id,
       CAST(record AS TEXT) AS record
FROM audit_leaves
WHERE record_type = 'crossing';

CREATE VIEW compute_entries AS
SELECT session_id, crossing_id,
       json_extract(record, '$.ledgers.compute.model') AS model,
       json_extract(record, '$.ledgers.compute.provider') AS provider,
       json_extract(record, '$.ledgers.compute.usage.input_uncached_tokens')
           AS input_uncached_tokens,
       json_extract(record, '$.ledgers.compute.usage.cache_read_tokens')
           AS cache_read_tokens,
       json_extract(record, '$.ledgers.compute.usage.cache_write_tokens')
           AS cache_write_tokens,
       json_extract(record, '$.ledgers.compute.usage.output_tokens') AS output_tokens,
       json_extract(record, '$.ledgers.compute.usage.reasoning_tokens')
           AS reasoning_tokens,
       json_extract(record, '$.ledgers.compute.usage_source') AS usage_source,
       json_extract(record, '$.ledgers.compute.flops') AS flops,
       json_extract(record, '$.ledgers.compute.flops_basis') AS flops_basis,
       leaf_index
FROM crossing_records
WHERE json_type(record, '$.ledgers.compute') = 'object';

CREATE VIEW billing_entries AS
SELECT session_id, crossing_id,
       json_extract(record, '$.ledgers.billing.status') AS status,
       json_extract(record, '$.ledgers.billing.usage_charge.amount') AS usage_amount,
       json_extract(record, '$.ledgers.billing.usage_charge.currency') AS usage_currency,
       json_extract(record, '$.ledgers.billing.toll.amount') AS toll_amount,
       json_extract(record, '$.ledgers.billing.toll.currency') AS toll_currency,
       json_extract(record, '$.ledgers.billing.model_id') AS model_id,
       json_extract(record, '$.ledgers.billing.provider_id') AS provider_id,
       json_extract(record, '$.ledgers.billing.price_ref') AS price_ref,
       json_extract(record, '$.ledgers.billing.catalogue_version') AS catalogue_version,
       json_extract(record, '$.ledgers.billing.priced_at') AS priced_at,
       json_extract(record, '$.ledgers.billing.message') AS message,
       leaf_index
FROM crossing_records;

CREATE VIEW entitlement_entries AS
SELECT session_id, crossing_id,
       json_extract(record, '$.ledgers.entitlement.postings') AS postings,
       json_extract(record, '$.ledgers.entitlement.overdrafts') AS overdrafts,
       leaf_index
FROM crossing_records
WHERE json_array_length(record, '$.ledgers.entitlement.postings') > 0
   OR json_array_length(record, '$.ledgers.entitlement.overdrafts') > 0;

CREATE VIEW entitlement_releases AS
SELECT session_id,
       json_extract(CAST(record AS TEXT), '$.transfer.transfer_id') AS transfer_id,
       json_extract(CAST(record AS TEXT), '$.transfer.account_id') AS account_id,
       json_extract(CAST(record AS TEXT), '$.transfer.crossing_id') AS crossing_id,
       json_extract(CAST(record AS TEXT), '$.transfer.amount') AS amount,
       json_extract(CAST(record AS TEXT), '$.released_at') AS released_at,
       leaf_index
FROM audit_leaves
WHERE record_type = 'release';

CREATE VIEW authority_entries AS
SELECT session_id, crossing_id,
       json_extract(record, '$.ledgers.authority.status') AS status,
       json_extract(record, '$.ledgers.authority.holder') AS holder,
       json_extract(record, '$.ledgers.authority.grant_id') AS grant_id,
       json_extract(record, '$.ledgers.authority.chain') AS chain,
       json_extract(record, '$.ledgers.authority.message') AS message,
       leaf_index
FROM crossing_records;

CREATE VIEW memory_entries AS
SELECT session_id, crossing_id,
       json_extract(record, '$.ledgers.memory') AS entry, leaf_index
FROM crossing_records
WHERE json_type(record, '$.ledgers.memory') = 'object';

CREATE VIEW placement_entries AS
SELECT session_id, crossing_id,
       json_extract(record, '$.ledgers.placement') AS entry, leaf_index
FROM crossing_records
WHERE json_type(record, '$.ledgers.placement') = 'object';

CREATE VIEW settlement_entries AS
SELECT session_id, crossing_id,
       json_extract(record, '$.ledgers.settlement') AS entry, leaf_index
FROM crossing_records
WHERE json_type(record, '$.ledgers.settlement') = 'object';

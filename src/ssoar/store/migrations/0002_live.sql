-- The live booth. Sessions run through the SDK or the HTTP service keep
-- their state here while they are open: an append-only event log per
-- session, and the balances that every booth process shares. When a session
-- closes, its events are settled into the audit log and tables above, in the
-- same transaction that marks it closed.

CREATE TABLE tenants (
    tenant TEXT PRIMARY KEY,
    created_at TEXT NOT NULL
) STRICT;

-- API keys are stored as the SHA-256 of their secret, never the secret.
CREATE TABLE api_keys (
    key_id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL REFERENCES tenants (tenant),
    scopes TEXT NOT NULL,
    secret_sha256 BLOB NOT NULL,
    label TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
) STRICT;

-- The quotas of each tenant's plan, shared by all of its sessions.
CREATE TABLE plan_quotas (
    tenant TEXT NOT NULL,
    quota_id TEXT NOT NULL,
    spec TEXT NOT NULL,
    PRIMARY KEY (tenant, quota_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE live_sessions (
    session_id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    template TEXT NOT NULL,
    state TEXT NOT NULL,
    opened_at TEXT NOT NULL,
    last_activity_at TEXT NOT NULL,
    idle_timeout_seconds INTEGER NOT NULL,
    idle_deadline TEXT NOT NULL,
    lifetime_deadline TEXT NOT NULL,
    webhook_url TEXT,
    close_reason TEXT,
    closed_at TEXT,
    error TEXT
) STRICT;
CREATE INDEX live_sessions_open_idle ON live_sessions (state, idle_deadline);
CREATE INDEX live_sessions_open_lifetime ON live_sessions (state, lifetime_deadline);
CREATE INDEX live_sessions_by_tenant ON live_sessions (tenant, opened_at);

-- Every change to an open session, in order. Never updated or deleted.
CREATE TABLE live_events (
    session_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    type TEXT NOT NULL,
    body BLOB NOT NULL,
    PRIMARY KEY (session_id, seq)
) STRICT;

-- Each entitlement account's running balance. An account is shared by every
-- session and process that draws on it; a reservation checks it inside the
-- write transaction, so two booths can never both take the last unit.
CREATE TABLE live_balances (
    account_id TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    limit_amount TEXT NOT NULL,
    reserved TEXT NOT NULL,
    posted TEXT NOT NULL
) STRICT, WITHOUT ROWID;

-- The control plane's whole state. Times are unix seconds; booleans are 0/1 integers because
-- sqlx's Any driver cannot carry SQLite booleans. Names are unique keys, never primary keys,
-- so a rename touches one row.

CREATE TABLE regions (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    host        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE apis (
    id                 TEXT PRIMARY KEY,
    name               TEXT NOT NULL UNIQUE,
    description        TEXT NOT NULL,
    region_id          TEXT NOT NULL REFERENCES regions (id),
    -- JSON arrays of role names.
    roles              TEXT NOT NULL,
    default_roles      TEXT NOT NULL,
    -- The refresh token sealing key, encrypted under the master key.
    refresh_token_key  BLOB NOT NULL,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
);
CREATE INDEX apis_region ON apis (region_id);

CREATE TABLE signing_keys (
    kid          TEXT PRIMARY KEY,
    api_id       TEXT NOT NULL REFERENCES apis (id) ON DELETE CASCADE,
    -- PKCS#8 private key, encrypted under the master key.
    private_key  BLOB NOT NULL,
    public_x     TEXT NOT NULL,
    public_y     TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    -- The revision that created the key: orders keys created within the same second.
    created_revision INTEGER NOT NULL,
    sign_from    INTEGER NOT NULL,
    retire_at    INTEGER
);
CREATE INDEX signing_keys_api ON signing_keys (api_id);

CREATE TABLE service_accounts (
    id           TEXT PRIMARY KEY,
    api_id       TEXT NOT NULL REFERENCES apis (id) ON DELETE CASCADE,
    client_id    TEXT NOT NULL UNIQUE,
    name         TEXT NOT NULL,
    description  TEXT NOT NULL,
    roles        TEXT NOT NULL,
    enabled      INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE INDEX service_accounts_api ON service_accounts (api_id);

CREATE TABLE client_secrets (
    id                  TEXT PRIMARY KEY,
    service_account_id  TEXT NOT NULL REFERENCES service_accounts (id) ON DELETE CASCADE,
    -- SHA-256 of the secret, hex; the secret itself is never stored.
    digest              TEXT NOT NULL,
    enabled             INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    expires_at          INTEGER NOT NULL,
    created_at          INTEGER NOT NULL
);
CREATE INDEX client_secrets_account ON client_secrets (service_account_id);

CREATE TABLE node_credentials (
    id          TEXT PRIMARY KEY,
    region_id   TEXT NOT NULL REFERENCES regions (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    digest      TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL
);

CREATE TABLE operator_tokens (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    digest      TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL
);

CREATE TABLE data_planes (
    instance       TEXT PRIMARY KEY,
    credential_id  TEXT NOT NULL REFERENCES node_credentials (id) ON DELETE CASCADE,
    region_id      TEXT NOT NULL,
    revision       INTEGER,
    last_seen      INTEGER NOT NULL
);

-- One row: the head revision, and the log floor (the highest revision pruned from the log).
CREATE TABLE config_revision (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    revision   INTEGER NOT NULL,
    log_floor  INTEGER NOT NULL
);
INSERT INTO config_revision (id, revision, log_floor) VALUES (1, 0, 0);

-- References to what changed, never payloads: keys stay encrypted in their own tables.
CREATE TABLE config_changes (
    revision    INTEGER NOT NULL,
    region_id   TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('api', 'region')),
    entity_id   TEXT NOT NULL,
    changed_at  INTEGER NOT NULL,
    PRIMARY KEY (region_id, revision, kind, entity_id)
);
CREATE INDEX config_changes_time ON config_changes (changed_at);

CREATE TABLE refresh_token_uses (
    api_id      TEXT NOT NULL,
    token_id    TEXT NOT NULL,
    family      TEXT NOT NULL,
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (api_id, token_id)
);
CREATE INDEX refresh_token_uses_expiry ON refresh_token_uses (expires_at);

CREATE TABLE refresh_families_revoked (
    api_id      TEXT NOT NULL,
    family      TEXT NOT NULL,
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (api_id, family)
);
CREATE INDEX refresh_families_revoked_expiry ON refresh_families_revoked (expires_at);

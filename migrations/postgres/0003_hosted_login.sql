-- Hosted login: each API's web settings and its identity providers. Both are configuration:
-- every write bumps the revision and reaches the API's data planes.

-- Base URLs of the customer's backend and web app; NULL when not set.
ALTER TABLE apis ADD COLUMN upstream TEXT;
ALTER TABLE apis ADD COLUMN web_upstream TEXT;
-- JSON array of access rules ({role, methods, path}).
ALTER TABLE apis ADD COLUMN access_rules TEXT NOT NULL DEFAULT '[]';
-- JSON arrays of lowercase origins (scheme://host[:port]).
ALTER TABLE apis ADD COLUMN cors_origins TEXT NOT NULL DEFAULT '[]';
ALTER TABLE apis ADD COLUMN redirect_origins TEXT NOT NULL DEFAULT '[]';
-- JSON object: displayName, logoUrl, primaryColor, backgroundColor.
ALTER TABLE apis ADD COLUMN branding TEXT NOT NULL DEFAULT '{}';

CREATE TABLE identity_providers (
    id             TEXT PRIMARY KEY,
    api_id         TEXT NOT NULL REFERENCES apis (id) ON DELETE CASCADE,
    -- microsoft, google, apple, facebook, oidc or vipps; never changes.
    kind           TEXT NOT NULL,
    display_name   TEXT NOT NULL,
    enabled        SMALLINT NOT NULL CHECK (enabled IN (0, 1)),
    auto_create    SMALLINT NOT NULL CHECK (auto_create IN (0, 1)),
    client_id      TEXT NOT NULL,
    -- The client secret, encrypted under the master key; NULL for Apple.
    client_secret  BYTEA,
    -- JSON array of scopes; empty means the kind's defaults.
    scopes         TEXT NOT NULL,
    issuer         TEXT,
    tenant         TEXT,
    team_id        TEXT,
    key_id         TEXT,
    -- Apple's PKCS#8 PEM private key, encrypted under the master key.
    private_key    BYTEA,
    -- JSON object of endpoint overrides: authorization, token, userinfo, jwks.
    endpoints      TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    -- The revision that added the provider: orders the login page's buttons.
    created_revision BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);
CREATE INDEX identity_providers_api ON identity_providers (api_id, created_revision);

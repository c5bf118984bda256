-- Users of each API, the external identities linked to them, and each API's static claims.
-- Users are not configuration: writing one bumps no revision and nothing is pushed, because
-- an API may have millions of them. Data planes ask for one at sign-in through the node API.

-- A JSON object of claims added to every access token of the API.
ALTER TABLE apis ADD COLUMN claims TEXT NOT NULL DEFAULT '{}';

CREATE TABLE users (
    id           TEXT PRIMARY KEY,
    api_id       TEXT NOT NULL REFERENCES apis (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    -- The address as given, and its lowercase form, which is unique per API and searched.
    email        TEXT,
    email_lower  TEXT,
    -- JSON array of role names.
    roles        TEXT NOT NULL,
    disabled     INTEGER NOT NULL CHECK (disabled IN (0, 1)),
    -- JSON object the operator keeps about the user.
    attributes   TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
-- Several users without an address are fine: NULLs are distinct in a unique index.
CREATE UNIQUE INDEX users_api_email ON users (api_id, email_lower);
-- Pages are read in creation order.
CREATE INDEX users_api_created ON users (api_id, created_at, id);

CREATE TABLE user_identities (
    id          TEXT PRIMARY KEY,
    api_id      TEXT NOT NULL REFERENCES apis (id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The identity provider (`google`, or a provider's id) and its identifier of the user.
    authority   TEXT NOT NULL,
    subject     TEXT NOT NULL,
    email       TEXT,
    created_at  INTEGER NOT NULL
);
-- One external identity belongs to one user of an API.
CREATE UNIQUE INDEX user_identities_subject ON user_identities (api_id, authority, subject);
CREATE INDEX user_identities_user ON user_identities (user_id);

-- Passkeys (WebAuthn credentials) of users. Like users they are not configuration: nothing
-- is pushed. A data plane verifies each ceremony itself and asks here, through the node API,
-- for the credential a browser signed with, and records what a ceremony changed.
CREATE TABLE passkeys (
    id               TEXT PRIMARY KEY,
    api_id           TEXT NOT NULL REFERENCES apis (id) ON DELETE CASCADE,
    user_id          TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The WebAuthn user handle, base64url: the subject of the user's `passkey` identity.
    user_handle      TEXT NOT NULL,
    -- The credential id, base64url, as the browser sends it back at sign-in.
    credential_id    TEXT NOT NULL,
    -- The credential as the data plane's WebAuthn library keeps it (JSON): public key,
    -- counter and flags. Public data.
    credential       TEXT NOT NULL,
    name             TEXT NOT NULL,
    sign_count       INTEGER NOT NULL,
    backup_eligible  INTEGER NOT NULL CHECK (backup_eligible IN (0, 1)),
    backup_state     INTEGER NOT NULL CHECK (backup_state IN (0, 1)),
    created_at       INTEGER NOT NULL,
    last_used_at     INTEGER
);
-- A credential id names one passkey of an API; another API's is unknown here.
CREATE UNIQUE INDEX passkeys_credential ON passkeys (api_id, credential_id);
CREATE INDEX passkeys_user ON passkeys (user_id, created_at);

-- Challenges of passkey sign-ins that were used, until they expire: a challenge serves one
-- sign-in, so a replayed assertion (and its sealed cookie) is refused.
CREATE TABLE passkey_challenges (
    id          TEXT PRIMARY KEY,
    api_id      TEXT NOT NULL REFERENCES apis (id) ON DELETE CASCADE,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX passkey_challenges_expiry ON passkey_challenges (expires_at);

-- Refresh families revoked recently (signed out, revoked, or a token reused), pushed to data
-- planes so that the access tokens already issued in them stop working at once instead of
-- living out their hour. A row is kept while such a token could still be valid.
CREATE TABLE revoked_sessions (
    api_id  TEXT NOT NULL REFERENCES apis (id) ON DELETE CASCADE,
    family  TEXT NOT NULL,
    until   BIGINT NOT NULL,
    PRIMARY KEY (api_id, family)
);
CREATE INDEX revoked_sessions_until ON revoked_sessions (until);

-- The change log learns a third kind of entry, `session` (`<api id>:<family>`).
ALTER TABLE config_changes DROP CONSTRAINT config_changes_kind_check;
ALTER TABLE config_changes ADD CONSTRAINT config_changes_kind_check
    CHECK (kind IN ('api', 'region', 'session'));

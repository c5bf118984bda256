-- Refresh families revoked recently (signed out, revoked, or a token reused), pushed to data
-- planes so that the access tokens already issued in them stop working at once instead of
-- living out their hour. A row is kept while such a token could still be valid.
CREATE TABLE revoked_sessions (
    api_id  TEXT NOT NULL REFERENCES apis (id) ON DELETE CASCADE,
    family  TEXT NOT NULL,
    until   INTEGER NOT NULL,
    PRIMARY KEY (api_id, family)
);
CREATE INDEX revoked_sessions_until ON revoked_sessions (until);

-- The change log learns a third kind of entry, `session` (`<api id>:<family>`). SQLite cannot
-- change a CHECK constraint in place, so the table is rebuilt with its rows.
CREATE TABLE config_changes_next (
    revision    INTEGER NOT NULL,
    region_id   TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('api', 'region', 'session')),
    entity_id   TEXT NOT NULL,
    changed_at  INTEGER NOT NULL,
    PRIMARY KEY (region_id, revision, kind, entity_id)
);
INSERT INTO config_changes_next (revision, region_id, kind, entity_id, changed_at)
    SELECT revision, region_id, kind, entity_id, changed_at FROM config_changes;
DROP TABLE config_changes;
ALTER TABLE config_changes_next RENAME TO config_changes;
CREATE INDEX config_changes_time ON config_changes (changed_at);

-- Public OAuth clients of an API: native apps and single-page apps, which hold no secret and
-- use PKCE. They are configuration: every write bumps the revision and reaches the API's
-- data planes.
CREATE TABLE public_clients (
    id             TEXT PRIMARY KEY,
    api_id         TEXT NOT NULL REFERENCES apis (id) ON DELETE CASCADE,
    -- The `client_id` the app sends; unique across the platform, so that a client id names
    -- one client whichever API it is presented to.
    client_id      TEXT NOT NULL UNIQUE,
    name           TEXT NOT NULL,
    -- JSON array of redirect URIs, checked and without duplicates.
    redirect_uris  TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    -- The revision that registered the client: orders the list, even within a second.
    created_revision BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);
CREATE INDEX public_clients_api ON public_clients (api_id, created_revision);

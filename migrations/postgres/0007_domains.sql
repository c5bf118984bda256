-- Custom domains: a customer's host name that serves one API like its app host.
-- A domain belongs to one API across the whole platform, hence the unique name. Only a domain
-- whose ownership is verified is configuration (pushed to the API's data planes); adding one
-- and checking its DNS are not.
CREATE TABLE domains (
    id                  TEXT PRIMARY KEY,
    api_id              TEXT NOT NULL REFERENCES apis (id) ON DELETE CASCADE,
    -- Lowercase ASCII host name; an internationalised name in its xn-- form.
    name                TEXT NOT NULL UNIQUE,
    -- The value the customer publishes at _restapi-challenge.<name> to prove control.
    verification_token  TEXT NOT NULL,
    -- pendingDns, then verifying, issuing, active or failed (0008_certificates.sql).
    status              TEXT NOT NULL,
    -- What the last DNS check saw, for the operator.
    status_message      TEXT,
    verified_at         BIGINT,
    -- When the next DNS check is due and how many failed in a row (the backoff); no check is
    -- due once the domain is verified.
    next_check_at       BIGINT,
    failed_checks       BIGINT NOT NULL,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);
CREATE INDEX domains_api ON domains (api_id);
CREATE INDEX domains_due ON domains (next_check_at);

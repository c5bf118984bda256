-- Certificates of custom domains, ordered from an ACME certificate authority once the domain's
-- ownership is proven, renewed before they expire.

-- The platform's ACME account, one per CA directory: the account key and its URL as the ACME
-- client library serialises them, encrypted under the master key.
CREATE TABLE acme_accounts (
    directory_url  TEXT PRIMARY KEY,
    credentials    BYTEA NOT NULL,
    created_at     BIGINT NOT NULL
);

-- The certificate served for the domain, leaf first, as PEM; its private key (PKCS#8 PEM)
-- encrypted under the master key; when it stops being valid.
ALTER TABLE domains ADD COLUMN certificate_chain TEXT;
ALTER TABLE domains ADD COLUMN certificate_key BYTEA;
ALTER TABLE domains ADD COLUMN certificate_expires_at BIGINT;
-- When the certificate is to be ordered next: at once after the DNS proof, two thirds into
-- the certificate's lifetime once issued, later and later after failures (the backoff counts
-- the failed orders in a row). NULL when no order is due.
ALTER TABLE domains ADD COLUMN next_order_at BIGINT;
ALTER TABLE domains ADD COLUMN failed_orders BIGINT NOT NULL DEFAULT 0;
-- The pending HTTP-01 challenge the domain's data planes answer while the CA validates:
-- token and key authorisation. Neither is secret (the CA fetches them over plain HTTP).
ALTER TABLE domains ADD COLUMN challenge_token TEXT;
ALTER TABLE domains ADD COLUMN challenge_answer TEXT;
-- The lease of the control plane ordering the certificate, so that replicas never order the
-- same one twice: its random id and when the lease lapses if it dies meanwhile.
ALTER TABLE domains ADD COLUMN order_lease_owner TEXT;
ALTER TABLE domains ADD COLUMN order_lease_until BIGINT;
CREATE INDEX domains_order_due ON domains (next_order_at);

-- When each refresh token was first redeemed: a second redemption within a short grace
-- window answers as the first did (its answer may have been lost), later ones revoke the
-- family. Rows from before this migration have 0 and never fall within the window.
ALTER TABLE refresh_token_uses ADD COLUMN redeemed_at INTEGER NOT NULL DEFAULT 0;

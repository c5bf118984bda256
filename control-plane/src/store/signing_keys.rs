//! Signing keys: one ES256 key set per API, rotated without a moment in which a valid token
//! cannot be verified.
//!
//! A new key is published first and signs only from `sign_from`, after every data plane has
//! had time to fetch it; the keys it replaces stay published until every token they signed
//! has expired (`retire_at`).

use restapi_shared::clock::UnixTime;
use restapi_shared::ids::{self, new_id};
use restapi_shared::push::SigningKeyConfig;
use restapi_shared::token::{ACCESS_TOKEN_TTL, CLOCK_SKEW, Jwk, PublicKey, generate_key};
use serde::Serialize;
use sqlx::AnyConnection;
use utoipa::ToSchema;

use super::apis::api_by_name;
use super::{ChangeKind, ConfigWrite, Store, StoreError};

/// How long a retired key is kept (unpublished) before it is deleted.
pub const RETIRED_KEY_GRACE_SECONDS: i64 = 24 * 3600;

/// A signing key as the admin API shows it (never the private key).
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SigningKey {
    /// Key identifier, the `kid` of the tokens it signs.
    pub kid: String,
    /// Always `ES256`.
    pub algorithm: String,
    /// When the key was generated.
    #[serde(serialize_with = "crate::timestamps::serialize")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: UnixTime,
    /// From when the key signs; before that it is only published.
    #[serde(serialize_with = "crate::timestamps::serialize")]
    #[schema(value_type = String, format = DateTime)]
    pub sign_from: UnixTime,
    /// When the key stops being published; absent while it is current.
    #[serde(serialize_with = "crate::timestamps::serialize_option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub retire_at: Option<UnixTime>,
    /// Where the key is in its life.
    pub state: SigningKeyState,
    /// The public key as published in the JWKS.
    pub public_jwk: Jwk,
}

/// Where a key is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SigningKeyState {
    /// Published, not yet signing.
    Pending,
    /// The key that signs new tokens.
    Active,
    /// Replaced; still published so that tokens it signed verify until they expire.
    Retiring,
}

/// The life of one key, enough to tell its state.
#[derive(Clone, Debug)]
struct KeyTimes {
    kid: String,
    created_revision: i64,
    sign_from: UnixTime,
    retire_at: Option<UnixTime>,
}

type KeyRow = (String, i64, i64, i64, Option<i64>, String, String);
type SealedKeyRow = (String, Vec<u8>, String, String, i64, Option<i64>);

impl Store {
    /// The published and pending keys of the API named `api_name`, oldest first.
    pub async fn signing_keys(
        &self,
        api_name: &str,
        now: UnixTime,
    ) -> Result<Vec<SigningKey>, StoreError> {
        let mut connection = self.pool().acquire().await?;
        let api = api_by_name(&mut connection, api_name).await?;
        let rows: Vec<KeyRow> = sqlx::query_as(
            "SELECT kid, created_at, created_revision, sign_from, retire_at, public_x, public_y \
             FROM signing_keys \
             WHERE api_id = $1 ORDER BY sign_from, created_revision",
        )
        .bind(&api.id)
        .fetch_all(&mut *connection)
        .await?;

        let times: Vec<KeyTimes> = rows
            .iter()
            .map(
                |(kid, _, created_revision, sign_from, retire_at, _, _)| KeyTimes {
                    kid: kid.clone(),
                    created_revision: *created_revision,
                    sign_from: *sign_from,
                    retire_at: *retire_at,
                },
            )
            .collect();
        let keys = rows
            .into_iter()
            .filter_map(|(kid, created_at, _, sign_from, retire_at, x, y)| {
                let state = key_state(&times, &kid, now)?;
                Some(SigningKey {
                    public_jwk: Jwk::es256(&kid, &PublicKey { x, y }),
                    kid,
                    algorithm: restapi_shared::token::ALGORITHM.to_owned(),
                    created_at,
                    sign_from,
                    retire_at,
                    state,
                })
            })
            .collect();
        Ok(keys)
    }

    /// Adds a key that signs from `now + publish_delay` and schedules the retirement of every
    /// current key for when the last token it can sign has expired.
    pub async fn rotate_signing_key(
        &self,
        api_name: &str,
        now: UnixTime,
        publish_delay: i64,
    ) -> Result<SigningKey, StoreError> {
        let mut write = self.begin_config_write(now).await?;
        let api = api_by_name(&mut write.transaction, api_name).await?;
        let sign_from = now + publish_delay;
        // The old keys sign until `sign_from`; their last tokens expire an hour later, and a
        // verifier whose clock runs behind may still accept them for the skew.
        let retire_at = sign_from + ACCESS_TOKEN_TTL + CLOCK_SKEW;
        sqlx::query(
            "UPDATE signing_keys SET retire_at = $1 WHERE api_id = $2 AND retire_at IS NULL",
        )
        .bind(retire_at)
        .bind(&api.id)
        .execute(&mut *write.transaction)
        .await?;
        let (kid, public) = insert_key(self, &mut write, &api.id, sign_from).await?;
        write.commit_api_change(self, &api).await?;

        let state = if sign_from > now {
            SigningKeyState::Pending
        } else {
            SigningKeyState::Active
        };
        Ok(SigningKey {
            public_jwk: Jwk::es256(&kid, &public),
            kid,
            algorithm: restapi_shared::token::ALGORITHM.to_owned(),
            created_at: now,
            sign_from,
            retire_at: None,
            state,
        })
    }

    /// Deletes keys retired more than a day ago; returns how many.
    pub async fn delete_retired_signing_keys(&self, now: UnixTime) -> Result<u64, StoreError> {
        let cutoff = now - RETIRED_KEY_GRACE_SECONDS;
        let due: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM signing_keys WHERE retire_at IS NOT NULL AND retire_at < $1",
        )
        .bind(cutoff)
        .fetch_one(self.pool())
        .await?;
        if due == 0 {
            return Ok(0);
        }

        let mut write = self.begin_config_write(now).await?;
        let touched: Vec<(String, String)> = sqlx::query_as(
            "SELECT DISTINCT a.id, a.region_id FROM signing_keys k JOIN apis a ON a.id = k.api_id \
             WHERE k.retire_at IS NOT NULL AND k.retire_at < $1",
        )
        .bind(cutoff)
        .fetch_all(&mut *write.transaction)
        .await?;
        let deleted =
            sqlx::query("DELETE FROM signing_keys WHERE retire_at IS NOT NULL AND retire_at < $1")
                .bind(cutoff)
                .execute(&mut *write.transaction)
                .await?
                .rows_affected();
        for (api_id, region_id) in &touched {
            write.record(region_id, ChangeKind::Api, api_id).await?;
        }
        write.commit(self).await?;
        Ok(deleted)
    }
}

/// Generates a key for `api_id`, stores it encrypted, and returns its `kid` and public key.
pub(super) async fn insert_key(
    store: &Store,
    write: &mut ConfigWrite,
    api_id: &str,
    sign_from: UnixTime,
) -> Result<(String, PublicKey), StoreError> {
    let generated = generate_key().map_err(|error| StoreError::Corrupt(error.to_string()))?;
    let kid = new_id(ids::SIGNING_KEY);
    let sealed = store.seal_secret(&context(&kid), generated.private_pkcs8.expose());
    sqlx::query(
        "INSERT INTO signing_keys (kid, api_id, private_key, public_x, public_y, created_at, \
         created_revision, sign_from, retire_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL)",
    )
    .bind(&kid)
    .bind(api_id)
    .bind(sealed)
    .bind(&generated.public.x)
    .bind(&generated.public.y)
    .bind(write.now)
    .bind(write.revision)
    .bind(sign_from)
    .execute(&mut *write.transaction)
    .await?;
    Ok((kid, generated.public))
}

/// The keys of `api_id` as pushed to data planes, private keys decrypted, in signing order
/// (the last key whose `sign_from` has come is the one that signs).
pub(super) async fn signing_key_configs(
    store: &Store,
    connection: &mut AnyConnection,
    api_id: &str,
) -> Result<Vec<SigningKeyConfig>, StoreError> {
    let rows: Vec<SealedKeyRow> = sqlx::query_as(
        "SELECT kid, private_key, public_x, public_y, sign_from, retire_at FROM signing_keys \
         WHERE api_id = $1 ORDER BY sign_from, created_revision",
    )
    .bind(api_id)
    .fetch_all(connection)
    .await?;
    rows.into_iter()
        .map(|(kid, sealed, x, y, sign_from, retire_at)| {
            Ok(SigningKeyConfig {
                private_key: store.open_secret(&context(&kid), &sealed)?,
                kid,
                public_key: PublicKey { x, y },
                sign_from,
                retire_at,
            })
        })
        .collect()
}

/// Context under which a private key is encrypted: it binds the ciphertext to its `kid`.
pub(super) fn context(kid: &str) -> String {
    format!("signing-key:{kid}")
}

/// The state of key `kid` among `keys` at `now`; `None` once it is no longer published.
fn key_state(keys: &[KeyTimes], kid: &str, now: UnixTime) -> Option<SigningKeyState> {
    let published = |key: &&KeyTimes| key.retire_at.is_none_or(|retire_at| now < retire_at);
    let key = keys.iter().filter(published).find(|key| key.kid == kid)?;
    if key.sign_from > now {
        return Some(SigningKeyState::Pending);
    }
    // The data plane signs with the published key that started signing last (ties: newest).
    let signer = keys
        .iter()
        .filter(published)
        .filter(|key| key.sign_from <= now)
        .max_by_key(|key| (key.sign_from, key.created_revision))?;
    if signer.kid == kid {
        Some(SigningKeyState::Active)
    } else {
        Some(SigningKeyState::Retiring)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(kid: &str, created_revision: i64, sign_from: i64, retire_at: Option<i64>) -> KeyTimes {
        KeyTimes {
            kid: kid.to_owned(),
            created_revision,
            sign_from,
            retire_at,
        }
    }

    #[test]
    fn a_lone_key_is_active() {
        let keys = [key("a", 0, 0, None)];
        assert_eq!(key_state(&keys, "a", 10), Some(SigningKeyState::Active));
    }

    #[test]
    fn rotation_goes_pending_then_active_while_the_old_key_retires() {
        // Rotated at 100 with a publish delay of 300: the new key signs from 400, the old one
        // stays published until 400 + 3600 + 60.
        let keys = [key("old", 0, 0, Some(4_060)), key("new", 100, 400, None)];
        assert_eq!(key_state(&keys, "new", 100), Some(SigningKeyState::Pending));
        assert_eq!(key_state(&keys, "old", 100), Some(SigningKeyState::Active));
        assert_eq!(key_state(&keys, "new", 400), Some(SigningKeyState::Active));
        assert_eq!(
            key_state(&keys, "old", 400),
            Some(SigningKeyState::Retiring)
        );
        assert_eq!(key_state(&keys, "old", 4_060), None);
        assert_eq!(
            key_state(&keys, "new", 4_060),
            Some(SigningKeyState::Active)
        );
    }

    #[test]
    fn ties_go_to_the_newest_key() {
        let keys = [key("first", 5, 10, Some(9_999)), key("second", 6, 10, None)];
        assert_eq!(
            key_state(&keys, "second", 10),
            Some(SigningKeyState::Active)
        );
        assert_eq!(
            key_state(&keys, "first", 10),
            Some(SigningKeyState::Retiring)
        );
    }

    #[test]
    fn unknown_keys_have_no_state() {
        assert_eq!(key_state(&[], "missing", 0), None);
    }
}

//! Sign in with Apple: the client secret we mint, and the name Apple tells us only once.
//!
//! Apple has no static client secret. The client authenticates at the token endpoint with a
//! JWT it signs itself (ES256, with the private key downloaded from Apple's developer portal)
//! whose issuer is the team id and whose subject is the Services ID. We mint one per provider,
//! keep it for most of its life and mint the next before it expires.
//!
//! Apple answers the authorization request with a form POST (`response_mode=form_post`), and
//! only on a user's first authorisation of the app does that form carry a `user` field with the
//! name. The name is therefore taken from there, once; the email comes from the signed ID
//! token, never from the unsigned form.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use restapi_shared::clock::UnixTime;
use restapi_shared::push::ProviderConfig;
use restapi_shared::secret::{SecretDigest, SecretString};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{ExternalIdentity, IdentitySource, LoginError, Preset};

/// Apple: the generic flow with a minted client secret, the answer posted back, the identity
/// from the ID token and the name from the first authorisation's form.
pub(super) const PRESET: Preset = Preset {
    // Apple requires the form POST whenever the name or email scope is asked for.
    authorize_params: |_| vec![("response_mode", "form_post".to_owned())],
    default_scopes: DEFAULT_SCOPES,
    client_secret: minted_client_secret,
    id_token_identity: Some(id_token_identity),
    callback_name: Some(name_from_user_field),
    identity_source: IdentitySource::IdToken,
    ..super::GENERIC
};

/// Apple's issuer, and the audience of the client secrets Apple accepts.
const APPLE_ISSUER: &str = "https://appleid.apple.com";

/// Scopes asked for when the provider names none: Apple knows only these two (and `openid`).
const DEFAULT_SCOPES: &[&str] = &["openid", "name", "email"];

/// How long a minted client secret is valid. Apple accepts up to six months; a month bounds
/// what a leaked secret is worth while minting rarely.
const CLIENT_SECRET_LIFETIME: i64 = 30 * 24 * 60 * 60;

/// A cached secret with less than this left is replaced, so none expires during an exchange and
/// a clock a little behind Apple's does not matter.
const RENEW_BEFORE_EXPIRY: i64 = 24 * 60 * 60;

/// What can go wrong with the Apple-specific parts of a sign-in.
#[derive(Debug, thiserror::Error)]
enum AppleError {
    /// The provider lacks a setting Apple needs (team id, key id or private key).
    #[error("the Apple provider has no {0}")]
    MissingSetting(&'static str),
    /// The private key is not a PEM PKCS#8 P-256 key that includes its public key.
    #[error("the Apple private key is not a PKCS#8 PEM P-256 key")]
    BadPrivateKey,
    /// Signing the client secret failed.
    #[error("signing the Apple client secret failed")]
    Signing,
    /// The ID token lacks `sub`.
    #[error("the Apple ID token has no subject")]
    MissingSubject,
}

/// The client secrets minted so far, one per provider, renewed before they expire.
#[derive(Debug, Default)]
pub(crate) struct ClientSecrets {
    minted: Mutex<HashMap<String, Minted>>,
}

/// One minted secret and what it was minted from.
#[derive(Debug)]
struct Minted {
    /// Digest of every setting that went into the secret: a changed key or team id mints anew.
    settings: SecretDigest,
    secret: SecretString,
    expires_at: UnixTime,
}

/// The preset's client secret: the cached or a freshly minted one.
fn minted_client_secret(
    provider: &ProviderConfig,
    now: UnixTime,
    secrets: &ClientSecrets,
) -> Result<Option<SecretString>, LoginError> {
    match secrets.client_secret(provider, now, &SystemRandom::new()) {
        Ok(secret) => Ok(Some(secret)),
        Err(error) => {
            tracing::warn!(provider = %provider.id, %error, "no Apple client secret");
            Err(LoginError::Misconfigured(
                "the Apple client secret cannot be made",
            ))
        }
    }
}

impl ClientSecrets {
    /// The client secret to present for `provider` at `now`: the cached one while it has more
    /// than a day left and the provider's settings are unchanged, else a freshly minted one.
    fn client_secret(
        &self,
        provider: &ProviderConfig,
        now: UnixTime,
        rng: &dyn SecureRandom,
    ) -> Result<SecretString, AppleError> {
        let settings = settings_digest(provider);
        if let Ok(minted) = self.minted.lock()
            && let Some(cached) = minted.get(&provider.id)
            && cached.settings == settings
            && now < cached.expires_at - RENEW_BEFORE_EXPIRY
        {
            return Ok(cached.secret.clone());
        }

        let expires_at = now + CLIENT_SECRET_LIFETIME;
        let secret = mint_client_secret(provider, now, expires_at, rng)?;

        // A poisoned lock only loses the cache; the secret just minted is still good.
        if let Ok(mut minted) = self.minted.lock() {
            minted.retain(|_, entry| now < entry.expires_at);
            let entry = Minted {
                settings,
                secret: secret.clone(),
                expires_at,
            };
            minted.insert(provider.id.clone(), entry);
        }
        Ok(secret)
    }
}

/// Mints a client secret: an ES256 JWT signed with the provider's private key.
///
/// Apple's "Creating a client secret": header `alg` ES256 and `kid` the key id; claims `iss`
/// the team id, `iat`, `exp` (at most six months later), `aud` Apple's issuer and `sub` the
/// client id (the Services ID).
fn mint_client_secret(
    provider: &ProviderConfig,
    now: UnixTime,
    expires_at: UnixTime,
    rng: &dyn SecureRandom,
) -> Result<SecretString, AppleError> {
    let team_id = provider
        .team_id
        .as_deref()
        .ok_or(AppleError::MissingSetting("team id"))?;
    let key_id = provider
        .key_id
        .as_deref()
        .ok_or(AppleError::MissingSetting("key id"))?;
    let private_key = provider
        .private_key
        .as_ref()
        .ok_or(AppleError::MissingSetting("private key"))?;
    let key_pair = signing_key(private_key.expose(), rng)?;

    let header = serde_json::json!({ "alg": "ES256", "kid": key_id });
    let claims = serde_json::json!({
        "iss": team_id,
        "iat": now,
        "exp": expires_at,
        "aud": audience(provider),
        "sub": provider.client_id,
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );

    let signature = key_pair
        .sign(rng, signing_input.as_bytes())
        .map_err(|_| AppleError::Signing)?;
    let jwt = format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature.as_ref())
    );
    Ok(SecretString::new(jwt))
}

/// The audience of the client secret: the configured issuer (a stand-in's in tests), Apple's
/// otherwise.
fn audience(provider: &ProviderConfig) -> &str {
    provider.issuer.as_deref().unwrap_or(APPLE_ISSUER)
}

/// Reads the `.p8` file Apple hands out: PEM `PRIVATE KEY`, PKCS#8 with the public key inside.
fn signing_key(pem: &str, rng: &dyn SecureRandom) -> Result<EcdsaKeyPair, AppleError> {
    let body = pem
        .trim()
        .strip_prefix("-----BEGIN PRIVATE KEY-----")
        .and_then(|rest| rest.strip_suffix("-----END PRIVATE KEY-----"))
        .ok_or(AppleError::BadPrivateKey)?;
    let base64: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let der = STANDARD
        .decode(base64)
        .map_err(|_| AppleError::BadPrivateKey)?;
    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der, rng)
        .map_err(|_| AppleError::BadPrivateKey)
}

/// A digest of everything a minted secret depends on.
fn settings_digest(provider: &ProviderConfig) -> SecretDigest {
    let private_key = provider.private_key.as_ref().map(SecretString::expose);
    let settings = serde_json::json!([
        provider.client_id,
        provider.team_id,
        provider.key_id,
        audience(provider),
        private_key,
    ]);
    SecretDigest::of(&settings.to_string())
}

/// The preset's identity: see [`identity`].
fn id_token_identity(claims: &Value) -> Result<ExternalIdentity, LoginError> {
    let claims = claims
        .as_object()
        .ok_or(LoginError::IdTokenInvalid("claims not an object"))?;
    identity(claims).map_err(|_| LoginError::IdTokenInvalid("Apple ID token without subject"))
}

/// The identity of an Apple sign-in from the verified ID token's claims; the name is added from
/// the callback form by [`name_from_user_field`].
///
/// Apple's `email_verified` is a boolean in current tokens and the string `"true"` in older
/// ones; both are read.
fn identity(claims: &Map<String, Value>) -> Result<ExternalIdentity, AppleError> {
    let subject = claims
        .get("sub")
        .and_then(Value::as_str)
        .filter(|sub| !sub.is_empty())
        .ok_or(AppleError::MissingSubject)?;
    let email = claims
        .get("email")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let email_verified = email.is_some() && claims.get("email_verified").is_some_and(is_true);

    Ok(ExternalIdentity {
        subject: subject.to_owned(),
        email,
        email_verified,
        name: None,
    })
}

/// A claim that is `true` or `"true"`.
fn is_true(value: &Value) -> bool {
    match value {
        Value::Bool(flag) => *flag,
        Value::String(text) => text == "true",
        _ => false,
    }
}

/// The `user` form field: `{"name":{"firstName":"…","lastName":"…"},"email":"…"}`.
#[derive(Deserialize)]
struct UserField {
    #[serde(default)]
    name: Option<UserName>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserName {
    #[serde(default)]
    first_name: Option<String>,
    #[serde(default)]
    last_name: Option<String>,
}

/// The full name in the `user` field of the callback form, which Apple sends only on a user's
/// first authorisation of the app; `None` when it is empty or not Apple's JSON (a missing name
/// must not stop the sign-in). The field is not signed, so only the name is taken from it, never
/// the email: the code that arrives with it is what proves the sign-in.
fn name_from_user_field(user_field: &str) -> Option<String> {
    let user: UserField = serde_json::from_str(user_field).ok()?;
    let name = user.name?;
    let parts = [name.first_name, name.last_name];
    let full_name = parts
        .iter()
        .flatten()
        .map(|part| part.trim())
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    (!full_name.is_empty()).then_some(full_name)
}

#[cfg(test)]
mod tests {
    use restapi_shared::push::{ProviderEndpoints, ProviderKind};
    use ring::rand::SystemRandom;
    use ring::signature::{ECDSA_P256_SHA256_FIXED, KeyPair, UnparsedPublicKey};

    use super::*;

    const NOW: UnixTime = 1_800_000_000;

    fn pem_and_public_key() -> (String, Vec<u8>) {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let key_pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
                .unwrap();
        let body = STANDARD.encode(pkcs8.as_ref());
        let lines: Vec<&str> = body
            .as_bytes()
            .chunks(64)
            .map(|line| std::str::from_utf8(line).unwrap())
            .collect();
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            lines.join("\n")
        );
        (pem, key_pair.public_key().as_ref().to_vec())
    }

    fn provider(pem: &str) -> ProviderConfig {
        ProviderConfig {
            id: "idp_apple".into(),
            kind: ProviderKind::Apple,
            display_name: "Apple".into(),
            enabled: true,
            auto_create: true,
            client_id: "com.example.web".into(),
            client_secret: None,
            scopes: Vec::new(),
            issuer: None,
            tenant: None,
            team_id: Some("TEAM123456".into()),
            key_id: Some("KEY1234567".into()),
            private_key: Some(SecretString::new(pem.into())),
            endpoints: ProviderEndpoints::default(),
        }
    }

    fn decode_part(part: &str) -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    #[test]
    fn client_secret_is_an_es256_jwt_apple_can_verify() {
        let (pem, public_key) = pem_and_public_key();
        let secrets = ClientSecrets::default();

        let jwt = secrets
            .client_secret(&provider(&pem), NOW, &SystemRandom::new())
            .unwrap();

        let parts: Vec<&str> = jwt.expose().split('.').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(
            decode_part(parts[0]),
            serde_json::json!({"alg": "ES256", "kid": "KEY1234567"})
        );
        let claims = decode_part(parts[1]);
        assert_eq!(claims["iss"], "TEAM123456");
        assert_eq!(claims["sub"], "com.example.web");
        assert_eq!(claims["aud"], APPLE_ISSUER);
        assert_eq!(claims["iat"], NOW);
        assert_eq!(claims["exp"], NOW + CLIENT_SECRET_LIFETIME);
        let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        let signing_input = format!("{}.{}", parts[0], parts[1]);
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &public_key)
            .verify(signing_input.as_bytes(), &signature)
            .unwrap();
    }

    #[test]
    fn audience_follows_the_configured_issuer() {
        let (pem, _) = pem_and_public_key();
        let mut provider = provider(&pem);
        provider.issuer = Some("http://127.0.0.1:4000".into());

        let jwt = ClientSecrets::default()
            .client_secret(&provider, NOW, &SystemRandom::new())
            .unwrap();

        let claims = decode_part(jwt.expose().split('.').nth(1).unwrap());
        assert_eq!(claims["aud"], "http://127.0.0.1:4000");
    }

    #[test]
    fn client_secret_is_reused_until_a_day_before_expiry_then_renewed() {
        let (pem, _) = pem_and_public_key();
        let provider = provider(&pem);
        let secrets = ClientSecrets::default();
        let rng = SystemRandom::new();

        let first = secrets.client_secret(&provider, NOW, &rng).unwrap();
        let later = NOW + CLIENT_SECRET_LIFETIME - RENEW_BEFORE_EXPIRY - 1;
        assert_eq!(
            secrets.client_secret(&provider, later, &rng).unwrap(),
            first
        );

        let renewal = NOW + CLIENT_SECRET_LIFETIME - RENEW_BEFORE_EXPIRY;
        let renewed = secrets.client_secret(&provider, renewal, &rng).unwrap();
        assert_ne!(renewed, first);
        let claims = decode_part(renewed.expose().split('.').nth(1).unwrap());
        assert_eq!(claims["exp"], renewal + CLIENT_SECRET_LIFETIME);
    }

    #[test]
    fn changed_settings_mint_a_new_secret() {
        let (pem, _) = pem_and_public_key();
        let mut provider = provider(&pem);
        let secrets = ClientSecrets::default();
        let rng = SystemRandom::new();
        let first = secrets.client_secret(&provider, NOW, &rng).unwrap();

        provider.key_id = Some("KEY7654321".into());
        let second = secrets.client_secret(&provider, NOW + 1, &rng).unwrap();

        assert_ne!(second, first);
        let header = decode_part(second.expose().split('.').next().unwrap());
        assert_eq!(header["kid"], "KEY7654321");
    }

    #[test]
    fn bad_or_missing_keys_are_named() {
        let rng = SystemRandom::new();
        let secrets = ClientSecrets::default();
        for pem in [
            "",
            "not a key",
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----",
        ] {
            let error = secrets
                .client_secret(&provider(pem), NOW, &rng)
                .unwrap_err();
            assert!(
                matches!(error, AppleError::BadPrivateKey),
                "{pem:?}: {error:?}"
            );
        }

        let (pem, _) = pem_and_public_key();
        let mut provider = provider(&pem);
        provider.team_id = None;
        let error = secrets.client_secret(&provider, NOW, &rng).unwrap_err();
        assert!(matches!(error, AppleError::MissingSetting("team id")));
    }

    #[test]
    fn identity_from_the_id_token_and_name_from_the_user_field() {
        let claims = serde_json::json!({
            "sub": "001234.abcdef",
            "email": "x7@privaterelay.appleid.com",
            "email_verified": "true",
            "is_private_email": "true",
        });
        let user = r#"{"name":{"firstName":"Ada","lastName":"Lovelace"},"email":"ignored@x.y"}"#;

        let identity = identity(claims.as_object().unwrap()).unwrap();
        assert_eq!(identity.subject, "001234.abcdef");
        assert_eq!(
            identity.email.as_deref(),
            Some("x7@privaterelay.appleid.com")
        );
        assert!(identity.email_verified);
        assert_eq!(identity.name, None);
        assert_eq!(name_from_user_field(user).as_deref(), Some("Ada Lovelace"));
    }

    #[test]
    fn odd_user_fields_give_no_name_rather_than_an_error() {
        for user in [
            "",
            "{",
            r#"{"email":"a@b.c"}"#,
            r#"{"name":{"firstName":"  "}}"#,
        ] {
            assert_eq!(name_from_user_field(user), None, "{user:?}");
        }
        let user = r#"{"name":{"firstName":"Cher"}}"#;
        assert_eq!(name_from_user_field(user).as_deref(), Some("Cher"));
    }

    #[test]
    fn email_verified_is_read_as_bool_or_string_and_needs_an_email() {
        let cases = [
            (
                serde_json::json!({"sub": "s", "email": "a@b.c", "email_verified": true}),
                true,
            ),
            (
                serde_json::json!({"sub": "s", "email": "a@b.c", "email_verified": "false"}),
                false,
            ),
            (serde_json::json!({"sub": "s", "email": "a@b.c"}), false),
            (
                serde_json::json!({"sub": "s", "email_verified": true}),
                false,
            ),
        ];
        for (claims, verified) in cases {
            let identity = identity(claims.as_object().unwrap()).unwrap();
            assert_eq!(identity.email_verified, verified, "{claims}");
        }
        let no_subject = serde_json::json!({"email": "a@b.c"});
        assert!(identity(no_subject.as_object().unwrap()).is_err());
    }
}

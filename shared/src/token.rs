//! The access token model: ES256 JSON Web Tokens and the JWKS that publishes their keys.
//!
//! Tokens are signed with ring directly: it is the fastest ES256 implementation available to
//! us, and a JWT is simple enough (RFC 7519, RFC 7515 compact serialisation) that a general
//! JWT library would add weight without adding safety.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair,
    UnparsedPublicKey,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::clock::UnixTime;
use crate::secret::SecretBytes;

/// Lifetime of an access token: one hour.
pub const ACCESS_TOKEN_TTL: i64 = 3600;
/// Lifetime of a refresh token chain, counted from the first sign-in: 70 days.
pub const REFRESH_CHAIN_TTL: i64 = 70 * 24 * 3600;
/// Clock skew tolerated when checking `exp` and `iat` of a presented token.
pub const CLOCK_SKEW: i64 = 60;
/// The only signing algorithm.
pub const ALGORITHM: &str = "ES256";
/// The JOSE `typ` of access tokens (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";

/// Claims the platform sets itself: an API's static claims may not use these names.
pub const REGISTERED_CLAIMS: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "nbf",
    "jti",
    "name",
    "email",
    "roles",
    "client_id",
];

/// The claims of an access token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AccessClaims {
    /// The issuer: the base URL of the API on the host that issued the token.
    pub iss: String,
    /// The audience: the API's name.
    pub aud: String,
    /// The subject: a user or service account identifier.
    pub sub: String,
    /// Expiry, seconds since the Unix epoch.
    pub exp: UnixTime,
    /// Issue time, seconds since the Unix epoch.
    pub iat: UnixTime,
    /// Unique token identifier.
    pub jti: String,
    /// Display name of the subject.
    pub name: String,
    /// Email address of the subject, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Roles the subject holds in this API.
    pub roles: Vec<String>,
    /// The OAuth client the token was issued to (RFC 9068 §2.2), for service accounts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The API's static claims: any other names, with any JSON values.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// Why a key or a token was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    /// The private key could not be parsed.
    #[error("signing key is not a valid P-256 PKCS#8 document")]
    BadKey,
    /// The token is not a three-part compact JWS with JSON inside.
    #[error("token is malformed")]
    Malformed,
    /// The token's header names another algorithm or type.
    #[error("token uses an unsupported algorithm or type")]
    Unsupported,
    /// No published key has the token's `kid`.
    #[error("token was signed by an unknown key")]
    UnknownKey,
    /// The signature does not verify.
    #[error("token signature is invalid")]
    BadSignature,
    /// The token expired, or claims to be issued in the future.
    #[error("token is expired or not yet valid")]
    Expired,
    /// The token was issued for another audience.
    #[error("token is for another audience")]
    WrongAudience,
    /// The session the token belongs to was revoked (signed out, or a token of it reused).
    #[error("token's session was revoked")]
    Revoked,
}

/// A freshly generated key pair, before it is stored.
#[derive(Debug)]
pub struct GeneratedKey {
    /// The PKCS#8 private key.
    pub private_pkcs8: SecretBytes,
    /// The public key as a JWK (without `kid`).
    pub public: PublicKey,
}

/// An uncompressed P-256 public key, coordinates in base64url as in a JWK.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PublicKey {
    /// The x coordinate, base64url.
    pub x: String,
    /// The y coordinate, base64url.
    pub y: String,
}

impl PublicKey {
    fn from_point(point: &[u8]) -> Self {
        // An uncompressed point is 0x04 || X || Y, both coordinates of equal length.
        let coordinates = point.get(1..).unwrap_or_default();
        let (x, y) = coordinates.split_at(coordinates.len() / 2);
        Self {
            x: URL_SAFE_NO_PAD.encode(x),
            y: URL_SAFE_NO_PAD.encode(y),
        }
    }

    fn to_point(&self) -> Option<Vec<u8>> {
        let x = URL_SAFE_NO_PAD.decode(&self.x).ok()?;
        let y = URL_SAFE_NO_PAD.decode(&self.y).ok()?;
        if x.len() != 32 || y.len() != 32 {
            return None;
        }
        let mut point = Vec::with_capacity(65);
        point.push(0x04);
        point.extend_from_slice(&x);
        point.extend_from_slice(&y);
        Some(point)
    }
}

/// Generates a new ES256 key pair.
pub fn generate_key() -> Result<GeneratedKey, TokenError> {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
        .map_err(|_| TokenError::BadKey)?;
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
        .map_err(|_| TokenError::BadKey)?;
    Ok(GeneratedKey {
        public: PublicKey::from_point(pair.public_key().as_ref()),
        private_pkcs8: SecretBytes::new(pkcs8.as_ref().to_vec()),
    })
}

/// A key ready to sign: parsed once, with its encoded JOSE header computed once.
pub struct Signer {
    kid: String,
    pair: EcdsaKeyPair,
    encoded_header: String,
    rng: SystemRandom,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// Parses a PKCS#8 private key for signing under `kid`.
    pub fn new(kid: &str, private_pkcs8: &SecretBytes) -> Result<Self, TokenError> {
        let rng = SystemRandom::new();
        let pair = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            private_pkcs8.expose(),
            &rng,
        )
        .map_err(|_| TokenError::BadKey)?;
        let header = serde_json::json!({ "alg": ALGORITHM, "typ": ACCESS_TOKEN_TYPE, "kid": kid });
        Ok(Self {
            kid: kid.to_owned(),
            pair,
            encoded_header: URL_SAFE_NO_PAD.encode(header.to_string()),
            rng,
        })
    }

    /// The key identifier.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Signs `claims` into a compact JWS.
    pub fn sign<C: Serialize>(&self, claims: &C) -> Result<String, TokenError> {
        let payload = serde_json::to_vec(claims).map_err(|_| TokenError::Malformed)?;
        let mut token = String::with_capacity(self.encoded_header.len() + payload.len() * 2 + 90);
        token.push_str(&self.encoded_header);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
        let signature = self
            .pair
            .sign(&self.rng, token.as_bytes())
            .map_err(|_| TokenError::BadKey)?;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature.as_ref(), &mut token);
        Ok(token)
    }
}

/// A published public key that verifies tokens.
#[derive(Clone, Debug)]
pub struct VerifyingKey {
    kid: String,
    point: Vec<u8>,
}

impl VerifyingKey {
    /// A verifying key from a JWK's coordinates; `None` when they are not a P-256 point.
    pub fn new(kid: &str, public: &PublicKey) -> Option<Self> {
        Some(Self {
            kid: kid.to_owned(),
            point: public.to_point()?,
        })
    }

    /// The key identifier.
    pub fn kid(&self) -> &str {
        &self.kid
    }
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    typ: Option<String>,
    #[serde(default)]
    kid: Option<String>,
}

/// Verifies a compact JWS against `keys` and checks its time claims and audience.
pub fn verify(
    token: &str,
    keys: &[VerifyingKey],
    audience: &str,
    now: UnixTime,
) -> Result<AccessClaims, TokenError> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };

    let header: Header = decode_json(header)?;
    // RFC 8725 §3.1: accept exactly the algorithm we sign with, never what the token claims.
    if header.alg != ALGORITHM
        || header
            .typ
            .as_deref()
            .is_some_and(|t| t != ACCESS_TOKEN_TYPE)
    {
        return Err(TokenError::Unsupported);
    }
    let kid = header.kid.ok_or(TokenError::UnknownKey)?;
    let key = keys
        .iter()
        .find(|key| key.kid == kid)
        .ok_or(TokenError::UnknownKey)?;

    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| TokenError::Malformed)?;
    let signed_len = token.len() - token.rsplit('.').next().map_or(0, str::len) - 1;
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &key.point)
        .verify(&token.as_bytes()[..signed_len], &signature)
        .map_err(|_| TokenError::BadSignature)?;

    let claims: AccessClaims = decode_json(payload)?;
    if claims.exp <= now - CLOCK_SKEW || claims.iat > now + CLOCK_SKEW {
        return Err(TokenError::Expired);
    }
    if claims.aud != audience {
        return Err(TokenError::WrongAudience);
    }
    Ok(claims)
}

fn decode_json<T: for<'de> Deserialize<'de>>(part: &str) -> Result<T, TokenError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| TokenError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)
}

/// One key of a JSON Web Key Set (RFC 7517), as published.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Jwk {
    /// Key type: always `EC`.
    pub kty: String,
    /// Curve: always `P-256`.
    pub crv: String,
    /// Key identifier, matching the `kid` of tokens it signed.
    pub kid: String,
    /// Intended use: always `sig`.
    #[serde(rename = "use")]
    pub key_use: String,
    /// Algorithm: always `ES256`.
    pub alg: String,
    /// The x coordinate, base64url.
    pub x: String,
    /// The y coordinate, base64url.
    pub y: String,
}

impl Jwk {
    /// The JWK of an ES256 public key.
    pub fn es256(kid: &str, public: &PublicKey) -> Self {
        Self {
            kty: "EC".to_owned(),
            crv: "P-256".to_owned(),
            kid: kid.to_owned(),
            key_use: "sig".to_owned(),
            alg: ALGORITHM.to_owned(),
            x: public.x.clone(),
            y: public.y.clone(),
        }
    }
}

/// A JSON Web Key Set.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Jwks {
    /// The published keys.
    pub keys: Vec<Jwk>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(now: UnixTime) -> AccessClaims {
        AccessClaims {
            iss: "https://eu.example/shop".to_owned(),
            aud: "shop".to_owned(),
            sub: "sa_1".to_owned(),
            exp: now + ACCESS_TOKEN_TTL,
            iat: now,
            jti: "tok_1".to_owned(),
            name: "billing".to_owned(),
            email: None,
            roles: vec!["reader".to_owned()],
            client_id: Some("cid_1".to_owned()),
            extra: serde_json::Map::new(),
        }
    }

    fn key_pair(kid: &str) -> (Signer, VerifyingKey) {
        let generated = generate_key().unwrap();
        let signer = Signer::new(kid, &generated.private_pkcs8).unwrap();
        (signer, VerifyingKey::new(kid, &generated.public).unwrap())
    }

    #[test]
    fn signed_token_verifies_with_its_key() {
        let (signer, key) = key_pair("key_a");
        let token = signer.sign(&claims(1_000)).unwrap();
        assert_eq!(
            verify(&token, &[key], "shop", 1_010).unwrap(),
            claims(1_000)
        );
    }

    #[test]
    fn refuses_other_key_expiry_audience_and_tampering() {
        let (signer, key) = key_pair("key_a");
        let (_, other) = key_pair("key_a");
        let token = signer.sign(&claims(1_000)).unwrap();

        let keys = std::slice::from_ref(&key);
        assert_eq!(
            verify(&token, &[other], "shop", 1_000),
            Err(TokenError::BadSignature)
        );
        assert_eq!(
            verify(&token, keys, "shop", 1_000 + 3_700),
            Err(TokenError::Expired)
        );
        assert_eq!(
            verify(&token, keys, "other", 1_000),
            Err(TokenError::WrongAudience)
        );
        assert_eq!(
            verify("a.b", keys, "shop", 1_000),
            Err(TokenError::Malformed)
        );

        let (_, missing) = key_pair("key_b");
        assert_eq!(
            verify(&token, &[missing], "shop", 1_000),
            Err(TokenError::UnknownKey)
        );

        let mut parts: Vec<&str> = token.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","kid":"key_a"}"#);
        parts[0] = &forged;
        assert_eq!(
            verify(&parts.join("."), keys, "shop", 1_000),
            Err(TokenError::Unsupported)
        );
    }

    #[test]
    fn extra_claims_sit_beside_the_registered_ones() {
        let (signer, key) = key_pair("key_a");
        let mut with_extra = claims(1_000);
        with_extra
            .extra
            .insert("tenant".to_owned(), serde_json::json!({"plan": "gold"}));
        let token = signer.sign(&with_extra).unwrap();

        let payload = token.split('.').nth(1).unwrap();
        let json: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        assert_eq!(json["tenant"]["plan"], "gold");
        assert_eq!(json["sub"], "sa_1");
        assert_eq!(verify(&token, &[key], "shop", 1_000).unwrap(), with_extra);
    }

    #[test]
    fn public_key_round_trips_through_jwk_coordinates() {
        let generated = generate_key().unwrap();
        let point = generated.public.to_point().unwrap();
        assert_eq!(PublicKey::from_point(&point), generated.public);
    }
}

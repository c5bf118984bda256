//! The token grants of service accounts: client authentication, `client_credentials`
//! (RFC 6749 §4.4), `refresh_token` (RFC 6749 §6) and the RestAPI.com `_auth` sign-in.
//!
//! Knows nothing of HTTP: the endpoint layer hands over parameters and maps [`GrantError`].
//! Issuing tokens does no I/O at all; only redeeming a refresh token calls the control plane.

use restapi_shared::clock::UnixTime;
use restapi_shared::ids::{self, new_id};
use restapi_shared::node::{RedeemOutcome, RedeemRefreshRequest};
use restapi_shared::push::ServiceAccountConfig;
use restapi_shared::refresh::{self, RefreshClaims, RefreshError};
use restapi_shared::secret::{SecretDigest, SecretString};
use restapi_shared::token::ACCESS_TOKEN_TTL;
use serde::Serialize;

use crate::config::ApiState;
use crate::node_client::NodeClient;

/// Why a grant was refused; each variant maps to one RFC 6749 §5.2 code.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GrantError {
    /// The request is malformed: a parameter missing or repeated, a bad body.
    #[error("invalid request: {0}")]
    InvalidRequest(&'static str),
    /// The body is larger than the endpoint accepts.
    #[error("request body too large")]
    BodyTooLarge,
    /// The grant type is not one this endpoint supports.
    #[error("unsupported grant type")]
    UnsupportedGrantType,
    /// Client authentication failed.
    #[error("client authentication failed: {0}")]
    ClientRejected(ClientRejection),
    /// The refresh token cannot be honoured.
    #[error("refresh token refused: {0}")]
    RefreshRejected(RefreshRejection),
    /// The authorization code cannot be honoured.
    #[error("authorization code refused: {0}")]
    CodeRejected(CodeRejection),
    /// The control plane could not record the refresh token's use.
    #[error("control plane unavailable")]
    ControlPlaneUnavailable,
    /// The API has no key that may sign now.
    #[error("no signing key available")]
    NoSigningKey,
}

/// Why client authentication failed. All of them answer `invalid_client` alike, so a caller
/// cannot tell an unknown client from a wrong secret; the log can.
#[derive(Clone, Copy, Debug, thiserror::Error, PartialEq, Eq)]
pub enum ClientRejection {
    /// No client authentication was sent.
    #[error("no client credentials")]
    Missing,
    /// The HTTP Basic credentials cannot be decoded.
    #[error("malformed Basic credentials")]
    MalformedBasic,
    /// The client id names no service account of the API.
    #[error("unknown client")]
    UnknownClient,
    /// The secret matches none of the account's secrets.
    #[error("wrong secret")]
    WrongSecret,
    /// The secret matches one that is disabled.
    #[error("secret disabled")]
    DisabledSecret,
    /// The secret matches one that has expired.
    #[error("secret expired")]
    ExpiredSecret,
    /// The service account is disabled.
    #[error("account disabled")]
    DisabledAccount,
}

/// Why a refresh token was refused (`invalid_grant`).
#[derive(Clone, Copy, Debug, thiserror::Error, PartialEq, Eq)]
pub enum RefreshRejection {
    /// Not a refresh token of this API, or tampered with.
    #[error("not a refresh token of this API")]
    Invalid,
    /// The chain's 70 days are over.
    #[error("chain expired")]
    ChainExpired,
    /// The token was issued to another client.
    #[error("issued to another client")]
    OtherClient,
    /// The service account no longer exists or is disabled.
    #[error("account gone or disabled")]
    AccountUnavailable,
    /// The secret the chain started with is gone, disabled or expired.
    #[error("secret gone, disabled or expired")]
    SecretUnavailable,
    /// The token was used before; the family is now revoked.
    #[error("token reused")]
    Reused,
    /// The family was revoked.
    #[error("family revoked")]
    Revoked,
}

/// Why an authorization code was refused (`invalid_grant`).
#[derive(Clone, Copy, Debug, thiserror::Error, PartialEq, Eq)]
pub enum CodeRejection {
    /// Not a code of this API, or tampered with.
    #[error("not a code of this API")]
    Invalid,
    /// Older than a minute.
    #[error("code expired")]
    Expired,
    /// The code was issued to another client.
    #[error("issued to another client")]
    OtherClient,
    /// `redirect_uri` differs from the authorization request's.
    #[error("redirect_uri differs")]
    RedirectMismatch,
    /// The PKCE verifier does not match the challenge.
    #[error("code_verifier does not match")]
    VerifierMismatch,
    /// The code was exchanged before; what that exchange issued is now revoked.
    #[error("code reused")]
    Reused,
    /// The user is gone or disabled.
    #[error("user unavailable")]
    UserUnavailable,
}

/// The client's claimed identity, from the body or from HTTP Basic.
#[derive(Clone, Copy, Debug)]
pub struct ClientCredentials<'a> {
    /// The OAuth client id.
    pub client_id: &'a str,
    /// The client secret, when sent.
    pub client_secret: Option<&'a str>,
}

/// Where and when tokens are issued.
#[derive(Clone, Copy, Debug)]
pub struct IssueContext<'a> {
    /// The API.
    pub api: &'a ApiState,
    /// The issuer URL of the host the request came through.
    pub issuer: &'a str,
    /// The current time.
    pub now: UnixTime,
}

/// An access token and the refresh token that renews it.
#[derive(Debug)]
pub struct TokenPair {
    /// The signed access token.
    pub access_token: SecretString,
    /// The sealed refresh token.
    pub refresh_token: SecretString,
}

/// RFC 6749 §4.4: the client authenticates with a secret and gets tokens for itself.
pub fn client_credentials(
    context: IssueContext<'_>,
    credentials: Option<ClientCredentials<'_>>,
) -> Result<TokenPair, GrantError> {
    let credentials = credentials.ok_or(GrantError::ClientRejected(ClientRejection::Missing))?;
    let secret = credentials.client_secret.unwrap_or_default();
    let (account, secret_id) =
        authenticate_client(context.api, credentials.client_id, secret, context.now)?;

    let [family, access_jti, refresh_jti] =
        random_ids([ids::REFRESH_FAMILY, ids::TOKEN, ids::TOKEN]);
    let family = RefreshFamily {
        id: family,
        started: context.now,
    };
    issue_pair(
        context,
        account,
        family,
        secret_id,
        TokenIds {
            access_jti,
            refresh_jti,
        },
    )
}

/// RFC 6749 §6: a refresh token is exchanged for a new pair of the same family.
///
/// The secret is optional (the reference client sends only `client_id`) but checked when
/// sent. The token must have been issued to this client, its account and the secret its
/// chain began with must still be usable, and the control plane must confirm that this is
/// its first use (RFC 9700 §4.14.2: a reused token revokes the family).
pub async fn refresh_token(
    context: IssueContext<'_>,
    credentials: Option<ClientCredentials<'_>>,
    refresh_token: Option<&str>,
    control_plane: Option<&NodeClient>,
) -> Result<TokenPair, GrantError> {
    let credentials = credentials.ok_or(GrantError::InvalidRequest("client_id is required"))?;
    if let Some(secret) = credentials.client_secret {
        authenticate_client(context.api, credentials.client_id, secret, context.now)?;
    }
    let refresh_token =
        refresh_token.ok_or(GrantError::InvalidRequest("refresh_token is required"))?;

    let claims = open_refresh_token(context, refresh_token)?;
    if claims.client_id != credentials.client_id {
        return Err(GrantError::RefreshRejected(RefreshRejection::OtherClient));
    }
    let (account, secret_id) = chain_owner(context, &claims)?;

    redeem(context.api, &claims, control_plane).await?;

    let [access_jti, refresh_jti] = random_ids([ids::TOKEN, ids::TOKEN]);
    let family = RefreshFamily {
        id: claims.family,
        started: claims.family_started,
    };
    issue_pair(
        context,
        account,
        family,
        secret_id,
        TokenIds {
            access_jti,
            refresh_jti,
        },
    )
}

/// The RestAPI.com `_auth` sign-in of a service account: an access token only.
pub fn service_account_sign_in(
    context: IssueContext<'_>,
    client_id: &str,
    client_secret: &str,
) -> Result<SecretString, GrantError> {
    let (account, _) = authenticate_client(context.api, client_id, client_secret, context.now)?;
    issue_access_token(context, account, &new_id(ids::TOKEN)).map(SecretString::new)
}

/// Checks a client's secret against its service account (RFC 6749 §2.3.1).
///
/// Secrets are compared only through [`SecretDigest::matches`], in constant time. An unknown
/// client id still costs one digest, so timing does not reveal which client ids exist.
pub fn authenticate_client<'a>(
    api: &'a ApiState,
    client_id: &str,
    secret: &str,
    now: UnixTime,
) -> Result<(&'a ServiceAccountConfig, &'a str), GrantError> {
    let reject = |reason| Err(GrantError::ClientRejected(reason));
    let Some(account) = api.service_account(client_id) else {
        std::hint::black_box(SecretDigest::of(secret));
        return reject(ClientRejection::UnknownClient);
    };
    let Some(matched) = account
        .secrets
        .iter()
        .find(|candidate| candidate.digest.matches(secret))
    else {
        return reject(ClientRejection::WrongSecret);
    };
    if !matched.enabled {
        return reject(ClientRejection::DisabledSecret);
    }
    if !matched.is_usable(now) {
        return reject(ClientRejection::ExpiredSecret);
    }
    if !account.enabled {
        return reject(ClientRejection::DisabledAccount);
    }
    Ok((account, &matched.id))
}

struct RefreshFamily {
    id: String,
    started: UnixTime,
}

/// The `jti`s of a new token pair.
struct TokenIds {
    access_jti: String,
    refresh_jti: String,
}

/// Identifiers shaped like [`new_id`]'s (96 random bits, hex), drawn from the operating
/// system in one call: each call is a system call, and the grant is the hot path.
fn random_ids<const N: usize>(prefixes: [&str; N]) -> [String; N] {
    const ID_BYTES: usize = 12;
    let mut random = vec![0u8; ID_BYTES * N];
    ids::fill_random(&mut random);
    let mut chunks = random.chunks_exact(ID_BYTES);
    prefixes.map(|prefix| {
        let chunk = chunks.next().unwrap_or_default();
        let mut id = String::with_capacity(prefix.len() + 1 + 2 * ID_BYTES);
        id.push_str(prefix);
        id.push('_');
        id.push_str(&hex::encode(chunk));
        id
    })
}

fn open_refresh_token(context: IssueContext<'_>, token: &str) -> Result<RefreshClaims, GrantError> {
    let api = context.api;
    refresh::open(&api.sealing_key, &api.id, token, context.now).map_err(|error| {
        GrantError::RefreshRejected(match error {
            RefreshError::Invalid => RefreshRejection::Invalid,
            RefreshError::Expired => RefreshRejection::ChainExpired,
        })
    })
}

/// The account a refresh chain belongs to, and the secret it began with, if both are still
/// usable: disabling either ends the chain.
fn chain_owner<'a>(
    context: IssueContext<'a>,
    claims: &RefreshClaims,
) -> Result<(&'a ServiceAccountConfig, &'a str), GrantError> {
    let rejected = |reason| GrantError::RefreshRejected(reason);
    let account = context
        .api
        .service_account(&claims.client_id)
        .filter(|account| account.id == claims.sub && account.enabled)
        .ok_or(rejected(RefreshRejection::AccountUnavailable))?;
    let secret = claims
        .secret_id
        .as_deref()
        .and_then(|secret_id| account.secrets.iter().find(|secret| secret.id == secret_id))
        .filter(|secret| secret.is_usable(context.now))
        .ok_or(rejected(RefreshRejection::SecretUnavailable))?;
    Ok((account, &secret.id))
}

async fn redeem(
    api: &ApiState,
    claims: &RefreshClaims,
    control_plane: Option<&NodeClient>,
) -> Result<(), GrantError> {
    let Some(control_plane) = control_plane else {
        tracing::warn!(api = %api.name, "refresh token not redeemed: no control plane configured");
        return Err(GrantError::ControlPlaneUnavailable);
    };
    let request = RedeemRefreshRequest {
        api_id: api.id.clone(),
        token_id: claims.jti.clone(),
        family: claims.family.clone(),
        expires_at: claims.expires_at(),
        user_id: None,
        strict: false,
    };
    match control_plane.redeem(&request).await {
        Ok(RedeemOutcome::Redeemed) => Ok(()),
        Ok(RedeemOutcome::Reused) => {
            tracing::warn!(
                api = %api.name,
                family = %claims.family,
                "refresh token reused; family revoked"
            );
            Err(GrantError::RefreshRejected(RefreshRejection::Reused))
        }
        Ok(RedeemOutcome::Revoked) => Err(GrantError::RefreshRejected(RefreshRejection::Revoked)),
        Err(error) => {
            let error = crate::node_client::error_chain(&error);
            tracing::warn!(api = %api.name, error, "refresh token could not be redeemed");
            Err(GrantError::ControlPlaneUnavailable)
        }
    }
}

fn issue_pair(
    context: IssueContext<'_>,
    account: &ServiceAccountConfig,
    family: RefreshFamily,
    secret_id: &str,
    token_ids: TokenIds,
) -> Result<TokenPair, GrantError> {
    let access_token = issue_access_token(context, account, &token_ids.access_jti)?;
    let claims = RefreshClaims {
        jti: token_ids.refresh_jti,
        family: family.id,
        family_started: family.started,
        iat: context.now,
        sub: account.id.clone(),
        client_id: account.client_id.clone(),
        secret_id: Some(secret_id.to_owned()),
    };
    let refresh_token = refresh::seal(&context.api.sealing_key, &context.api.id, &claims);
    Ok(TokenPair {
        access_token: SecretString::new(access_token),
        refresh_token: SecretString::new(refresh_token),
    })
}

/// The claims of [`restapi_shared::token::AccessClaims`], borrowed: the same JSON without
/// copying the account's name and roles for every token.
#[derive(Serialize)]
struct AccessClaimsRef<'a> {
    iss: &'a str,
    aud: &'a str,
    sub: &'a str,
    exp: UnixTime,
    iat: UnixTime,
    jti: &'a str,
    name: &'a str,
    roles: &'a [String],
    client_id: &'a str,
    /// The API's static claims, beside the registered ones.
    #[serde(flatten)]
    extra: &'a serde_json::Map<String, serde_json::Value>,
}

fn issue_access_token(
    context: IssueContext<'_>,
    account: &ServiceAccountConfig,
    jti: &str,
) -> Result<String, GrantError> {
    let Some(signer) = &context.api.keys.at(context.now).signer else {
        tracing::error!(api = %context.api.name, "no signing key may sign now");
        return Err(GrantError::NoSigningKey);
    };
    let claims = AccessClaimsRef {
        iss: context.issuer,
        aud: &context.api.name,
        sub: &account.id,
        exp: context.now + ACCESS_TOKEN_TTL,
        iat: context.now,
        jti,
        name: &account.name,
        roles: &account.roles,
        client_id: &account.client_id,
        extra: &context.api.claims,
    };
    signer.sign(&claims).map_err(|error| {
        tracing::error!(api = %context.api.name, %error, "signing failed");
        GrantError::NoSigningKey
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{Fixture, settings, snapshot};

    #[tokio::test]
    async fn service_account_tokens_carry_the_static_claims() {
        let mut configuration = snapshot();
        configuration.apis[0].claims.insert(
            "tenant".to_owned(),
            serde_json::json!({ "plan": "gold", "seats": 5 }),
        );
        let fixture = Fixture::with(settings(None), configuration);

        let answer = fixture.client_credentials("shop", "cid_billing").await;
        let claims = fixture.verify("shop", answer["access_token"].as_str().unwrap());
        assert_eq!(claims.extra["tenant"]["plan"], "gold");
        assert_eq!(claims.extra["tenant"]["seats"], 5);
        assert_eq!(claims.sub, "sa_billing");

        // Another API's tokens carry only its own claims.
        let answer = fixture.client_credentials("blog", "cid_blog").await;
        let claims = fixture.verify("blog", answer["access_token"].as_str().unwrap());
        assert!(claims.extra.is_empty());
    }

    #[test]
    fn random_ids_look_like_new_ids_and_differ() {
        let [family, first, second] = random_ids([ids::REFRESH_FAMILY, ids::TOKEN, ids::TOKEN]);
        assert!(family.starts_with("fam_") && first.starts_with("tok_"));
        assert_eq!(first.len(), new_id(ids::TOKEN).len());
        assert_ne!(first, second);
    }
}

//! The token endpoint's grants for public clients (native apps, single-page apps): the
//! authorization code with its PKCE verifier (RFC 6749 §4.1.3, RFC 7636 §4.6), and the
//! refresh token with the `client_id` alone (RFC 6749 §6), which is all a public client has.
//!
//! Both end at the control plane, which records the single use of the code or token and
//! reads the user as they are now.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use restapi_shared::node::{RedeemOutcome, RedeemRefreshRequest, ResolvedUser};
use restapi_shared::refresh::{self, RefreshError};
use restapi_shared::token::REFRESH_CHAIN_TTL;
use ring::digest::{SHA256, digest};

use super::login::authorization::{self, CodeError};
use crate::grants::{CodeRejection, GrantError, IssueContext, RefreshRejection};
use crate::node_client::NodeClient;
use crate::user_tokens::{self, IdTokenFor, UserTokens};

/// What an app's grant issued.
pub(crate) struct AppTokens {
    pub tokens: UserTokens,
    /// The ID token, when the app asked for the `openid` scope.
    pub id_token: Option<String>,
    /// The granted scopes, when known.
    pub scope: Option<String>,
}

/// The parameters of `grant_type=authorization_code`.
pub(crate) struct CodeExchange<'a> {
    pub client_id: Option<&'a str>,
    pub code: Option<&'a str>,
    pub redirect_uri: Option<&'a str>,
    pub code_verifier: Option<&'a str>,
}

/// Exchanges a code for the tokens of the user who signed in.
pub(crate) async fn authorization_code(
    context: IssueContext<'_>,
    exchange: CodeExchange<'_>,
    control_plane: Option<&NodeClient>,
) -> Result<AppTokens, GrantError> {
    let client_id = exchange
        .client_id
        .ok_or(GrantError::InvalidRequest("client_id is required"))?;
    let (Some(code), Some(verifier)) = (exchange.code, exchange.code_verifier) else {
        return Err(GrantError::InvalidRequest(
            "code and code_verifier are required",
        ));
    };
    let rejected = |reason| Err(GrantError::CodeRejected(reason));
    let claims = authorization::open_code(context.api, code, context.now).map_err(|error| {
        GrantError::CodeRejected(match error {
            CodeError::Invalid => CodeRejection::Invalid,
            CodeError::Expired => CodeRejection::Expired,
        })
    })?;
    if claims.client_id != client_id {
        return rejected(CodeRejection::OtherClient);
    }
    if exchange.redirect_uri != Some(claims.redirect_uri.as_str()) {
        return rejected(CodeRejection::RedirectMismatch);
    }
    if !verifier_matches(verifier, &claims.code_challenge) {
        return rejected(CodeRejection::VerifierMismatch);
    }

    let request = RedeemRefreshRequest {
        api_id: context.api.id.clone(),
        token_id: claims.jti.clone(),
        family: claims.family.clone(),
        expires_at: claims.auth_time + REFRESH_CHAIN_TTL,
        user_id: Some(claims.sub.clone()),
        strict: true,
    };
    let user = match redeem(context, &request, control_plane).await? {
        Redeemed::User(user) if user.id == claims.sub => user,
        Redeemed::User(_) | Redeemed::UserGone => return rejected(CodeRejection::UserUnavailable),
        Redeemed::Reused => {
            tracing::warn!(api = %context.api.name, client = client_id,
                "authorization code reused; what it issued is revoked");
            return rejected(CodeRejection::Reused);
        }
        Redeemed::Revoked => return rejected(CodeRejection::Reused),
    };

    let tokens = user_tokens::issue(context, &user, &claims.family, context.now, client_id)?;
    let wants_id_token = claims.scope.split(' ').any(|scope| scope == "openid");
    let id_token = if wants_id_token {
        let holder = IdTokenFor {
            client_id,
            nonce: claims.nonce.as_deref(),
            auth_time: claims.auth_time,
        };
        Some(user_tokens::id_token(context, &user, holder)?)
    } else {
        None
    };
    Ok(AppTokens {
        tokens,
        id_token,
        scope: Some(claims.scope),
    })
}

/// Renews an app's tokens from its refresh token; the `client_id` must be the one the
/// token was issued to.
pub(crate) async fn refresh_token(
    context: IssueContext<'_>,
    client_id: &str,
    refresh_token: Option<&str>,
    control_plane: Option<&NodeClient>,
) -> Result<AppTokens, GrantError> {
    let refresh_token =
        refresh_token.ok_or(GrantError::InvalidRequest("refresh_token is required"))?;
    let api = context.api;
    let rejected = |reason| GrantError::RefreshRejected(reason);
    let claims =
        refresh::open(&api.sealing_key, &api.id, refresh_token, context.now).map_err(|error| {
            rejected(match error {
                RefreshError::Invalid => RefreshRejection::Invalid,
                RefreshError::Expired => RefreshRejection::ChainExpired,
            })
        })?;
    if claims.client_id != client_id {
        return Err(rejected(RefreshRejection::OtherClient));
    }

    let request = RedeemRefreshRequest {
        api_id: api.id.clone(),
        token_id: claims.jti.clone(),
        family: claims.family.clone(),
        expires_at: claims.expires_at(),
        user_id: Some(claims.sub.clone()),
        strict: false,
    };
    let user = match redeem(context, &request, control_plane).await? {
        Redeemed::User(user) if user.id == claims.sub => user,
        Redeemed::User(_) | Redeemed::UserGone => {
            return Err(rejected(RefreshRejection::AccountUnavailable));
        }
        Redeemed::Reused => return Err(rejected(RefreshRejection::Reused)),
        Redeemed::Revoked => return Err(rejected(RefreshRejection::Revoked)),
    };
    let tokens = user_tokens::issue(
        context,
        &user,
        &claims.family,
        claims.family_started,
        client_id,
    )?;
    Ok(AppTokens {
        tokens,
        id_token: None,
        scope: None,
    })
}

/// RFC 7636 §4.6: BASE64URL(SHA256(ASCII(verifier))) equals the challenge. A verifier is 43
/// to 128 unreserved characters (§4.1); anything else cannot match.
fn verifier_matches(verifier: &str, challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"-._~".contains(&byte));
    well_formed && URL_SAFE_NO_PAD.encode(digest(&SHA256, verifier.as_bytes())) == challenge
}

/// What the control plane answered to a redemption.
enum Redeemed {
    User(ResolvedUser),
    UserGone,
    Reused,
    Revoked,
}

async fn redeem(
    context: IssueContext<'_>,
    request: &RedeemRefreshRequest,
    control_plane: Option<&NodeClient>,
) -> Result<Redeemed, GrantError> {
    let api = &context.api.name;
    let Some(control_plane) = control_plane else {
        tracing::warn!(api = %api, "app grant impossible: no control plane configured");
        return Err(GrantError::ControlPlaneUnavailable);
    };
    let answer = control_plane
        .redeem_session(request)
        .await
        .map_err(|error| {
            let error = crate::node_client::error_chain(&error);
            tracing::warn!(api = %api, error, "app grant not recorded");
            GrantError::ControlPlaneUnavailable
        })?;
    Ok(match (answer.outcome, answer.user) {
        (RedeemOutcome::Redeemed, Some(user)) => Redeemed::User(user),
        (RedeemOutcome::Redeemed, None) => Redeemed::UserGone,
        (RedeemOutcome::Reused, _) => Redeemed::Reused,
        (RedeemOutcome::Revoked, _) => Redeemed::Revoked,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_verifier_of_rfc_7636_appendix_b_matches_its_challenge() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(verifier_matches(verifier, challenge));
        assert!(!verifier_matches(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXl",
            challenge
        ));
        assert!(!verifier_matches(challenge, challenge));
        assert!(!verifier_matches("short", challenge));
    }
}

//! The tokens of a person signed in at the hosted login: for the browser session's cookies
//! and for the public clients (native apps, single-page apps) that use `/login` as their
//! authorization endpoint.
//!
//! An access token names its refresh family in `sid`, so that signing out or revoking a
//! token can end the family. The refresh token carries the user's id, and redeeming it
//! reads the user as they are now, so changed roles and a disabled user take effect at the
//! next refresh. Issuing does no I/O.

use restapi_shared::clock::UnixTime;
use restapi_shared::ids::{self, new_id};
use restapi_shared::node::ResolvedUser;
use restapi_shared::refresh::{self, RefreshClaims};
use restapi_shared::token::{ACCESS_TOKEN_TTL, REFRESH_CHAIN_TTL};
use serde_json::{Map, Value};

use crate::grants::{GrantError, IssueContext};

/// The `client_id` sealed into a browser session's refresh tokens: no OAuth client has it,
/// so such a token is refused at `_token`, and an app's or service account's at `_refresh`.
pub(crate) const SESSION_CLIENT_ID: &str = "_hosted_login";

/// How long an ID token is valid; it is read once, at sign-in.
const ID_TOKEN_TTL: i64 = 300;

/// A user's access token and the refresh token that renews it, just issued.
pub(crate) struct UserTokens {
    pub access_token: String,
    pub refresh_token: String,
    /// When the family, and so the refresh token, ends.
    pub family_ends: UnixTime,
}

/// The access token and the refresh token of `family` for `user`, held by `client_id`
/// ([`SESSION_CLIENT_ID`] for the browser session).
pub(crate) fn issue(
    context: IssueContext<'_>,
    user: &ResolvedUser,
    family: &str,
    family_started: UnixTime,
    client_id: &str,
) -> Result<UserTokens, GrantError> {
    // The API's static claims first, the user's attributes over them, then the registered
    // claims over both: a token never carries a custom claim under a registered name.
    let mut claims = context.api.claims.clone();
    claims.extend(user.attributes.clone());
    let mut registered = person_claims(context, user, ACCESS_TOKEN_TTL);
    registered.insert("aud".to_owned(), context.api.name.clone().into());
    registered.insert("jti".to_owned(), new_id(ids::TOKEN).into());
    registered.insert("roles".to_owned(), user.roles.clone().into());
    registered.insert("sid".to_owned(), family.into());
    if client_id == SESSION_CLIENT_ID {
        // The session's family starts at the sign-in and survives rotation: OpenID Connect
        // Core §2's `auth_time`, read where a recent sign-in is required (adding a passkey).
        registered.insert("auth_time".to_owned(), family_started.into());
    } else {
        registered.insert("client_id".to_owned(), client_id.into());
    }
    claims.extend(registered);
    let access_token = sign(context, &claims)?;

    let refresh_claims = RefreshClaims {
        jti: new_id(ids::TOKEN),
        family: family.to_owned(),
        family_started,
        iat: context.now,
        sub: user.id.clone(),
        client_id: client_id.to_owned(),
        secret_id: None,
    };
    let api = context.api;
    Ok(UserTokens {
        access_token,
        refresh_token: refresh::seal(&api.sealing_key, &api.id, &refresh_claims),
        family_ends: family_started + REFRESH_CHAIN_TTL,
    })
}

/// What an ID token is for: the app it is addressed to and the sign-in it reports.
pub(crate) struct IdTokenFor<'a> {
    pub client_id: &'a str,
    /// The `nonce` of the authorization request, returned as sent (Core §3.1.2.1).
    pub nonce: Option<&'a str>,
    /// When the person signed in at the provider.
    pub auth_time: UnixTime,
}

/// An OpenID Connect ID token (Core §2) for `user`, signed like the API's access tokens.
pub(crate) fn id_token(
    context: IssueContext<'_>,
    user: &ResolvedUser,
    holder: IdTokenFor<'_>,
) -> Result<String, GrantError> {
    let mut claims = person_claims(context, user, ID_TOKEN_TTL);
    claims.insert("aud".to_owned(), holder.client_id.into());
    claims.insert("azp".to_owned(), holder.client_id.into());
    claims.insert("auth_time".to_owned(), holder.auth_time.into());
    if let Some(nonce) = holder.nonce {
        claims.insert("nonce".to_owned(), nonce.into());
    }
    sign(context, &claims)
}

/// The claims every token about `user` carries, valid `ttl` seconds from now.
fn person_claims(context: IssueContext<'_>, user: &ResolvedUser, ttl: i64) -> Map<String, Value> {
    let mut claims = Map::new();
    claims.insert("iss".to_owned(), context.issuer.into());
    claims.insert("sub".to_owned(), user.id.clone().into());
    claims.insert("exp".to_owned(), (context.now + ttl).into());
    claims.insert("iat".to_owned(), context.now.into());
    claims.insert("name".to_owned(), user.name.clone().into());
    if let Some(email) = &user.email {
        claims.insert("email".to_owned(), email.clone().into());
    }
    claims
}

fn sign(context: IssueContext<'_>, claims: &Map<String, Value>) -> Result<String, GrantError> {
    let api = context.api;
    let Some(signer) = &api.keys.at(context.now).signer else {
        tracing::error!(api = %api.name, "no signing key may sign now");
        return Err(GrantError::NoSigningKey);
    };
    signer.sign(claims).map_err(|failure| {
        tracing::error!(api = %api.name, %failure, "signing failed");
        GrantError::NoSigningKey
    })
}

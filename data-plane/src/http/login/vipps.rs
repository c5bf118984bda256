//! Vipps Login: OpenID Connect whose ID token carries little more than `sub`.
//!
//! Vipps puts the name and email only in the userinfo answer, so after the ID token is
//! verified the access token is presented at the userinfo endpoint (OpenID Connect Core §5.3)
//! and its `sub` must equal the ID token's (§5.3.2), or the answer is someone else's.

use restapi_shared::secret::SecretString;
use serde::Deserialize;

use super::ExternalIdentity;
use super::facebook::read_limited;

/// Scopes asked for when the provider names none: the userinfo claims Vipps releases for them.
pub(super) const DEFAULT_SCOPES: &[&str] = &["openid", "name", "email"];

/// Largest userinfo answer read.
const RESPONSE_LIMIT: usize = 64 * 1024;

/// What can go wrong while reading the Vipps userinfo.
#[derive(Debug, thiserror::Error)]
pub(super) enum VippsError {
    /// The provider has no userinfo endpoint, neither configured nor discovered.
    #[error("the Vipps provider has no userinfo endpoint")]
    MissingEndpoint,
    /// Vipps could not be reached, or its answer could not be read.
    #[error("Vipps could not be reached: {0}")]
    Unreachable(#[source] reqwest::Error),
    /// Vipps answered the userinfo request with an error status.
    #[error("Vipps refused the userinfo request with status {0}")]
    Refused(u16),
    /// The answer is not userinfo JSON, or is too long.
    #[error("Vipps' userinfo answer is not the documented JSON")]
    BadResponse,
    /// The userinfo is about another subject than the ID token.
    #[error("Vipps' userinfo is about another subject than the ID token")]
    SubjectMismatch,
}

/// The identity of a Vipps sign-in: `subject` from the verified ID token, the rest from the
/// userinfo endpoint called with the sign-in's access token.
pub(super) async fn identity(
    http: &reqwest::Client,
    userinfo_endpoint: Option<&str>,
    access_token: &SecretString,
    subject: &str,
) -> Result<ExternalIdentity, VippsError> {
    let userinfo_endpoint = userinfo_endpoint.ok_or(VippsError::MissingEndpoint)?;
    let response = http
        .get(userinfo_endpoint)
        .bearer_auth(access_token.expose())
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(VippsError::Unreachable)?;

    let status = response.status();
    if !status.is_success() {
        return Err(VippsError::Refused(status.as_u16()));
    }
    let body = read_limited(response, RESPONSE_LIMIT)
        .await
        .map_err(VippsError::Unreachable)?;
    let body = body.ok_or(VippsError::BadResponse)?;
    identity_from_userinfo(subject, &body)
}

/// Reads a userinfo answer (`application/json`; Vipps does not sign it).
fn identity_from_userinfo(subject: &str, body: &[u8]) -> Result<ExternalIdentity, VippsError> {
    let userinfo: Userinfo = serde_json::from_slice(body).map_err(|_| VippsError::BadResponse)?;
    if userinfo.sub != subject {
        return Err(VippsError::SubjectMismatch);
    }

    let full_name = userinfo.name.or_else(|| {
        let parts = [userinfo.given_name, userinfo.family_name];
        let joined = parts.into_iter().flatten().collect::<Vec<_>>().join(" ");
        Some(joined)
    });
    let name = full_name
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty());
    let email = userinfo.email.filter(|email| email.contains('@'));

    Ok(ExternalIdentity {
        subject: userinfo.sub,
        email_verified: email.is_some() && userinfo.email_verified == Some(true),
        email,
        name,
    })
}

/// The userinfo claims a sign-in reads.
#[derive(Deserialize)]
struct Userinfo {
    sub: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    given_name: Option<String>,
    #[serde(default)]
    family_name: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    email_verified: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUBJECT: &str = "c06c4afe-d9e1-4c5d-939a-177d752a0944";

    #[test]
    fn name_and_email_come_from_userinfo() {
        let body = serde_json::json!({
            "sub": SUBJECT,
            "name": "Ada Lovelace",
            "given_name": "Ada",
            "family_name": "Lovelace",
            "email": "ada@example.no",
            "email_verified": true,
            "phone_number": "4791234567",
        });
        let identity = identity_from_userinfo(SUBJECT, body.to_string().as_bytes()).unwrap();
        assert_eq!(identity.subject, SUBJECT);
        assert_eq!(identity.name.as_deref(), Some("Ada Lovelace"));
        assert_eq!(identity.email.as_deref(), Some("ada@example.no"));
        assert!(identity.email_verified);
    }

    #[test]
    fn unverified_or_missing_email_and_split_names() {
        let body = serde_json::json!({
            "sub": SUBJECT,
            "given_name": "Ada",
            "family_name": "Lovelace",
            "email": "ada@example.no",
            "email_verified": false,
        });
        let identity = identity_from_userinfo(SUBJECT, body.to_string().as_bytes()).unwrap();
        assert_eq!(identity.name.as_deref(), Some("Ada Lovelace"));
        assert!(!identity.email_verified);

        let body = serde_json::json!({"sub": SUBJECT, "email_verified": true});
        let identity = identity_from_userinfo(SUBJECT, body.to_string().as_bytes()).unwrap();
        assert_eq!((identity.email, identity.name), (None, None));
        assert!(!identity.email_verified);
    }

    #[test]
    fn userinfo_of_another_subject_or_not_json_is_refused() {
        let body = serde_json::json!({"sub": "someone-else", "name": "Mallory"});
        let error = identity_from_userinfo(SUBJECT, body.to_string().as_bytes()).unwrap_err();
        assert!(matches!(error, VippsError::SubjectMismatch));

        let error = identity_from_userinfo(SUBJECT, b"<html>").unwrap_err();
        assert!(matches!(error, VippsError::BadResponse));
    }
}

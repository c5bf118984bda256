//! Vipps Login: OpenID Connect whose ID token carries little more than `sub`.
//!
//! Vipps puts the name and email only in the userinfo answer, so the generic flow always asks
//! the userinfo endpoint (OpenID Connect Core §5.3) with the sign-in's access token, checks that
//! its `sub` is the ID token's (§5.3.2), and reads the answer here.

use serde::Deserialize;

use super::{ExternalIdentity, IdentitySource, Preset};

/// Vipps: the generic flow, with Vipps' scopes and the identity from userinfo.
pub(super) const PRESET: Preset = Preset {
    default_scopes: DEFAULT_SCOPES,
    identity_source: IdentitySource::Userinfo,
    userinfo_identity,
    ..super::GENERIC
};

/// Scopes asked for when the provider names none: the userinfo claims Vipps releases for
/// them. Vipps knows no `profile` scope.
const DEFAULT_SCOPES: &[&str] = &["openid", "name", "email"];

/// Reads a Vipps userinfo answer (JSON; Vipps does not sign it). `None` without a subject.
fn userinfo_identity(answer: &serde_json::Value) -> Option<ExternalIdentity> {
    let userinfo = Userinfo::deserialize(answer).ok()?;
    if userinfo.sub.is_empty() {
        return None;
    }

    let full_name = userinfo.name.or_else(|| {
        let parts = [userinfo.given_name, userinfo.family_name];
        Some(parts.into_iter().flatten().collect::<Vec<_>>().join(" "))
    });
    let name = full_name
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty());
    let email = userinfo.email.filter(|email| email.contains('@'));

    Some(ExternalIdentity {
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
    use serde_json::json;

    use super::*;

    const SUBJECT: &str = "c06c4afe-d9e1-4c5d-939a-177d752a0944";

    #[test]
    fn name_and_email_come_from_userinfo() {
        let answer = json!({
            "sub": SUBJECT,
            "name": "Ada Lovelace",
            "given_name": "Ada",
            "family_name": "Lovelace",
            "email": "ada@example.no",
            "email_verified": true,
            "phone_number": "4791234567",
        });
        let identity = userinfo_identity(&answer).unwrap();
        assert_eq!(identity.subject, SUBJECT);
        assert_eq!(identity.name.as_deref(), Some("Ada Lovelace"));
        assert_eq!(identity.email.as_deref(), Some("ada@example.no"));
        assert!(identity.email_verified);
    }

    #[test]
    fn unverified_or_missing_email_and_split_names() {
        let answer = json!({
            "sub": SUBJECT,
            "given_name": "Ada",
            "family_name": "Lovelace",
            "email": "ada@example.no",
            "email_verified": false,
        });
        let identity = userinfo_identity(&answer).unwrap();
        assert_eq!(identity.name.as_deref(), Some("Ada Lovelace"));
        assert!(!identity.email_verified);

        let identity = userinfo_identity(&json!({"sub": SUBJECT, "email_verified": true})).unwrap();
        assert_eq!((identity.email, identity.name), (None, None));
        assert!(!identity.email_verified);
    }

    #[test]
    fn userinfo_without_a_subject_names_nobody() {
        assert!(userinfo_identity(&json!({"name": "Mallory"})).is_none());
        assert!(userinfo_identity(&json!({"sub": "", "name": "Mallory"})).is_none());
        assert!(userinfo_identity(&json!("<html>")).is_none());
    }
}

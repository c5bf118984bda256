//! Microsoft Entra ID: the multi-tenant issuer, the tenant restriction and a stable subject.
//!
//! The `common`, `organizations` and `consumers` endpoints publish one discovery document for
//! every tenant, whose issuer is a template: `https://login.microsoftonline.com/{tenantid}/v2.0`.
//! An ID token's `iss` names the user's real tenant, so the usual exact issuer comparison
//! cannot work; instead the template is filled with the token's `tid` and compared, and the
//! `tid` is checked against the tenant the provider is restricted to. (Microsoft's "Validate
//! tokens" guidance for multi-tenant applications.)
//!
//! The subject is `{tid}:{oid}`. `sub` is pairwise, different for each app registration, so a
//! new registration would orphan every user; `oid` identifies the account across the apps of a
//! tenant, and Microsoft recommends pairing it with `tid` as the stable key.

use restapi_shared::push::ProviderConfig;
use serde_json::{Map, Value};

use super::{ExternalIdentity, IdentitySource, LoginError, Preset};

/// Microsoft: the generic flow (whose default scopes include `profile`, which brings `oid` and
/// `name`), with the tenant-aware issuer check and the identity read from the ID token alone.
/// Microsoft's userinfo speaks of the pairwise `sub`, so it is not asked.
pub(super) const PRESET: Preset = Preset {
    issuer_check: Some(issuer_accepted),
    id_token_identity: Some(id_token_identity),
    identity_source: IdentitySource::IdToken,
    ..super::GENERIC
};

/// The tenant of personal Microsoft accounts (outlook.com, hotmail.com, Xbox...).
const CONSUMERS_TENANT_ID: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

/// The placeholder of the multi-tenant issuer.
const TENANT_PLACEHOLDER: &str = "{tenantid}";

/// Why a Microsoft ID token is refused after its signature checked out.
#[derive(Debug, thiserror::Error)]
enum MicrosoftError {
    /// A claim the check needs (`iss`, `tid`, `oid`) is missing or not a tenant or object id.
    #[error("the Microsoft ID token has no valid `{0}` claim")]
    MissingClaim(&'static str),
    /// `iss` is not the issuer of the token's own tenant.
    #[error("the Microsoft ID token's issuer does not match its tenant")]
    WrongIssuer,
    /// The token is from a tenant the provider does not accept.
    #[error("accounts of this Microsoft tenant may not sign in here")]
    WrongTenant,
}

/// The preset's issuer check: `issuer` is the discovery document's (else the configured one).
fn issuer_accepted(provider: &ProviderConfig, issuer: &str, claims: &Value) -> bool {
    let Some(claims) = claims.as_object() else {
        return false;
    };
    match check_issuer(issuer, provider.tenant.as_deref(), claims) {
        Ok(()) => true,
        Err(error) => {
            tracing::info!(provider = %provider.id, %error, "Microsoft ID token refused");
            false
        }
    }
}

/// The preset's identity: see [`identity`].
fn id_token_identity(claims: &Value) -> Result<ExternalIdentity, LoginError> {
    let claims = claims
        .as_object()
        .ok_or(LoginError::IdTokenInvalid("claims not an object"))?;
    identity(claims).map_err(|error| {
        tracing::info!(%error, "Microsoft ID token names nobody");
        LoginError::IdTokenInvalid("Microsoft ID token without tid or oid")
    })
}

/// Checks the issuer and tenant of a verified Microsoft ID token.
///
/// `issuer` is a template with `{tenantid}` for `common`, `organizations` and `consumers`, or
/// one tenant's issuer. `tenant` is the provider's setting.
fn check_issuer(
    issuer: &str,
    tenant: Option<&str>,
    claims: &Map<String, Value>,
) -> Result<(), MicrosoftError> {
    let token_issuer = string_claim(claims, "iss").ok_or(MicrosoftError::MissingClaim("iss"))?;
    let tid = string_claim(claims, "tid")
        .filter(|tid| is_guid(tid))
        .ok_or(MicrosoftError::MissingClaim("tid"))?;

    let expected_issuer = issuer.replace(TENANT_PLACEHOLDER, tid);
    if token_issuer != expected_issuer {
        return Err(MicrosoftError::WrongIssuer);
    }

    if tenant_accepts(tenant, tid) {
        Ok(())
    } else {
        Err(MicrosoftError::WrongTenant)
    }
}

/// Whether the provider's tenant setting lets accounts of tenant `tid` in.
fn tenant_accepts(tenant: Option<&str>, tid: &str) -> bool {
    let Some(tenant) = tenant else {
        return true;
    };
    match tenant.to_ascii_lowercase().as_str() {
        "common" => true,
        "consumers" => tid.eq_ignore_ascii_case(CONSUMERS_TENANT_ID),
        "organizations" => !tid.eq_ignore_ascii_case(CONSUMERS_TENANT_ID),
        guid if is_guid(guid) => tid.eq_ignore_ascii_case(guid),
        // A verified domain (contoso.onmicrosoft.com): its discovery document names the
        // tenant's own issuer, without the placeholder, so the issuer check already pinned it.
        _ => true,
    }
}

/// The identity of a Microsoft sign-in, from a verified ID token whose issuer was checked.
///
/// The email is the `email` claim, else `preferred_username` when it looks like an address
/// (for many accounts it is a phone number or a UPN that receives no mail). Entra does not
/// verify `email`: it counts as verified only when the optional claims say so, `xms_edov`
/// (the email's domain is verified by the tenant) or a `verified_primary_email` /
/// `verified_secondary_email` list that holds it.
fn identity(claims: &Map<String, Value>) -> Result<ExternalIdentity, MicrosoftError> {
    let tid = string_claim(claims, "tid")
        .filter(|tid| is_guid(tid))
        .ok_or(MicrosoftError::MissingClaim("tid"))?;
    let oid = string_claim(claims, "oid")
        .filter(|oid| is_guid(oid))
        .ok_or(MicrosoftError::MissingClaim("oid"))?;

    let email = ["email", "preferred_username"]
        .into_iter()
        .filter_map(|claim| string_claim(claims, claim))
        .find(|candidate| looks_like_email(candidate))
        .map(str::to_owned);
    let email_verified = email
        .as_deref()
        .is_some_and(|email| is_verified(claims, email));
    let name = string_claim(claims, "name")
        .map(str::trim)
        .filter(|name| !name.is_empty());

    Ok(ExternalIdentity {
        subject: format!("{}:{}", tid.to_ascii_lowercase(), oid.to_ascii_lowercase()),
        email,
        email_verified,
        name: name.map(str::to_owned),
    })
}

/// Whether the optional claims vouch for `email`.
fn is_verified(claims: &Map<String, Value>, email: &str) -> bool {
    let domain_owner_verified = match claims.get("xms_edov") {
        Some(Value::Bool(flag)) => *flag,
        Some(Value::String(text)) => text == "1" || text.eq_ignore_ascii_case("true"),
        Some(Value::Number(number)) => number.as_u64() == Some(1),
        _ => false,
    };
    let listed = ["verified_primary_email", "verified_secondary_email"]
        .into_iter()
        .any(|claim| {
            let addresses = match claims.get(claim) {
                Some(Value::Array(addresses)) => {
                    addresses.iter().filter_map(Value::as_str).collect()
                }
                Some(Value::String(address)) => vec![address.as_str()],
                _ => Vec::new(),
            };
            addresses
                .iter()
                .any(|address| address.eq_ignore_ascii_case(email))
        });
    domain_owner_verified || listed
}

fn string_claim<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    claims.get(name).and_then(Value::as_str)
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` in hex digits.
fn is_guid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    let lengths = [8, 4, 4, 4, 12];
    groups.len() == lengths.len()
        && groups.iter().zip(lengths).all(|(group, length)| {
            group.len() == length && group.bytes().all(|byte| byte.is_ascii_hexdigit())
        })
}

/// One `@` between a non-empty local part and a dotted domain, no spaces: enough to tell an
/// address from a phone number or a bare user name.
fn looks_like_email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && text.len() <= 254
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !text.chars().any(|c| c.is_whitespace() || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = "https://login.microsoftonline.com/{tenantid}/v2.0";
    const CONTOSO: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    const FABRIKAM: &str = "2e1f4a5c-0d3b-4f6a-9c8e-7b6a5d4c3b2a";
    const OID: &str = "00000000-0000-0000-66f3-3332eca7ea81";

    fn claims(tid: &str, iss: &str) -> Map<String, Value> {
        let value = serde_json::json!({"iss": iss, "tid": tid, "oid": OID, "sub": "pairwise"});
        value.as_object().unwrap().clone()
    }

    fn issuer_of(tid: &str) -> String {
        format!("https://login.microsoftonline.com/{tid}/v2.0")
    }

    #[test]
    fn multi_tenant_issuer_is_accepted_only_with_the_matching_tid() {
        let own = claims(CONTOSO, &issuer_of(CONTOSO));
        assert!(check_issuer(TEMPLATE, Some("common"), &own).is_ok());

        let mismatched = claims(CONTOSO, &issuer_of(FABRIKAM));
        let error = check_issuer(TEMPLATE, Some("common"), &mismatched).unwrap_err();
        assert!(matches!(error, MicrosoftError::WrongIssuer));

        let other_host = claims(CONTOSO, &format!("https://evil.example/{CONTOSO}/v2.0"));
        assert!(check_issuer(TEMPLATE, Some("common"), &other_host).is_err());
    }

    #[test]
    fn tid_must_be_present_and_a_guid() {
        let mut no_tid = claims(CONTOSO, &issuer_of(CONTOSO));
        no_tid.remove("tid");
        let error = check_issuer(TEMPLATE, None, &no_tid).unwrap_err();
        assert!(matches!(error, MicrosoftError::MissingClaim("tid")));

        let odd = claims("x/v2.0", "https://login.microsoftonline.com/x/v2.0/v2.0");
        assert!(matches!(
            check_issuer(TEMPLATE, None, &odd).unwrap_err(),
            MicrosoftError::MissingClaim("tid")
        ));
    }

    #[test]
    fn single_tenant_provider_refuses_other_tenants() {
        let issuer = issuer_of(CONTOSO);
        assert!(check_issuer(&issuer, Some(CONTOSO), &claims(CONTOSO, &issuer)).is_ok());

        // A token of another tenant fails the exact issuer check...
        let foreign = claims(FABRIKAM, &issuer_of(FABRIKAM));
        assert!(check_issuer(&issuer, Some(CONTOSO), &foreign).is_err());

        // ...and the tenant check, should the issuer ever be the template.
        let error = check_issuer(TEMPLATE, Some(CONTOSO), &foreign).unwrap_err();
        assert!(matches!(error, MicrosoftError::WrongTenant));
        let upper = CONTOSO.to_ascii_uppercase();
        assert!(check_issuer(TEMPLATE, Some(&upper), &claims(CONTOSO, &issuer)).is_ok());
    }

    #[test]
    fn consumers_and_organizations_split_on_the_personal_account_tenant() {
        let personal = claims(CONSUMERS_TENANT_ID, &issuer_of(CONSUMERS_TENANT_ID));
        let work = claims(CONTOSO, &issuer_of(CONTOSO));

        assert!(check_issuer(TEMPLATE, Some("consumers"), &personal).is_ok());
        assert!(check_issuer(TEMPLATE, Some("consumers"), &work).is_err());
        assert!(check_issuer(TEMPLATE, Some("organizations"), &work).is_ok());
        let error = check_issuer(TEMPLATE, Some("organizations"), &personal).unwrap_err();
        assert!(matches!(error, MicrosoftError::WrongTenant));
        assert!(check_issuer(TEMPLATE, Some("common"), &personal).is_ok());
    }

    #[test]
    fn subject_is_tid_and_oid_not_the_pairwise_sub() {
        let identity = identity(&claims(CONTOSO, &issuer_of(CONTOSO))).unwrap();
        assert_eq!(identity.subject, format!("{CONTOSO}:{OID}"));

        let mut no_oid = claims(CONTOSO, &issuer_of(CONTOSO));
        no_oid.remove("oid");
        assert!(matches!(
            super::identity(&no_oid).unwrap_err(),
            MicrosoftError::MissingClaim("oid")
        ));
    }

    #[test]
    fn email_falls_back_to_preferred_username_only_when_it_is_an_address() {
        let mut claims = claims(CONTOSO, &issuer_of(CONTOSO));
        claims.insert("preferred_username".into(), "ada@contoso.com".into());
        claims.insert("name".into(), " Ada Lovelace ".into());
        let identity = identity(&claims).unwrap();
        assert_eq!(identity.email.as_deref(), Some("ada@contoso.com"));
        assert_eq!(identity.name.as_deref(), Some("Ada Lovelace"));
        assert!(!identity.email_verified);

        for not_an_address in [
            "+4791234567",
            "ada",
            "ada@contoso",
            "a da@contoso.com",
            "@x.y",
        ] {
            claims.insert("preferred_username".into(), not_an_address.into());
            assert_eq!(
                super::identity(&claims).unwrap().email,
                None,
                "{not_an_address}"
            );
        }

        claims.insert("email".into(), "ada.l@contoso.com".into());
        assert_eq!(
            super::identity(&claims).unwrap().email.as_deref(),
            Some("ada.l@contoso.com")
        );
    }

    #[test]
    fn email_is_verified_only_when_optional_claims_say_so() {
        let mut claims = claims(CONTOSO, &issuer_of(CONTOSO));
        claims.insert("email".into(), "ada@contoso.com".into());
        assert!(!identity(&claims).unwrap().email_verified);

        claims.insert("xms_edov".into(), true.into());
        assert!(identity(&claims).unwrap().email_verified);

        claims.insert("xms_edov".into(), false.into());
        claims.insert(
            "verified_primary_email".into(),
            serde_json::json!(["ADA@contoso.com"]),
        );
        assert!(identity(&claims).unwrap().email_verified);

        claims.insert(
            "verified_primary_email".into(),
            serde_json::json!(["other@contoso.com"]),
        );
        assert!(!identity(&claims).unwrap().email_verified);
    }
}

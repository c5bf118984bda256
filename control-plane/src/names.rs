//! Rules for the names operators choose: API and region names, hosts, roles, email addresses
//! and claim names.
//!
//! An API name becomes a DNS label (`<api>.restapi.cloud`) and a path segment
//! (`eu.restapi.com/<api>`), so it follows RFC 1035 §2.3.1 in lowercase, and it may not take a
//! name the platform needs for itself.

/// Names no API may take: subdomains of the app domain the platform keeps for itself, and
/// paths the regional host answers itself (`/healthz`, `/readyz`).
pub const RESERVED_API_NAMES: &[&str] = &[
    "www",
    "api",
    "app",
    "login",
    "logout",
    "admin",
    "auth",
    "oauth",
    "sso",
    "static",
    "assets",
    "status",
    "docs",
    "help",
    "support",
    "mail",
    "cdn",
    "dashboard",
    "console",
    "portal",
    "account",
    "accounts",
    "id",
    "identity",
    "node",
    "health",
    "metrics",
    "internal",
    "system",
    "restapi",
    "localhost",
    "healthz",
    "readyz",
    "openapi",
];

/// Roles every API has without defining them: `_EVERYONE` (any caller, signed in or not),
/// `_AUTHENTICATED_USER` (any signed-in caller) and `_CREATOR` (the owner of a record). They
/// are for access rules; tokens never carry them, since they follow from the caller.
pub const BUILT_IN_ROLES: &[&str] = &["_EVERYONE", "_AUTHENTICATED_USER", "_CREATOR"];

/// Longest email address (RFC 5321 §4.5.3.1.3, a path less its angle brackets).
const MAX_EMAIL_LEN: usize = 254;
/// Longest local part of an email address (RFC 5321 §4.5.3.1.1).
const MAX_EMAIL_LOCAL_LEN: usize = 64;
/// Longest claim name.
const MAX_CLAIM_NAME_LEN: usize = 64;

/// Longest DNS label (RFC 1035 §2.3.4).
const MAX_LABEL_LEN: usize = 63;
/// Longest host name (RFC 1035 §2.3.4).
const MAX_HOST_LEN: usize = 253;
/// Longest role name.
const MAX_ROLE_LEN: usize = 64;

/// Checks that `name` is a lowercase DNS label: `a-z`, `0-9` and `-`, 1 to 63 characters,
/// neither starting nor ending with `-`. `what` names the kind of name in the message.
pub fn check_label(what: &str, name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_LABEL_LEN {
        return Err(format!(
            "{what} name must be 1 to {MAX_LABEL_LEN} characters long"
        ));
    }
    if !name
        .bytes()
        .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-')
    {
        return Err(format!(
            "{what} name '{name}' may contain only lowercase letters a-z, digits and '-'"
        ));
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Err(format!(
            "{what} name '{name}' may not start or end with '-'"
        ));
    }
    Ok(())
}

/// Checks an API name: a DNS label that the platform does not keep for itself.
/// (That it is no region's name needs the database and is checked by the store.)
pub fn check_api_name(name: &str) -> Result<(), String> {
    check_label("API", name)?;
    if RESERVED_API_NAMES.contains(&name) {
        return Err(format!("API name '{name}' is reserved for the platform"));
    }
    Ok(())
}

/// Checks a host name such as `eu.restapi.com`: dot-separated lowercase DNS labels, no port.
pub fn check_host(host: &str) -> Result<(), String> {
    if host.is_empty() || host.len() > MAX_HOST_LEN {
        return Err(format!("host must be 1 to {MAX_HOST_LEN} characters long"));
    }
    for label in host.split('.') {
        check_label("each label of the host", label).map_err(|_| {
            format!("host '{host}' must be a lowercase DNS name such as eu.restapi.com")
        })?;
    }
    Ok(())
}

/// Checks a role name: 1 to 64 of `A-Z a-z 0-9 _ . : -`, not starting with `_`, which is kept
/// for roles the platform defines.
pub fn check_role(role: &str) -> Result<(), String> {
    if role.is_empty() || role.len() > MAX_ROLE_LEN {
        return Err(format!(
            "role name must be 1 to {MAX_ROLE_LEN} characters long"
        ));
    }
    if !role
        .bytes()
        .all(|byte| byte.is_ascii_alphanumeric() || b"_.:-".contains(&byte))
    {
        return Err(format!(
            "role name '{role}' may contain only A-Z, a-z, 0-9 and _ . : -"
        ));
    }
    if role.starts_with('_') {
        return Err(format!(
            "role name '{role}' may not start with '_' (kept for built-ins)"
        ));
    }
    Ok(())
}

/// Checks a list of roles: each valid, none repeated.
pub fn check_roles(roles: &[String]) -> Result<(), String> {
    for (index, role) in roles.iter().enumerate() {
        check_role(role)?;
        if roles[..index].contains(role) {
            return Err(format!("role '{role}' is listed twice"));
        }
    }
    Ok(())
}

/// Checks that every role in `subset` is one of `roles`.
pub fn check_subset(field: &str, subset: &[String], roles: &[String]) -> Result<(), String> {
    match subset.iter().find(|role| !roles.contains(role)) {
        Some(role) => Err(format!(
            "{field} contains '{role}', which is not a role of the API"
        )),
        None => Ok(()),
    }
}

/// Checks a display name or description: at most `max` characters, no control characters.
pub fn check_text(field: &str, text: &str, max: usize) -> Result<(), String> {
    if text.chars().count() > max {
        return Err(format!("{field} must be at most {max} characters long"));
    }
    if text.chars().any(char::is_control) {
        return Err(format!("{field} may not contain control characters"));
    }
    Ok(())
}

/// Checks an email address for plain syntax: one `@`, a local part of at most 64 characters,
/// a domain of dot-separated labels with at least one dot, no spaces or control characters.
/// Deliverability is the identity provider's business; this only keeps out typos and junk.
pub fn check_email(field: &str, email: &str) -> Result<(), String> {
    let refuse = || Err(format!("{field} '{email}' is not an email address"));
    if email.len() > MAX_EMAIL_LEN {
        return Err(format!(
            "{field} must be at most {MAX_EMAIL_LEN} characters long"
        ));
    }
    if email
        .chars()
        .any(|character| character.is_whitespace() || character.is_control())
    {
        return refuse();
    }
    let Some((local, domain)) = email.rsplit_once('@') else {
        return refuse();
    };
    if local.is_empty() || local.len() > MAX_EMAIL_LOCAL_LEN || local.contains('@') {
        return refuse();
    }
    let labels_fine = domain
        .split('.')
        .all(|label| !label.is_empty() && !label.starts_with('-') && !label.ends_with('-'));
    if !domain.contains('.') || !labels_fine || domain.contains(['(', ')', '[', ']', ',', ';']) {
        return refuse();
    }
    Ok(())
}

/// The form of an email address that comparisons use: addresses are stored as given and
/// compared case-insensitively, as people expect (RFC 5321 allows a case-sensitive local part,
/// but no provider in use relies on it).
pub fn email_key(email: &str) -> String {
    email.to_lowercase()
}

/// Checks an API's static claims: names that are neither empty, too long, nor one the platform
/// sets itself ([`restapi_shared::token::REGISTERED_CLAIMS`]).
pub fn check_claims(claims: &serde_json::Map<String, serde_json::Value>) -> Result<(), String> {
    for name in claims.keys() {
        if name.is_empty() || name.chars().count() > MAX_CLAIM_NAME_LEN {
            return Err(format!(
                "claim names must be 1 to {MAX_CLAIM_NAME_LEN} characters long"
            ));
        }
        if name.chars().any(char::is_control) {
            return Err("claim names may not contain control characters".to_owned());
        }
        if restapi_shared::token::REGISTERED_CLAIMS.contains(&name.as_str()) {
            return Err(format!(
                "claims may not set '{name}': the platform sets it in every token"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_names_are_dns_labels() {
        assert!(check_api_name("shop").is_ok());
        assert!(check_api_name("a").is_ok());
        assert!(check_api_name("my-shop-2").is_ok());
        assert!(check_api_name(&"a".repeat(63)).is_ok());
        assert!(check_api_name(&"a".repeat(64)).is_err());
        assert!(check_api_name("").is_err());
        assert!(check_api_name("Shop").is_err());
        assert!(check_api_name("-shop").is_err());
        assert!(check_api_name("shop-").is_err());
        assert!(check_api_name("sh_op").is_err());
        assert!(check_api_name("shop.eu").is_err());
        assert!(check_api_name("café").is_err());
    }

    #[test]
    fn reserved_names_are_refused_with_the_reason() {
        for name in [
            "www", "api", "app", "login", "admin", "auth", "static", "status", "docs",
        ] {
            let message = check_api_name(name).unwrap_err();
            assert!(message.contains("reserved"), "{message}");
        }
    }

    #[test]
    fn hosts_are_lowercase_dns_names() {
        assert!(check_host("eu.restapi.com").is_ok());
        assert!(check_host("eu.localhost").is_ok());
        assert!(check_host("localhost").is_ok());
        assert!(check_host("eu.restapi.com:8080").is_err());
        assert!(check_host("EU.restapi.com").is_err());
        assert!(check_host("eu..com").is_err());
        assert!(check_host("").is_err());
    }

    #[test]
    fn roles_follow_the_role_alphabet() {
        assert!(check_roles(&["reader".into(), "orders:write".into(), "A.b-c_d".into()]).is_ok());
        assert!(check_role("_admin").unwrap_err().contains("built-ins"));
        assert!(check_role("has space").is_err());
        assert!(check_role(&"r".repeat(65)).is_err());
        assert!(
            check_roles(&["a".into(), "a".into()])
                .unwrap_err()
                .contains("twice")
        );
    }

    #[test]
    fn default_roles_must_be_roles() {
        let roles = vec!["reader".to_owned(), "writer".to_owned()];
        assert!(check_subset("defaultRoles", &["reader".to_owned()], &roles).is_ok());
        let message = check_subset("defaultRoles", &["owner".to_owned()], &roles).unwrap_err();
        assert!(message.contains("owner"));
    }

    #[test]
    fn text_fields_refuse_control_characters_and_length() {
        assert!(check_text("description", "Orders and billing", 10).is_err());
        assert!(check_text("description", "a\u{0}b", 100).is_err());
        assert!(check_text("description", "fine", 100).is_ok());
    }

    #[test]
    fn emails_need_a_local_part_and_a_dotted_domain() {
        for good in [
            "ada@example.com",
            "Ada.Lovelace+x@Mail.Example.co.uk",
            "a@b.no",
        ] {
            assert!(check_email("email", good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "ada",
            "@example.com",
            "ada@",
            "ada@localhost",
            "ada@@example.com",
            "ada @example.com",
            "ada@example..com",
            "ada@-example.com",
            "a\u{0}@b.no",
        ] {
            assert!(check_email("email", bad).is_err(), "{bad}");
        }
        let long_local = format!("{}@example.com", "a".repeat(65));
        assert!(check_email("email", &long_local).is_err());
        assert_eq!(email_key("Ada@Example.COM"), "ada@example.com");
    }

    #[test]
    fn registered_claim_names_are_refused_by_name() {
        let mut claims = serde_json::Map::new();
        claims.insert("tenant".to_owned(), serde_json::json!("acme"));
        assert!(check_claims(&claims).is_ok());
        for name in ["sub", "roles", "client_id", "nbf"] {
            let mut claims = claims.clone();
            claims.insert(name.to_owned(), serde_json::json!(1));
            assert!(check_claims(&claims).unwrap_err().contains(name));
        }
        claims.insert(String::new(), serde_json::json!(1));
        assert!(check_claims(&claims).is_err());
    }

    #[test]
    fn built_in_roles_cannot_be_defined() {
        for role in BUILT_IN_ROLES {
            assert!(check_role(role).is_err());
        }
    }
}

//! Custom domains: a customer's host name that serves one API exactly like its app host.
//!
//! A domain is added with the DNS records the customer must create: a CNAME to the API's app
//! host, and a TXT record holding a random token at `_restapi-challenge.<domain>` that proves
//! the customer controls the name. Until the token is seen the domain is not configuration:
//! nothing is pushed, so a name nobody proved control of never routes to an API. Once verified
//! it is pushed to the data planes of the API's region, and so is its removal. Its certificate
//! is then ordered from the ACME CA, when one is configured (see `certificates`).
//!
//! The name is checked once, here: a host name of at least two labels, no wildcard, no IP
//! address, none of the platform's own names, an internationalised name in its ASCII (`xn--`)
//! form, which is what DNS, certificates and SNI carry.

use std::net::IpAddr;

use restapi_shared::clock::UnixTime;
use restapi_shared::ids::{self, new_id};
use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;
use utoipa::ToSchema;

use super::apis::{ApiRow, api_by_id, api_by_name};
use super::{Store, StoreError, is_unique_violation};

/// Label under which the customer publishes the ownership token as a TXT record.
pub const CHALLENGE_LABEL: &str = "_restapi-challenge";
/// Prefix of domain identifiers (internal; the admin API names a domain by its host name).
const DOMAIN_ID: &str = "dom";
/// Random bytes in an ownership token: guessing one must be hopeless.
const TOKEN_BYTES: usize = 24;
/// Longest host name (RFC 1035 §2.3.4), without the root dot.
const MAX_NAME_LEN: usize = 253;
/// Longest label (RFC 1035 §2.3.4).
const MAX_LABEL_LEN: usize = 63;
/// The most characters of a refused name quoted back in an error message.
const QUOTED_NAME_LEN: usize = 100;

/// A custom domain as the admin API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Domain {
    /// The host name, lowercase ASCII (an internationalised name in its `xn--` form).
    #[schema(example = "login.example.com")]
    pub domain: String,
    /// Where the domain is: `pendingDns` until the TXT record is seen; then, when the platform
    /// orders certificates, `verifying` and `issuing` while the CA works, `active` once the
    /// certificate is served, `failed` if the CA refused (retried with backoff). Without an
    /// ACME CA configured a verified domain is `active` at once, without a certificate.
    pub status: DomainStatus,
    /// What the last DNS check saw, for a person to read; absent before the first check.
    pub status_message: Option<String>,
    /// The records to create at the domain's DNS provider.
    pub records: Vec<DnsRecord>,
    /// When the domain was added.
    #[serde(serialize_with = "crate::timestamps::serialize")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: UnixTime,
    /// When the domain's status or message last changed.
    #[serde(serialize_with = "crate::timestamps::serialize")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: UnixTime,
    /// When the TXT record was first seen; absent while pending.
    #[serde(serialize_with = "crate::timestamps::serialize_option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub verified_at: Option<UnixTime>,
    /// When the certificate being served expires; absent before the first one. It is
    /// renewed at two thirds of its lifetime.
    #[serde(serialize_with = "crate::timestamps::serialize_option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub certificate_expires_at: Option<UnixTime>,
}

/// Where a custom domain is on its way to being served.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum DomainStatus {
    /// Waiting for the TXT ownership record; checked again with backoff.
    PendingDns,
    /// Ownership proven and pushed; the CA is validating the HTTP-01 challenge its data planes
    /// answer.
    Verifying,
    /// The CA validated the challenge and is issuing the certificate.
    Issuing,
    /// Served: with its certificate when the platform orders them.
    Active,
    /// The CA refused or could not be reached before a first certificate; `statusMessage`
    /// holds its message, and the order is retried with backoff.
    Failed,
}

impl DomainStatus {
    /// Every status, in the order a domain moves through them.
    pub const ALL: [Self; 5] = [
        Self::PendingDns,
        Self::Verifying,
        Self::Issuing,
        Self::Active,
        Self::Failed,
    ];

    /// The status as the admin API and the database spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PendingDns => "pendingDns",
            Self::Verifying => "verifying",
            Self::Issuing => "issuing",
            Self::Active => "active",
            Self::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Result<Self, StoreError> {
        Ok(match text {
            "pendingDns" => Self::PendingDns,
            "verifying" => Self::Verifying,
            "issuing" => Self::Issuing,
            "active" => Self::Active,
            "failed" => Self::Failed,
            other => return Err(StoreError::Corrupt(format!("domain status '{other}'"))),
        })
    }
}

/// A DNS record the customer must create.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct DnsRecord {
    /// `CNAME` or `TXT`.
    #[serde(rename = "type")]
    #[schema(example = "TXT")]
    pub record_type: String,
    /// The record's name.
    #[schema(example = "_restapi-challenge.login.example.com")]
    pub name: String,
    /// The record's value.
    pub value: String,
}

/// A custom domain to add.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewDomain {
    /// A host name the customer controls, such as `login.example.com`: no wildcard, no IP
    /// address, not the platform's own domains. An internationalised name is stored in its
    /// ASCII (`xn--`) form, every name in lowercase.
    #[schema(example = "login.example.com")]
    pub domain: String,
}

/// A domain whose DNS is to be checked, with what the check needs.
#[derive(Clone, Debug)]
pub struct DomainCheck {
    /// Internal identifier.
    pub id: String,
    /// The host name.
    pub name: String,
    /// The API it serves.
    pub api_name: String,
    /// The TXT value that proves control; published in DNS, so not a secret.
    pub token: String,
    /// Checks failed in a row, for the backoff.
    pub failed_checks: i64,
}

type DomainRow = (
    String,
    String,
    String,
    Option<String>,
    UnixTime,
    UnixTime,
    Option<UnixTime>,
    Option<UnixTime>,
);

const SELECT_DOMAIN: &str = "SELECT name, verification_token, status, status_message, \
     created_at, updated_at, verified_at, certificate_expires_at FROM domains";

type CheckRow = (String, String, String, String, i64);

const SELECT_CHECK: &str = "SELECT d.id, d.name, a.name, d.verification_token, \
     d.failed_checks FROM domains d JOIN apis a ON a.id = d.api_id";

impl Store {
    /// Adds a custom domain to the API named `api_name`, pending until its TXT record is seen;
    /// nothing is pushed yet. `app_domain` is the platform's, which no custom domain may be.
    pub async fn add_domain(
        &self,
        api_name: &str,
        new: &NewDomain,
        app_domain: &str,
        now: UnixTime,
    ) -> Result<Domain, StoreError> {
        let name = check_domain_name(&new.domain).map_err(StoreError::InvalidField)?;

        let mut transaction = self.begin_write().await?;
        let api = api_by_name(&mut transaction, api_name).await?;
        let mut platform_hosts: Vec<String> = sqlx::query_scalar("SELECT host FROM regions")
            .fetch_all(&mut *transaction)
            .await?;
        platform_hosts.push(app_domain.to_owned());
        check_not_platform(&name, &platform_hosts).map_err(StoreError::InvalidField)?;
        let owner: Option<String> = sqlx::query_scalar(
            "SELECT a.name FROM domains d JOIN apis a ON a.id = d.api_id WHERE d.name = $1",
        )
        .bind(&name)
        .fetch_optional(&mut *transaction)
        .await?;
        if let Some(owner) = owner {
            return Err(taken(&name, &owner));
        }

        let token = new_token();
        sqlx::query(
            "INSERT INTO domains (id, api_id, name, verification_token, status, next_check_at, \
             failed_checks, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 0, $6, $6)",
        )
        .bind(new_id(DOMAIN_ID))
        .bind(&api.id)
        .bind(&name)
        .bind(&token)
        .bind(DomainStatus::PendingDns.as_str())
        .bind(now)
        .execute(&mut *transaction)
        .await
        .map_err(|error| {
            // Another API took the name between the check and the insert.
            if is_unique_violation(&error) {
                StoreError::Conflict(format!("domain '{name}' already belongs to an API"))
            } else {
                StoreError::Database(error)
            }
        })?;
        transaction.commit().await?;

        domain_from_row(
            (
                name,
                token,
                DomainStatus::PendingDns.as_str().to_owned(),
                None,
                now,
                now,
                None,
                None,
            ),
            &api.name,
            app_domain,
        )
    }

    /// The custom domains of the API named `api_name`, by name.
    pub async fn list_domains(
        &self,
        api_name: &str,
        app_domain: &str,
    ) -> Result<Vec<Domain>, StoreError> {
        let mut connection = self.pool().acquire().await?;
        let api = api_by_name(&mut connection, api_name).await?;
        let rows: Vec<DomainRow> =
            sqlx::query_as(&format!("{SELECT_DOMAIN} WHERE api_id = $1 ORDER BY name"))
                .bind(&api.id)
                .fetch_all(&mut *connection)
                .await?;
        rows.into_iter()
            .map(|row| domain_from_row(row, &api.name, app_domain))
            .collect()
    }

    /// The custom domain `domain` of the API named `api_name`.
    pub async fn domain(
        &self,
        api_name: &str,
        domain: &str,
        app_domain: &str,
    ) -> Result<Domain, StoreError> {
        let mut connection = self.pool().acquire().await?;
        let api = api_by_name(&mut connection, api_name).await?;
        let row: Option<DomainRow> =
            sqlx::query_as(&format!("{SELECT_DOMAIN} WHERE api_id = $1 AND name = $2"))
                .bind(&api.id)
                .bind(lookup_name(domain))
                .fetch_optional(&mut *connection)
                .await?;
        let row = row.ok_or_else(|| not_found(&api, domain))?;
        domain_from_row(row, &api.name, app_domain)
    }

    /// Removes a custom domain; its API's data planes stop serving it from the next revision.
    pub async fn delete_domain(
        &self,
        api_name: &str,
        domain: &str,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        // A configuration write even for a pending domain: a check may verify it while this
        // runs, and the revision lock orders the two so the removal always reaches the push.
        let mut write = self.begin_config_write(now).await?;
        let api = api_by_name(&mut write.transaction, api_name).await?;
        let deleted = sqlx::query("DELETE FROM domains WHERE api_id = $1 AND name = $2")
            .bind(&api.id)
            .bind(lookup_name(domain))
            .execute(&mut *write.transaction)
            .await?
            .rows_affected();
        if deleted == 0 {
            return Err(not_found(&api, domain));
        }
        write.commit_api_change(self, &api).await?;
        Ok(())
    }

    /// What checking the DNS of domain `domain` of the API named `api_name` needs.
    pub async fn domain_check(
        &self,
        api_name: &str,
        domain: &str,
    ) -> Result<DomainCheck, StoreError> {
        let mut connection = self.pool().acquire().await?;
        let api = api_by_name(&mut connection, api_name).await?;
        let row: Option<CheckRow> = sqlx::query_as(&format!(
            "{SELECT_CHECK} WHERE d.api_id = $1 AND d.name = $2"
        ))
        .bind(&api.id)
        .bind(lookup_name(domain))
        .fetch_optional(&mut *connection)
        .await?;
        row.map(check_from_row)
            .ok_or_else(|| not_found(&api, domain))
    }

    /// Pending domains whose next check is due at `now`, the most overdue first.
    pub async fn due_domain_checks(
        &self,
        now: UnixTime,
        limit: i64,
    ) -> Result<Vec<DomainCheck>, StoreError> {
        let rows: Vec<CheckRow> = sqlx::query_as(&format!(
            "{SELECT_CHECK} WHERE d.status = $1 AND d.next_check_at <= $2 \
             ORDER BY d.next_check_at LIMIT $3"
        ))
        .bind(DomainStatus::PendingDns.as_str())
        .bind(now)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(check_from_row).collect())
    }

    /// Marks a pending domain verified and pushes it to its API's data planes. With
    /// `orders_certificates` it becomes `verifying`, its certificate due at once; without, it
    /// is `active` as it is. Returns whether this call verified it (false when it was verified
    /// already, or deleted meanwhile).
    pub async fn record_domain_verified(
        &self,
        check: &DomainCheck,
        message: &str,
        orders_certificates: bool,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let mut write = self.begin_config_write(now).await?;
        // By the domain, not the API's name: the API may have been renamed since the check.
        let Some(api) = api_of_domain(&mut write.transaction, &check.id).await? else {
            return Ok(false);
        };
        let (status, next_order_at) = if orders_certificates {
            (DomainStatus::Verifying, Some(now))
        } else {
            (DomainStatus::Active, None)
        };
        let updated = sqlx::query(
            "UPDATE domains SET status = $1, status_message = $2, verified_at = $3, \
             updated_at = $3, next_check_at = NULL, failed_checks = 0, next_order_at = $4 \
             WHERE id = $5 AND status = $6",
        )
        .bind(status.as_str())
        .bind(message)
        .bind(now)
        .bind(next_order_at)
        .bind(&check.id)
        .bind(DomainStatus::PendingDns.as_str())
        .execute(&mut *write.transaction)
        .await?
        .rows_affected();
        if updated == 0 {
            // Dropping the write rolls it back: nothing changed, so no revision is spent.
            return Ok(false);
        }
        write.commit_api_change(self, &api).await?;
        Ok(true)
    }

    /// Keeps a domain pending after a check that did not find the token, with what the check
    /// saw and when to look again. Nothing is pushed.
    pub async fn record_domain_check_failed(
        &self,
        check: &DomainCheck,
        message: &str,
        next_check_at: UnixTime,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE domains SET status_message = $1, next_check_at = $2, \
             failed_checks = failed_checks + 1, updated_at = $3 WHERE id = $4 AND status = $5",
        )
        .bind(message)
        .bind(next_check_at)
        .bind(now)
        .bind(&check.id)
        .bind(DomainStatus::PendingDns.as_str())
        .execute(self.pool())
        .await?;
        Ok(())
    }
}

/// The names of API `api_id`'s domains whose ownership is proven (those data planes serve),
/// in order.
pub(super) async fn served_domain_names(
    connection: &mut AnyConnection,
    api_id: &str,
) -> Result<Vec<String>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT name FROM domains WHERE api_id = $1 AND status <> $2 ORDER BY name",
    )
    .bind(api_id)
    .bind(DomainStatus::PendingDns.as_str())
    .fetch_all(connection)
    .await?)
}

/// Checks a custom domain name and returns the form stored: lowercase ASCII, IDNA applied,
/// without a root dot. The error names the field and says what is wrong.
pub fn check_domain_name(input: &str) -> Result<String, String> {
    let quoted: String = input.chars().take(QUOTED_NAME_LEN).collect();
    let refuse = |why: &str| Err(format!("domain '{quoted}' {why}"));
    if input.is_empty() {
        return Err("domain must not be empty".to_owned());
    }
    if input.contains('*') {
        return refuse("is a wildcard; add each host name as its own domain");
    }
    let bare = input.trim_start_matches('[').trim_end_matches(']');
    if bare.parse::<IpAddr>().is_ok() {
        return refuse("is an IP address, not a host name");
    }

    // UTS 46 with the STD3 rules: letters, digits and hyphens only (no spaces, ports, paths
    // or underscores), a Unicode name mapped and converted to its xn-- form, and an xn-- label
    // that does not decode refused.
    let without_root = input.strip_suffix('.').unwrap_or(input);
    let Ok(ascii) = idna::uts46::Uts46::new().to_ascii(
        without_root.as_bytes(),
        idna::uts46::AsciiDenyList::STD3,
        idna::uts46::Hyphens::CheckFirstLast,
        idna::uts46::DnsLength::Ignore,
    ) else {
        return refuse(
            "is not a host name: only letters, digits and '-' in dot-separated labels, no \
             label starting or ending with '-' (internationalised names must be valid IDNA)",
        );
    };

    if ascii.len() > MAX_NAME_LEN {
        return refuse(&format!(
            "is longer than {MAX_NAME_LEN} characters (in its ASCII form)"
        ));
    }
    let labels: Vec<&str> = ascii.split('.').collect();
    if labels.iter().any(|label| label.is_empty()) {
        return refuse("has an empty label (two dots in a row, or a leading dot)");
    }
    if labels.iter().any(|label| label.len() > MAX_LABEL_LEN) {
        return refuse(&format!(
            "has a label longer than {MAX_LABEL_LEN} characters (in its ASCII form)"
        ));
    }
    if labels.len() < 2 {
        return refuse("is a single label; give a full host name such as login.example.com");
    }
    // A numeric last label makes browsers read the name as an IPv4 address (WHATWG URL).
    if labels
        .last()
        .is_some_and(|label| label.bytes().all(|byte| byte.is_ascii_digit()))
    {
        return refuse("is an IP address, not a host name");
    }
    Ok(ascii.into_owned())
}

/// Refuses the platform's own names (`platform_hosts`: the app domain and the regions' hosts)
/// and any name under them: the platform serves those itself.
fn check_not_platform(name: &str, platform_hosts: &[String]) -> Result<(), String> {
    let owned = platform_hosts.iter().find(|host| {
        name == host.as_str()
            || name
                .strip_suffix(host.as_str())
                .is_some_and(|prefix| prefix.ends_with('.'))
    });
    match owned {
        Some(host) => Err(format!(
            "domain '{name}' is the platform's own name '{host}' or under it; APIs are served \
             there already"
        )),
        None => Ok(()),
    }
}

/// The stored form of a name given in a path, so that `Login.Example.com` or the Unicode form
/// of an IDN finds its domain; a name that is not valid finds nothing.
fn lookup_name(domain: &str) -> String {
    check_domain_name(domain).unwrap_or_else(|_| domain.to_ascii_lowercase())
}

fn new_token() -> String {
    let mut bytes = [0u8; TOKEN_BYTES];
    ids::fill_random(&mut bytes);
    hex::encode(bytes)
}

fn domain_from_row(row: DomainRow, api_name: &str, app_domain: &str) -> Result<Domain, StoreError> {
    let (name, token, status, status_message, created_at, updated_at, verified_at, expires_at) =
        row;
    let records = vec![
        DnsRecord {
            record_type: "CNAME".to_owned(),
            name: name.clone(),
            value: format!("{api_name}.{app_domain}"),
        },
        DnsRecord {
            record_type: "TXT".to_owned(),
            name: format!("{CHALLENGE_LABEL}.{name}"),
            value: token,
        },
    ];
    Ok(Domain {
        domain: name,
        status: DomainStatus::parse(&status)?,
        status_message,
        records,
        created_at,
        updated_at,
        verified_at,
        certificate_expires_at: expires_at,
    })
}

fn check_from_row(row: CheckRow) -> DomainCheck {
    let (id, name, api_name, token, failed_checks) = row;
    DomainCheck {
        id,
        name,
        api_name,
        token,
        failed_checks,
    }
}

/// The API domain `domain_id` belongs to, unless the domain is gone.
pub(super) async fn api_of_domain(
    connection: &mut AnyConnection,
    domain_id: &str,
) -> Result<Option<ApiRow>, StoreError> {
    let api_id: Option<String> = sqlx::query_scalar("SELECT api_id FROM domains WHERE id = $1")
        .bind(domain_id)
        .fetch_optional(&mut *connection)
        .await?;
    match api_id {
        Some(api_id) => api_by_id(connection, &api_id).await,
        None => Ok(None),
    }
}

fn taken(name: &str, owner: &str) -> StoreError {
    StoreError::Conflict(format!("domain '{name}' already belongs to API '{owner}'"))
}

fn not_found(api: &ApiRow, domain: &str) -> StoreError {
    StoreError::NotFound(format!("API '{}' has no domain '{domain}'", api.name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(name: &str) -> String {
        let message = check_domain_name(name).unwrap_err();
        assert!(message.starts_with("domain "), "{name}: {message}");
        message
    }

    #[test]
    fn names_are_stored_lowercase_without_the_root_dot() {
        for (given, stored) in [
            ("login.example.com", "login.example.com"),
            ("Login.Example.COM.", "login.example.com"),
            ("a-b.c-d.example", "a-b.c-d.example"),
            ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        ] {
            assert_eq!(check_domain_name(given).unwrap(), stored, "{given}");
        }
    }

    #[test]
    fn internationalised_names_become_their_ascii_form() {
        assert_eq!(
            check_domain_name("bücher.example").unwrap(),
            "xn--bcher-kva.example"
        );
        assert_eq!(
            check_domain_name("Bücher.Example").unwrap(),
            "xn--bcher-kva.example"
        );
        assert_eq!(
            check_domain_name("münchen.de").unwrap(),
            "xn--mnchen-3ya.de"
        );
        // IDNA refuses: an xn-- label that does not decode, a disallowed code point.
        assert!(refusal("xn--zz.example").contains("not a host name"));
        assert!(refusal("\u{0301}a.example").contains("not a host name"));
    }

    #[test]
    fn wildcards_ip_addresses_and_single_labels_are_refused() {
        assert!(refusal("*.example.com").contains("wildcard"));
        assert!(refusal("login.*.com").contains("wildcard"));
        for ip in [
            "10.0.0.1",
            "::1",
            "[2001:db8::1]",
            "192.0.2.1.",
            "example.123",
        ] {
            assert!(refusal(ip).contains("IP address"), "{ip}");
        }
        assert!(refusal("localhost").contains("single label"));
        assert!(refusal("com.").contains("single label"));
        assert_eq!(
            check_domain_name(""),
            Err("domain must not be empty".to_owned())
        );
    }

    #[test]
    fn what_is_not_a_host_name_is_refused() {
        for bad in [
            "exa mple.com",
            "https://login.example.com",
            "login.example.com:443",
            "login.example.com/path",
            "_dmarc.example.com",
            "-login.example.com",
            "login-.example.com",
            "user@example.com",
        ] {
            assert!(refusal(bad).contains("not a host name"), "{bad}");
        }
        assert!(refusal("login..example.com").contains("empty label"));
        assert!(refusal(".example.com").contains("empty label"));
    }

    #[test]
    fn lengths_follow_rfc_1035() {
        let label = "a".repeat(63);
        assert!(check_domain_name(&format!("{label}.example")).is_ok());
        assert!(refusal(&format!("{label}a.example")).contains("longer than 63"));

        let longest = format!("{0}.{0}.{0}.{1}", label, "b".repeat(61));
        assert_eq!(longest.len(), 253);
        assert!(check_domain_name(&longest).is_ok());
        let too_long = format!("{0}.{0}.{0}.{1}", label, "b".repeat(62));
        assert!(refusal(&too_long).contains("longer than 253"));
        // The limit applies to the ASCII form an IDN becomes.
        let unicode = format!("{}.ü.example", "a".repeat(240));
        assert!(unicode.len() < 253);
        assert!(refusal(&unicode).contains("longer than 253"));
    }

    #[test]
    fn the_platforms_names_and_names_under_them_are_refused() {
        let platform = ["restapi.cloud".to_owned(), "eu.restapi.com".to_owned()];
        for taken in [
            "restapi.cloud",
            "shop.restapi.cloud",
            "a.b.restapi.cloud",
            "eu.restapi.com",
            "x.eu.restapi.com",
        ] {
            let message = check_not_platform(taken, &platform).unwrap_err();
            assert!(message.starts_with("domain "), "{message}");
            assert!(message.contains("platform"), "{message}");
        }
        for free in [
            "myrestapi.cloud",
            "restapi.com",
            "eu.restapi.com.evil.example",
        ] {
            assert!(check_not_platform(free, &platform).is_ok(), "{free}");
        }
    }

    #[test]
    fn statuses_round_trip_through_their_stored_form() {
        for status in DomainStatus::ALL {
            assert_eq!(DomainStatus::parse(status.as_str()).unwrap(), status);
        }
        assert!(DomainStatus::parse("issued").is_err());
    }
}

//! Proof that a customer controls a custom domain: the TXT record at
//! `_restapi-challenge.<domain>` holds the domain's token.
//!
//! Checked at once when the operator asks (`POST .../verify`) and otherwise by the background
//! loop, with exponential backoff from 30 seconds to an hour so that a domain whose records
//! never come costs one lookup an hour. The CNAME to the API's app host is reported but not
//! required: a zone apex cannot have one, and serving traffic is the customer's business.
//!
//! A DNS failure is never an error of the request: the domain stays `pendingDns` and its
//! `statusMessage` says what DNS showed. Lookups go to the configured `dns_server`, or the
//! system's resolver, without a cache, so a record just created is seen at the next check.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::{Resolver, TokioResolver};
use restapi_shared::clock::UnixTime;

use crate::store::{CHALLENGE_LABEL, Domain, DomainCheck, DomainStatus, Store, StoreError};

/// Wait before the first retry of a failed check; each failure doubles it.
const FIRST_RETRY_SECONDS: i64 = 30;
/// The longest wait between two checks of a pending domain.
const MAX_RETRY_SECONDS: i64 = 3600;
/// Most domains checked in one background round; the rest wait for the next round.
const CHECKS_PER_ROUND: i64 = 20;
/// How long one lookup may take. The `verify` endpoint waits for two lookups, so this bounds
/// its answer time.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(3);
/// The most TXT values quoted back in a status message, and the most characters of each.
const QUOTED_VALUES: usize = 3;
const QUOTED_VALUE_LEN: usize = 80;

/// Checks custom domains' DNS and records the outcome in the store; cheap to clone.
#[derive(Clone)]
pub struct DomainVerifier {
    store: Store,
    /// The resolver, or why none could be built (unreadable system configuration): then every
    /// check reports that, rather than the control plane refusing to start.
    resolver: Arc<Result<TokioResolver, String>>,
    app_domain: String,
    /// Whether a verified domain goes on to have its certificate ordered.
    orders_certificates: bool,
}

impl std::fmt::Debug for DomainVerifier {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("DomainVerifier")
            .field("resolver_ready", &self.resolver.is_ok())
            .field("app_domain", &self.app_domain)
            .finish_non_exhaustive()
    }
}

/// What one check found.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Findings {
    /// The TXT record holds the token.
    verified: bool,
    /// What DNS showed, for the operator.
    message: String,
}

/// What a lookup of one record type answered.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Answer {
    /// Records of the type (TXT strings, or CNAME targets without the root dot).
    Found(Vec<String>),
    /// The name does not exist, or has no record of the type.
    Missing,
    /// The lookup failed; a readable reason.
    Failed(String),
}

impl DomainVerifier {
    /// A verifier asking `dns_server` (the system's resolver when `None`); `app_domain` is
    /// where the CNAME should point; with `orders_certificates` a verified domain's
    /// certificate is ordered next.
    pub fn new(
        store: Store,
        dns_server: Option<SocketAddr>,
        app_domain: String,
        orders_certificates: bool,
    ) -> Self {
        let resolver = build_resolver(dns_server);
        if let Err(reason) = &resolver {
            tracing::warn!(%reason, "no DNS resolver; custom domains cannot be verified");
        }
        Self {
            store,
            resolver: Arc::new(resolver),
            app_domain,
            orders_certificates,
        }
    }

    /// Checks the domain `domain` of the API named `api_name` now and returns it as it then
    /// stands. A domain already verified is returned as it is.
    pub async fn verify_now(
        &self,
        api_name: &str,
        domain: &str,
        now: UnixTime,
    ) -> Result<Domain, StoreError> {
        let current = self
            .store
            .domain(api_name, domain, &self.app_domain)
            .await?;
        if current.status != DomainStatus::PendingDns {
            return Ok(current);
        }

        let check = self.store.domain_check(api_name, domain).await?;
        self.check(&check, now).await?;
        self.store.domain(api_name, domain, &self.app_domain).await
    }

    /// Checks the pending domains whose retry time has come; returns how many were checked.
    /// A verified domain is not checked again: its certificate's renewals, validated over
    /// HTTP on the name, show that it still reaches the platform.
    pub async fn check_due(&self, now: UnixTime) -> Result<usize, StoreError> {
        let due = self.store.due_domain_checks(now, CHECKS_PER_ROUND).await?;
        for check in &due {
            self.check(check, now).await?;
        }
        Ok(due.len())
    }

    async fn check(&self, check: &DomainCheck, now: UnixTime) -> Result<(), StoreError> {
        let expected_cname = format!("{}.{}", check.api_name, self.app_domain);
        let findings = match self.resolver.as_ref() {
            Ok(resolver) => {
                let challenge = format!("{CHALLENGE_LABEL}.{}.", check.name);
                let txt = look_up(resolver, &challenge, LookupKind::Txt).await;
                let cname = look_up(resolver, &format!("{}.", check.name), LookupKind::Cname).await;
                judge(&check.name, &check.token, &expected_cname, &txt, &cname)
            }
            Err(reason) => Findings {
                verified: false,
                message: format!("DNS cannot be checked: {reason}"),
            },
        };

        if findings.verified {
            let message = if self.orders_certificates {
                format!("{}; ordering its certificate", findings.message)
            } else {
                findings.message
            };
            if self
                .store
                .record_domain_verified(check, &message, self.orders_certificates, now)
                .await?
            {
                tracing::info!(api = %check.api_name, domain = %check.name, "custom domain verified");
            }
            return Ok(());
        }
        let next_check_at = now + retry_delay(check.failed_checks);
        tracing::debug!(
            api = %check.api_name,
            domain = %check.name,
            next_check_at,
            message = %findings.message,
            "custom domain not verified yet"
        );
        self.store
            .record_domain_check_failed(check, &findings.message, next_check_at, now)
            .await
    }
}

/// Seconds to wait after `failed_checks` failures in a row before the next check: 30, 60,
/// 120, ... up to an hour.
fn retry_delay(failed_checks: i64) -> i64 {
    let doublings = u32::try_from(failed_checks.clamp(0, 16)).unwrap_or(16);
    (FIRST_RETRY_SECONDS << doublings).min(MAX_RETRY_SECONDS)
}

fn build_resolver(dns_server: Option<SocketAddr>) -> Result<TokioResolver, String> {
    let provider = TokioRuntimeProvider::default();
    let mut builder = match dns_server {
        Some(server) => {
            // The same port over UDP and, for answers too large for UDP, TCP.
            let connections = [ConnectionConfig::udp(), ConnectionConfig::tcp()]
                .into_iter()
                .map(|mut connection| {
                    connection.port = server.port();
                    connection
                })
                .collect();
            let name_server = NameServerConfig::new(server.ip(), true, connections);
            Resolver::builder_with_config(
                ResolverConfig::from_name_servers(vec![name_server]),
                provider,
            )
        }
        None => TokioResolver::builder(provider).map_err(|error| {
            format!("the system's resolver configuration cannot be read ({error}); set dns_server")
        })?,
    };
    let options: &mut ResolverOpts = builder.options_mut();
    // A record the customer just created must be seen at once, and a missing one must not be
    // remembered: no cache, and only DNS answers (not /etc/hosts).
    options.cache_size = 0;
    options.use_hosts_file = ResolveHosts::Never;
    options.timeout = LOOKUP_TIMEOUT;
    options.attempts = 1;
    builder
        .build()
        .map_err(|error| format!("the DNS resolver cannot be built ({error})"))
}

#[derive(Clone, Copy, Debug)]
enum LookupKind {
    Txt,
    Cname,
}

async fn look_up(resolver: &TokioResolver, name: &str, kind: LookupKind) -> Answer {
    let result = match kind {
        LookupKind::Txt => resolver.txt_lookup(name).await,
        LookupKind::Cname => resolver.lookup(name, RecordType::CNAME).await,
    };
    let lookup = match result {
        Ok(lookup) => lookup,
        Err(error) if error.is_no_records_found() => return Answer::Missing,
        Err(error) => return Answer::Failed(describe_failure(name, &error)),
    };
    let values: Vec<String> = lookup
        .answers()
        .iter()
        .filter_map(|record| match (&record.data, kind) {
            // RFC 1035 §3.3.14: one TXT record is a sequence of strings, read as their
            // concatenation (RFC 7208 §3.3 does the same for long values).
            (RData::TXT(txt), LookupKind::Txt) => Some(
                txt.txt_data
                    .iter()
                    .map(|part| String::from_utf8_lossy(part))
                    .collect::<String>(),
            ),
            (RData::CNAME(target), LookupKind::Cname) => {
                Some(target.to_ascii().trim_end_matches('.').to_ascii_lowercase())
            }
            _ => None,
        })
        .collect();
    if values.is_empty() {
        Answer::Missing
    } else {
        Answer::Found(values)
    }
}

/// A readable reason for a failed lookup; the library's own text goes to the log only.
fn describe_failure(name: &str, error: &NetError) -> String {
    let reason = match error {
        // The customer's DNS answered with an error: theirs to fix, so no warning here.
        NetError::Dns(DnsError::ResponseCode(code)) => {
            tracing::debug!(%name, %error, "DNS lookup for a custom domain refused");
            return format!("looking up {name} failed: the DNS server answered {code}");
        }
        NetError::Timeout => "the DNS server did not answer in time",
        NetError::Io(_) | NetError::NoConnections => "the DNS server could not be reached",
        _ => "the DNS lookup failed",
    };
    // Our resolver could not do its work: the operator may have to fix `dns_server`.
    tracing::warn!(%name, %error, "DNS lookup for a custom domain failed");
    format!("looking up {name} failed: {reason}")
}

/// Decides from the two answers whether the domain is verified, and says what DNS showed.
fn judge(
    domain: &str,
    token: &str,
    expected_cname: &str,
    txt: &Answer,
    cname: &Answer,
) -> Findings {
    let challenge = format!("{CHALLENGE_LABEL}.{domain}");
    let (verified, txt_part) = match txt {
        Answer::Found(values) if values.iter().any(|value| value.trim() == token) => {
            (true, format!("TXT record {challenge} holds the token"))
        }
        Answer::Found(values) => {
            let quoted: Vec<String> = values
                .iter()
                .take(QUOTED_VALUES)
                .map(|value| format!("'{}'", quote(value)))
                .collect();
            (
                false,
                format!(
                    "TXT record {challenge} holds {}, not the token",
                    quoted.join(", ")
                ),
            )
        }
        Answer::Missing => (false, format!("no TXT record at {challenge} yet")),
        Answer::Failed(reason) => (false, reason.clone()),
    };
    let cname_part = match cname {
        Answer::Found(targets) if targets.iter().any(|target| target == expected_cname) => {
            format!("CNAME {domain} points to {expected_cname}")
        }
        Answer::Found(targets) => format!(
            "CNAME {domain} points to {}, not {expected_cname} (advisory)",
            quote(&targets.join(", "))
        ),
        Answer::Missing => format!(
            "no CNAME {domain} to {expected_cname} (advisory: needed for traffic unless the \
             domain is a zone apex)"
        ),
        Answer::Failed(reason) => format!("{reason} (CNAME, advisory)"),
    };
    Findings {
        verified,
        message: format!("{txt_part}; {cname_part}"),
    }
}

/// A DNS value as it may be quoted to a person: printable, and not too long.
fn quote(value: &str) -> String {
    value
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(QUOTED_VALUE_LEN)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "0123abcd";
    const CNAME: &str = "shop.apps.test";

    fn found(values: &[&str]) -> Answer {
        Answer::Found(values.iter().map(|value| (*value).to_owned()).collect())
    }

    #[test]
    fn the_token_in_any_txt_record_verifies_whatever_the_cname() {
        for cname in [
            found(&[CNAME]),
            Answer::Missing,
            found(&["elsewhere.example"]),
        ] {
            let findings = judge("a.example", TOKEN, CNAME, &found(&["other", TOKEN]), &cname);
            assert!(findings.verified, "{findings:?}");
            assert!(
                findings
                    .message
                    .starts_with("TXT record _restapi-challenge.a.example holds the token; ")
            );
        }
    }

    #[test]
    fn without_the_token_the_message_says_what_dns_showed() {
        let findings = judge(
            "a.example",
            TOKEN,
            CNAME,
            &Answer::Missing,
            &Answer::Missing,
        );
        assert!(!findings.verified);
        assert_eq!(
            findings.message,
            "no TXT record at _restapi-challenge.a.example yet; no CNAME a.example to \
             shop.apps.test (advisory: needed for traffic unless the domain is a zone apex)"
        );

        let findings = judge(
            "a.example",
            TOKEN,
            CNAME,
            &found(&["wrong\u{7}"]),
            &found(&["x.example"]),
        );
        assert!(!findings.verified);
        assert!(
            findings.message.contains("holds 'wrong?', not the token"),
            "{}",
            findings.message
        );
        assert!(
            findings
                .message
                .contains("points to x.example, not shop.apps.test")
        );

        let failed =
            Answer::Failed("looking up x failed: the DNS server did not answer in time".into());
        let findings = judge("a.example", TOKEN, CNAME, &failed, &found(&[CNAME]));
        assert!(!findings.verified);
        assert!(
            findings.message.starts_with("looking up x failed"),
            "{}",
            findings.message
        );
        assert!(
            findings
                .message
                .ends_with("CNAME a.example points to shop.apps.test")
        );
    }

    #[test]
    fn retries_back_off_from_thirty_seconds_to_an_hour() {
        let delays: Vec<i64> = (0..9).map(retry_delay).collect();
        assert_eq!(delays, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
        assert_eq!(retry_delay(-1), 30);
        assert_eq!(retry_delay(i64::MAX), 3600);
    }
}

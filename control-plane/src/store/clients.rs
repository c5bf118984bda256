//! Public OAuth clients of an API: native apps and single-page apps that use the hosted login
//! page as their authorization endpoint.
//!
//! A public client holds no secret (it could not keep one), so what protects it is PKCE and
//! the exact list of redirect URIs it registered: the data plane sends a code only to one of
//! them. Those URIs are therefore checked strictly here, once, after RFC 8252: claimed HTTPS
//! URIs, loopback HTTP URIs and private-use schemes in reverse-domain form. Every write is a
//! change of the API's configuration, so its data planes have it within a second.

use restapi_shared::clock::UnixTime;
use restapi_shared::ids::{self, new_id};
use restapi_shared::push::ClientConfig;
use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;
use utoipa::ToSchema;

use super::apis::{ApiRow, api_by_name};
use super::{Store, StoreError};
use crate::names;

/// Longest client name.
const MAX_NAME_LEN: usize = 100;
/// Most redirect URIs a client may register.
const MAX_REDIRECT_URIS: usize = 20;
/// Longest redirect URI.
const MAX_REDIRECT_URI_LEN: usize = 2000;
/// The longest part of a refused URI quoted back in an error message.
const QUOTED_URI_LEN: usize = 200;
/// Schemes that run or read something instead of returning to an app; never a redirect target.
const DANGEROUS_SCHEMES: &[&str] = &["javascript", "data", "file", "vbscript"];
/// Hosts of plain `http` redirect URIs: the app listens on its own machine (RFC 8252 §7.3).
const LOOPBACK_HOSTS: &[&str] = &["127.0.0.1", "[::1]", "localhost"];

/// A public client as the admin API shows it.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublicClient {
    /// Identifier (`pcl_...`) in the admin API.
    pub id: String,
    /// The `client_id` the app sends (`app_...`), unique across the platform.
    pub client_id: String,
    /// Shown to people where the app is named.
    pub name: String,
    /// Where the app may be sent back to with a code.
    pub redirect_uris: Vec<String>,
    /// When the client was registered.
    #[serde(serialize_with = "crate::timestamps::serialize")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: UnixTime,
    /// When the client was last changed.
    #[serde(serialize_with = "crate::timestamps::serialize")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: UnixTime,
}

/// A public client to register.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewPublicClient {
    /// Shown to people where the app is named; 1 to 100 characters.
    #[schema(example = "Shop for iOS")]
    pub name: String,
    /// 1 to 20 redirect URIs (RFC 8252): `https://host[:port]/path`, loopback
    /// `http://127.0.0.1[:port]/path`, `http://[::1][:port]/path` or
    /// `http://localhost[:port]/path` (any port matches at sign-in), or a private-use scheme in
    /// reverse-domain form such as `com.example.app:/callback`. No fragment, user information
    /// or `*`; duplicates are dropped.
    #[schema(example = json!(["com.example.shop:/oauth/callback", "http://127.0.0.1/callback"]))]
    pub redirect_uris: Vec<String>,
}

/// Changes to a public client; absent fields stay as they are.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PublicClientChanges {
    /// A new name.
    pub name: Option<String>,
    /// New redirect URIs, replacing the old ones entirely; the same rules as when created.
    pub redirect_uris: Option<Vec<String>>,
}

type ClientRow = (String, String, String, String, UnixTime, UnixTime);

const SELECT_CLIENT: &str = "SELECT id, client_id, name, redirect_uris, created_at, updated_at \
     FROM public_clients";

impl Store {
    /// Registers a public client of the API named `api_name`, with a new `client_id`.
    pub async fn create_public_client(
        &self,
        api_name: &str,
        new: &NewPublicClient,
        now: UnixTime,
    ) -> Result<PublicClient, StoreError> {
        check_name(&new.name)?;
        let redirect_uris = check_redirect_uris(&new.redirect_uris)?;

        let mut write = self.begin_config_write(now).await?;
        let api = api_by_name(&mut write.transaction, api_name).await?;
        let client = PublicClient {
            id: new_id(ids::PUBLIC_CLIENT),
            client_id: new_id(ids::PUBLIC_CLIENT_ID),
            name: new.name.clone(),
            redirect_uris,
            created_at: now,
            updated_at: now,
        };
        sqlx::query(
            "INSERT INTO public_clients (id, api_id, client_id, name, redirect_uris, \
             created_at, created_revision, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $6)",
        )
        .bind(&client.id)
        .bind(&api.id)
        .bind(&client.client_id)
        .bind(&client.name)
        .bind(uris_to_json(&client.redirect_uris))
        .bind(now)
        .bind(write.revision)
        .execute(&mut *write.transaction)
        .await?;
        write.commit_api_change(self, &api).await?;
        Ok(client)
    }

    /// The public clients of the API named `api_name`, in the order they were registered.
    pub async fn list_public_clients(
        &self,
        api_name: &str,
    ) -> Result<Vec<PublicClient>, StoreError> {
        let mut connection = self.pool().acquire().await?;
        let api = api_by_name(&mut connection, api_name).await?;
        client_rows(&mut connection, &api.id)
            .await?
            .into_iter()
            .map(client_from_row)
            .collect()
    }

    /// The public client `id` of the API named `api_name`.
    pub async fn public_client(
        &self,
        api_name: &str,
        id: &str,
    ) -> Result<PublicClient, StoreError> {
        let mut connection = self.pool().acquire().await?;
        let api = api_by_name(&mut connection, api_name).await?;
        client_from_row(client_row(&mut connection, &api, id).await?)
    }

    /// Renames a public client or replaces its redirect URIs; its `client_id` never changes,
    /// since installed apps carry it.
    pub async fn update_public_client(
        &self,
        api_name: &str,
        id: &str,
        changes: &PublicClientChanges,
        now: UnixTime,
    ) -> Result<PublicClient, StoreError> {
        if let Some(name) = &changes.name {
            check_name(name)?;
        }
        let redirect_uris = changes
            .redirect_uris
            .as_deref()
            .map(check_redirect_uris)
            .transpose()?;

        let mut write = self.begin_config_write(now).await?;
        let api = api_by_name(&mut write.transaction, api_name).await?;
        let mut client = client_from_row(client_row(&mut write.transaction, &api, id).await?)?;
        if let Some(name) = &changes.name {
            client.name.clone_from(name);
        }
        if let Some(redirect_uris) = redirect_uris {
            client.redirect_uris = redirect_uris;
        }
        client.updated_at = now;
        sqlx::query(
            "UPDATE public_clients SET name = $1, redirect_uris = $2, updated_at = $3 \
             WHERE id = $4",
        )
        .bind(&client.name)
        .bind(uris_to_json(&client.redirect_uris))
        .bind(now)
        .bind(id)
        .execute(&mut *write.transaction)
        .await?;
        write.commit_api_change(self, &api).await?;
        Ok(client)
    }

    /// Deletes a public client: from the next revision on, its data planes refuse its
    /// authorization requests.
    pub async fn delete_public_client(
        &self,
        api_name: &str,
        id: &str,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        let mut write = self.begin_config_write(now).await?;
        let api = api_by_name(&mut write.transaction, api_name).await?;
        let deleted = sqlx::query("DELETE FROM public_clients WHERE id = $1 AND api_id = $2")
            .bind(id)
            .bind(&api.id)
            .execute(&mut *write.transaction)
            .await?
            .rows_affected();
        if deleted == 0 {
            return Err(not_found(&api, id));
        }
        write.commit_api_change(self, &api).await?;
        Ok(())
    }
}

/// The public clients of API `api_id` as pushed to its data planes, in the order they were
/// registered.
pub(super) async fn client_configs(
    connection: &mut AnyConnection,
    api_id: &str,
) -> Result<Vec<ClientConfig>, StoreError> {
    client_rows(connection, api_id)
        .await?
        .into_iter()
        .map(|row| {
            let client = client_from_row(row)?;
            Ok(ClientConfig {
                client_id: client.client_id,
                name: client.name,
                redirect_uris: client.redirect_uris,
            })
        })
        .collect()
}

fn check_name(name: &str) -> Result<(), StoreError> {
    if name.trim().is_empty() {
        return Err(StoreError::InvalidField(
            "name must not be empty".to_owned(),
        ));
    }
    names::check_text("name", name, MAX_NAME_LEN).map_err(StoreError::InvalidField)
}

/// Checks a client's redirect URIs and returns them in the order given, each once.
fn check_redirect_uris(uris: &[String]) -> Result<Vec<String>, StoreError> {
    if uris.is_empty() || uris.len() > MAX_REDIRECT_URIS {
        return Err(StoreError::InvalidField(format!(
            "redirectUris must hold 1 to {MAX_REDIRECT_URIS} URIs"
        )));
    }
    let mut checked: Vec<String> = Vec::with_capacity(uris.len());
    for (index, uri) in uris.iter().enumerate() {
        check_redirect_uri(uri).map_err(|why| {
            let quoted: String = uri.chars().take(QUOTED_URI_LEN).collect();
            StoreError::InvalidField(format!("redirectUris[{index}] '{quoted}' {why}"))
        })?;
        if !checked.contains(uri) {
            checked.push(uri.clone());
        }
    }
    Ok(checked)
}

/// Checks one redirect URI against RFC 8252's three forms; the error completes the sentence
/// "redirectUris[i] '...' ...".
fn check_redirect_uri(uri: &str) -> Result<(), String> {
    if uri.len() > MAX_REDIRECT_URI_LEN {
        return Err(format!(
            "must be at most {MAX_REDIRECT_URI_LEN} characters long"
        ));
    }
    // RFC 3986 §2: characters a URI cannot hold unencoded. Letting them through would make the
    // exact comparison at sign-in depend on how a client library happens to encode them.
    if uri
        .chars()
        .any(|c| !c.is_ascii_graphic() || "\\\"<>^`{|}".contains(c))
    {
        return Err(
            "must be printable ASCII without spaces, backslashes or \"<>^`{|} (percent-encode \
             them)"
                .to_owned(),
        );
    }
    // RFC 6749 §3.1.2: the endpoint URI MUST NOT include a fragment component.
    if uri.contains('#') {
        return Err("must not have a fragment (#...)".to_owned());
    }
    // Redirect URIs are compared exactly (RFC 9700 §2.1); a pattern would let an attacker
    // pick a target that matches it.
    if uri.contains('*') {
        return Err("must not contain the wildcard '*': register each URI in full".to_owned());
    }

    let Some((scheme, rest)) = uri.split_once(':') else {
        return Err("is not an absolute URI: it has no scheme".to_owned());
    };
    if !is_scheme(scheme) {
        return Err("is not an absolute URI: its scheme is malformed".to_owned());
    }
    let authority = rest.strip_prefix("//").map(|after| {
        let end = after.find(['/', '?']).unwrap_or(after.len());
        &after[..end]
    });
    // A URI with user information reads as one host and goes to another
    // (`https://bank.example@evil.example/`).
    if authority.is_some_and(|authority| authority.contains('@')) {
        return Err("must not carry user information (user@host)".to_owned());
    }

    // Schemes are case-insensitive (RFC 3986 §3.1): `HTTP:` is `http:`.
    let scheme = scheme.to_ascii_lowercase();
    match scheme.as_str() {
        // RFC 8252 §7.2: a claimed HTTPS URI, the strongest form.
        "https" => match authority.map(host_of) {
            Some(Some(_)) => Ok(()),
            _ => Err("must be https://host[:port]/path with a valid host".to_owned()),
        },
        // RFC 8252 §7.3 and §8.3: plain HTTP only to the app's own loopback listener.
        "http" => match authority.map(host_of) {
            Some(Some(host)) if LOOPBACK_HOSTS.contains(&host.to_ascii_lowercase().as_str()) => {
                Ok(())
            }
            _ => Err(
                "may use http only with a loopback host (http://127.0.0.1[:port]/..., \
                 http://[::1][:port]/... or http://localhost[:port]/...); use https otherwise"
                    .to_owned(),
            ),
        },
        scheme if DANGEROUS_SCHEMES.contains(&scheme) => Err(format!(
            "uses the scheme {scheme}, which can never be a redirect target"
        )),
        // RFC 8252 §7.1: a private-use scheme is a reverse domain name the app's owner
        // controls, so that two apps do not claim the same one.
        scheme if !scheme.contains('.') => Err(format!(
            "uses the scheme {scheme}: a private-use scheme must be a reverse domain name with \
             a dot, such as com.example.app:/callback (RFC 8252 §7.1)"
        )),
        _ if rest.is_empty() => Err("has nothing after its scheme".to_owned()),
        _ => Ok(()),
    }
}

/// RFC 3986 §3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ).
fn is_scheme(scheme: &str) -> bool {
    scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
}

/// The host of an authority `host[:port]`, if both parts are well formed: DNS labels or an
/// IPv4 address, or a bracketed IPv6 address; a port of 1 to 65535.
fn host_of(authority: &str) -> Option<&str> {
    let (host, port) = if authority.starts_with('[') {
        let end = authority.find(']')?;
        let (host, after) = authority.split_at(end + 1);
        host[1..host.len() - 1].parse::<std::net::Ipv6Addr>().ok()?;
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':')?)),
        }
    } else {
        let (host, port) = match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        let labels_fine = !host.is_empty()
            && host.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
        // WHATWG URL parsers (the data plane's among them) read a host whose last label is a
        // number as an IPv4 address, and refuse it if it is not a valid one.
        let numeric = host
            .rsplit('.')
            .next()
            .is_some_and(|label| label.bytes().all(|b| b.is_ascii_digit()));
        if !labels_fine || (numeric && host.parse::<std::net::Ipv4Addr>().is_err()) {
            return None;
        }
        (host, port)
    };
    match port {
        Some(port) if !port.parse::<u16>().is_ok_and(|port| port > 0) => None,
        _ => Some(host),
    }
}

fn uris_to_json(uris: &[String]) -> String {
    serde_json::Value::from(uris).to_string()
}

fn client_from_row(row: ClientRow) -> Result<PublicClient, StoreError> {
    let (id, client_id, name, redirect_uris, created_at, updated_at) = row;
    let redirect_uris = serde_json::from_str(&redirect_uris)
        .map_err(|error| StoreError::Corrupt(format!("redirect URIs of client {id}: {error}")))?;
    Ok(PublicClient {
        id,
        client_id,
        name,
        redirect_uris,
        created_at,
        updated_at,
    })
}

fn not_found(api: &ApiRow, id: &str) -> StoreError {
    StoreError::NotFound(format!("API '{}' has no client '{id}'", api.name))
}

async fn client_row(
    connection: &mut AnyConnection,
    api: &ApiRow,
    id: &str,
) -> Result<ClientRow, StoreError> {
    let row: Option<ClientRow> =
        sqlx::query_as(&format!("{SELECT_CLIENT} WHERE id = $1 AND api_id = $2"))
            .bind(id)
            .bind(&api.id)
            .fetch_optional(connection)
            .await?;
    row.ok_or_else(|| not_found(api, id))
}

async fn client_rows(
    connection: &mut AnyConnection,
    api_id: &str,
) -> Result<Vec<ClientRow>, StoreError> {
    Ok(sqlx::query_as(&format!(
        "{SELECT_CLIENT} WHERE api_id = $1 ORDER BY created_revision"
    ))
    .bind(api_id)
    .fetch_all(connection)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(uri: &str) -> String {
        match check_redirect_uris(&[uri.to_owned()]).unwrap_err() {
            StoreError::InvalidField(message) => message,
            other => panic!("not a field error: {other:?}"),
        }
    }

    #[test]
    fn the_three_forms_of_rfc_8252_are_accepted() {
        for good in [
            "https://app.example.com/callback",
            "https://app.example.com:8443/oauth/callback?from=app",
            "https://app.example.com",
            "HTTPS://App.Example.com/cb",
            "https://[2001:db8::1]/cb",
            "https://192.0.2.10:8443/cb",
            "http://127.0.0.1/callback",
            "http://127.0.0.1:51004/callback",
            "http://[::1]:8080/cb",
            "http://localhost/cb",
            "http://localhost:3000/",
            "com.example.app:/callback",
            "com.example.app:/oauth2redirect/example-provider",
            "com.googleusercontent.apps.123:/oauth2redirect",
            "com.example.app://callback",
        ] {
            assert!(check_redirect_uri(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn every_refused_form_is_named_in_the_message() {
        let cases = [
            ("https://app.example.com/cb#frag", "fragment"),
            ("https://user@app.example.com/cb", "user information"),
            ("https://user:pw@app.example.com/cb", "user information"),
            ("com.example.app://user@cb", "user information"),
            ("https://*.example.com/cb", "wildcard"),
            ("https://app.example.com/*", "wildcard"),
            ("http://app.example.com/cb", "loopback"),
            ("http://127.0.0.2/cb", "loopback"),
            ("http://localhost.example.com/cb", "loopback"),
            ("http:/127.0.0.1/cb", "loopback"),
            ("javascript:alert(1)", "javascript"),
            ("JavaScript:alert(1)", "javascript"),
            ("data:text/html,hi", "data"),
            ("file:///etc/passwd", "file"),
            ("vbscript:msgbox", "vbscript"),
            ("myapp:/callback", "reverse domain"),
            ("ftp://files.example.com/cb", "reverse domain"),
            ("com.example.app:", "nothing after"),
            ("/callback", "no scheme"),
            ("1com.example:/cb", "scheme is malformed"),
            ("https://app.example.com/a b", "printable ASCII"),
            ("https://app.example.com\\@evil.example/", "printable ASCII"),
            ("https://app.exämple.com/cb", "printable ASCII"),
            ("https:///cb", "valid host"),
            ("https://app.example.com:0/cb", "valid host"),
            ("https://app.example.com:99999/cb", "valid host"),
            ("https://-app.example.com/cb", "valid host"),
            ("https://999.1.1.1/cb", "valid host"),
            ("https://example.123/cb", "valid host"),
            ("https:app.example.com/cb", "valid host"),
        ];
        for (uri, why) in cases {
            let message = refusal(uri);
            assert!(message.starts_with("redirectUris[0] "), "{uri}: {message}");
            assert!(message.contains(why), "{uri}: {message}");
        }
        let long = format!(
            "https://app.example.com/{}",
            "a".repeat(MAX_REDIRECT_URI_LEN)
        );
        assert!(refusal(&long).contains("at most 2000 characters"));
        let longest = format!("https://app.example.com/{}", "a".repeat(1976));
        assert_eq!(longest.len(), MAX_REDIRECT_URI_LEN);
        assert!(check_redirect_uri(&longest).is_ok());
    }

    #[test]
    fn one_to_twenty_uris_each_kept_once_in_order() {
        let refused = |uris: Vec<String>| match check_redirect_uris(&uris) {
            Err(StoreError::InvalidField(message)) => message,
            other => panic!("not refused: {other:?}"),
        };
        assert!(refused(vec![]).contains("1 to 20"));
        let many: Vec<String> = (0..21)
            .map(|n| format!("https://app.example.com/{n}"))
            .collect();
        assert!(refused(many.clone()).contains("1 to 20"));
        assert_eq!(check_redirect_uris(&many[..20]).unwrap().len(), 20);

        let uris = [
            "https://a.example/cb",
            "http://127.0.0.1/cb",
            "https://a.example/cb",
        ]
        .map(String::from);
        assert_eq!(
            check_redirect_uris(&uris).unwrap(),
            vec!["https://a.example/cb", "http://127.0.0.1/cb"]
        );
        // The index names the URI at fault among those sent.
        let uris = ["https://a.example/cb", "http://a.example/cb"].map(String::from);
        assert!(refused(uris.to_vec()).starts_with("redirectUris[1] "));
    }

    #[test]
    fn names_are_one_to_a_hundred_characters_without_controls() {
        assert!(check_name("Shop for iOS").is_ok());
        assert!(check_name(&"n".repeat(100)).is_ok());
        for bad in ["", "   ", "a\u{7}b"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_name(&"n".repeat(101)).is_err());
    }
}

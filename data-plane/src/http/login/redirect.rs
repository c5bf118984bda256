//! Where the browser may be sent once signed in: `?redirect=` is checked before the sign-in
//! starts and again when it ends, so the login page is never an open redirect.

use openidconnect::url::Url;

/// The `redirect` value to use: `default` when absent, the value itself when it is a path on
/// this host or a URL of this host's origin or of one of `allowed_origins`; `None` otherwise.
///
/// A path must start with exactly one `/`: `//evil.example` and `/\evil.example` are read by
/// browsers as another host. Control characters are refused everywhere, because browsers
/// drop some of them while parsing.
pub(crate) fn checked_redirect(
    requested: Option<&str>,
    own_origin: &str,
    allowed_origins: &[String],
    default: &str,
) -> Option<String> {
    let Some(requested) = requested.filter(|value| !value.is_empty()) else {
        return Some(default.to_owned());
    };
    if requested.chars().any(char::is_control) || requested.contains('\\') {
        return None;
    }
    if requested.starts_with('/') {
        return (!requested.starts_with("//")).then(|| requested.to_owned());
    }

    let url = Url::parse(requested).ok()?;
    if !matches!(url.scheme(), "https" | "http") || !url.username().is_empty() {
        return None;
    }
    if url.password().is_some() {
        return None;
    }
    let origin = url.origin().ascii_serialization();
    let listed = origin.eq_ignore_ascii_case(own_origin)
        || allowed_origins
            .iter()
            .any(|allowed| allowed.trim_end_matches('/').eq_ignore_ascii_case(&origin));
    listed.then(|| url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWN: &str = "https://shop.restapi.cloud";

    fn check(requested: &str) -> Option<String> {
        let allowed = ["https://app.example.com".to_owned()];
        checked_redirect(Some(requested), OWN, &allowed, "/")
    }

    #[test]
    fn paths_on_this_host_and_listed_origins_pass() {
        assert_eq!(
            checked_redirect(None, OWN, &[], "/shop/"),
            Some("/shop/".into())
        );
        assert_eq!(check("/orders?id=7#top"), Some("/orders?id=7#top".into()));
        assert_eq!(
            check("https://shop.restapi.cloud/a"),
            Some("https://shop.restapi.cloud/a".into())
        );
        assert_eq!(
            check("https://app.example.com/x"),
            Some("https://app.example.com/x".into())
        );
        assert_eq!(
            check("HTTPS://APP.EXAMPLE.COM"),
            Some("https://app.example.com/".into())
        );
    }

    #[test]
    fn other_hosts_and_tricks_are_refused() {
        for refused in [
            "//evil.example/x",
            "/\\evil.example",
            "https://evil.example/",
            "https://app.example.com.evil.example/",
            "https://app.example.com@evil.example/",
            "https://user@app.example.com/",
            "http://app.example.com/",
            "javascript:alert(1)",
            "data:text/html,hi",
            "evil.example",
            "/ok\n",
            "\t//evil.example",
        ] {
            assert_eq!(check(refused), None, "{refused:?}");
        }
    }
}

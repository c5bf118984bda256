//! The HTML of the hosted login: the page listing the providers, and the page that explains
//! why a sign-in did not work.
//!
//! No JavaScript, except the passkey script where passkeys are enabled. Every value from
//! configuration or from the request is escaped, although the control plane has validated the
//! branding already. The style sheet (and the script) is inline, allowed by a per-response
//! nonce in the Content-Security-Policy.

use std::fmt::Write as _;

use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use restapi_shared::push::Branding;

use super::passkey::{self, PasskeySection};

/// Buttons and links when the branding names no colour.
const DEFAULT_PRIMARY: &str = "#2557d6";
/// The page behind the card when the branding names no colour.
const DEFAULT_BACKGROUND: &str = "#f3f4f6";

/// What the page is about: the API as its users know it.
pub(crate) struct Look<'a> {
    /// The branding's display name, else the API's name.
    pub title: &'a str,
    pub branding: &'a Branding,
}

impl<'a> Look<'a> {
    pub(crate) fn new(api_name: &'a str, branding: &'a Branding) -> Self {
        Self {
            title: branding.display_name.as_deref().unwrap_or(api_name),
            branding,
        }
    }
}

/// One "Continue with …" button.
pub(crate) struct ProviderLink<'a> {
    pub display_name: &'a str,
    /// Where the button leads: `login/start/<id>?redirect=…`, already encoded.
    pub href: String,
}

/// The login page: one button per enabled provider and the passkey section, or a notice that
/// there is neither.
pub(crate) fn login_page(
    look: &Look<'_>,
    providers: &[ProviderLink<'_>],
    passkey: Option<&PasskeySection<'_>>,
) -> Response {
    let mut body = String::with_capacity(512);
    let _ = writeln!(body, "<h1>Sign in to {}</h1>", escape(look.title));
    let title = format!("Sign in to {}", look.title);
    if let Some(section) = passkey {
        body.push_str(&passkey::login_section(section));
        if !providers.is_empty() {
            // Shown with the passkey section, by its script.
            body.push_str("<p class=\"or\" id=\"passkey-or\" hidden>or</p>\n");
            push_provider_links(&mut body, providers);
        }
        return document_with_script(StatusCode::OK, look, &title, &body, passkey::SCRIPT);
    }
    if providers.is_empty() {
        body.push_str(
            "<p>No sign-in option is available for this application yet. \
             Contact its owner.</p>\n",
        );
    } else {
        push_provider_links(&mut body, providers);
    }
    document(StatusCode::OK, look, &title, &body)
}

fn push_provider_links(body: &mut String, providers: &[ProviderLink<'_>]) {
    body.push_str("<ul>\n");
    for provider in providers {
        let _ = writeln!(
            body,
            "<li><a class=\"button\" href=\"{}\">Continue with {}</a></li>",
            escape(&provider.href),
            escape(provider.display_name)
        );
    }
    body.push_str("</ul>\n");
}

/// A page saying why the sign-in stopped, with a way back to the login page.
pub(crate) fn error_page(
    status: StatusCode,
    look: &Look<'_>,
    message: &str,
    back: Option<&str>,
) -> Response {
    let mut body = String::with_capacity(256);
    body.push_str("<h1>Sign-in did not work</h1>\n");
    let _ = writeln!(body, "<p role=\"alert\">{}</p>", escape(message));
    if let Some(back) = back {
        let _ = writeln!(
            body,
            "<p><a class=\"link\" href=\"{}\">Back to sign-in</a></p>",
            escape(back)
        );
    }
    let title = format!("Sign-in did not work - {}", look.title);
    document(status, look, &title, &body)
}

fn document(status: StatusCode, look: &Look<'_>, title: &str, main: &str) -> Response {
    page_document(status, look, title, main, None)
}

/// A page that runs `script`, inline under the page's nonce; it may fetch from its own origin
/// only.
pub(crate) fn document_with_script(
    status: StatusCode,
    look: &Look<'_>,
    title: &str,
    main: &str,
    script: &str,
) -> Response {
    page_document(status, look, title, main, Some(script))
}

fn page_document(
    status: StatusCode,
    look: &Look<'_>,
    title: &str,
    main: &str,
    script: Option<&str>,
) -> Response {
    let nonce = super::state::random_token();
    let primary = colour(look.branding.primary_color.as_deref(), DEFAULT_PRIMARY);
    let background = colour(
        look.branding.background_color.as_deref(),
        DEFAULT_BACKGROUND,
    );
    let on_primary = readable_text_on(primary);
    let logo = match &look.branding.logo_url {
        Some(url) if url.starts_with("https://") => format!(
            "<img class=\"logo\" src=\"{}\" alt=\"{}\">\n",
            escape(url),
            escape(look.title)
        ),
        _ => String::new(),
    };
    let html = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n<title>{title}</title>\n\
         <style nonce=\"{nonce}\">{style}</style>\n</head>\n<body>\n<main>\n{logo}{main}\
         </main>\n{script}</body>\n</html>\n",
        title = escape(title),
        script = script
            .map(|script| format!("<script nonce=\"{nonce}\">{script}</script>\n"))
            .unwrap_or_default(),
        // `ONPRIMARY` first: it contains `PRIMARY`.
        style = STYLE
            .replace("ONPRIMARY", on_primary)
            .replace("PRIMARY", primary)
            .replace("BACKGROUND", background),
    );
    let scripts = match script {
        Some(_) => format!("script-src 'nonce-{nonce}'; connect-src 'self'; "),
        None => String::new(),
    };
    let csp = format!(
        "default-src 'none'; style-src 'nonce-{nonce}'; {scripts}img-src https:; \
         form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    );
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Ok(csp) = HeaderValue::from_str(&csp) {
        headers.insert(CONTENT_SECURITY_POLICY, csp);
    }
    insert_security_headers(headers);
    response
}

/// Headers every response of the login flow carries, pages and redirects alike.
pub(crate) fn insert_security_headers(headers: &mut axum::http::HeaderMap) {
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
}

/// Mobile first: a full-width card, centred and bounded on wider screens. Focus is always
/// visible; the button text is black or white, whichever contrasts more with the colour.
const STYLE: &str = "\
*{box-sizing:border-box}\
body{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;\
padding:1rem;background:BACKGROUND;color:#1a1a1a;\
font:1rem/1.5 system-ui,-apple-system,\"Segoe UI\",Roboto,sans-serif}\
main{width:100%;max-width:26rem;background:#fff;border-radius:.75rem;padding:1.5rem 1.25rem;\
box-shadow:0 1px 3px rgba(0,0,0,.2)}\
h1{font-size:1.375rem;margin:0 0 1.25rem;text-align:center}\
p{margin:0 0 1rem;text-align:center}\
.logo{display:block;max-width:100%;max-height:4rem;margin:0 auto 1rem}\
ul{list-style:none;margin:0;padding:0;display:grid;gap:.75rem}\
.button{display:block;min-height:2.75rem;padding:.625rem 1rem;border-radius:.5rem;\
background:PRIMARY;color:ONPRIMARY;text-align:center;text-decoration:none;font-weight:600}\
.button:hover{text-decoration:underline}\
.link{color:#1a1a1a;font-weight:600}\
button.button{width:100%;border:0;font:inherit;font-weight:600;cursor:pointer}\
button.link{background:none;border:0;font:inherit;cursor:pointer;text-decoration:underline}\
label{display:block;font-weight:600;margin:.5rem 0 .25rem}\
input{display:block;width:100%;min-height:2.75rem;padding:.5rem;margin:0 0 .75rem;\
border:1px solid #6b7280;border-radius:.5rem;font:inherit}\
h2{font-size:1.125rem;margin:1.5rem 0 .5rem}\
.passkey{display:flex;justify-content:space-between;gap:.5rem;align-items:center}\
.or{margin:1rem 0}\
a:focus-visible,button:focus-visible,input:focus-visible{outline:3px solid #1a1a1a;\
outline-offset:3px;box-shadow:0 0 0 3px #fff}\
@media (min-width:40rem){main{padding:2.5rem 2rem}h1{font-size:1.625rem}}";

/// `value` when it is a `#rrggbb` colour, else `default`: nothing else reaches the style.
fn colour<'a>(value: Option<&'a str>, default: &'a str) -> &'a str {
    match value {
        Some(value) if parse_hex_colour(value).is_some() => value,
        _ => default,
    }
}

fn parse_hex_colour(value: &str) -> Option<[u8; 3]> {
    let hex = value.strip_prefix('#')?;
    if hex.len() != 6 || !hex.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return None;
    }
    let channel = |index: usize| u8::from_str_radix(&hex[index..index + 2], 16).ok();
    Some([channel(0)?, channel(2)?, channel(4)?])
}

/// Black or white text on `background`, whichever has the higher WCAG 2.1 contrast ratio.
fn readable_text_on(background: &str) -> &'static str {
    let Some(rgb) = parse_hex_colour(background) else {
        return "#fff";
    };
    let linear = |channel: u8| {
        let value = f64::from(channel) / 255.0;
        if value <= 0.04045 {
            value / 12.92
        } else {
            ((value + 0.055) / 1.055).powf(2.4)
        }
    };
    let luminance = 0.2126 * linear(rgb[0]) + 0.7152 * linear(rgb[1]) + 0.0722 * linear(rgb[2]);
    let with_white = 1.05 / (luminance + 0.05);
    let with_black = (luminance + 0.05) / 0.05;
    if with_white >= with_black {
        "#fff"
    } else {
        "#000"
    }
}

/// Escapes text for HTML content and double-quoted attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn html(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn escapes_configuration_and_sets_a_strict_policy() {
        let branding = Branding {
            display_name: Some("<script>alert(1)</script>".into()),
            logo_url: Some("https://cdn.example/logo.png\"onerror=\"x".into()),
            primary_color: Some("red;}body{display:none".into()),
            background_color: Some("#ffffff".into()),
        };
        let look = Look::new("shop", &branding);
        let links = [ProviderLink {
            display_name: "Google & <Co>",
            href: "/login/start/idp_1?redirect=%2F".into(),
        }];
        let response = login_page(&look, &links, None);
        let csp = response.headers()[CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            csp.starts_with("default-src 'none'; style-src 'nonce-"),
            "{csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"));
        assert_eq!(response.headers()[X_FRAME_OPTIONS], "DENY");
        assert_eq!(response.headers()[CACHE_CONTROL], "no-store");
        assert_eq!(response.headers()[REFERRER_POLICY], "no-referrer");
        let page = html(response).await;
        assert!(!page.contains("<script>"));
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(page.contains("Continue with Google &amp; &lt;Co&gt;"));
        assert!(page.contains("logo.png&quot;onerror=&quot;x"));
        assert!(!page.contains("display:none"));
        assert!(page.contains(DEFAULT_PRIMARY));
        assert!(page.contains("<html lang=\"en\">"));
    }

    #[tokio::test]
    async fn says_so_when_no_provider_is_enabled() {
        let branding = Branding::default();
        let page = html(login_page(&Look::new("shop", &branding), &[], None)).await;
        assert!(page.contains("Sign in to shop"));
        assert!(page.contains("No sign-in option is available"));
    }

    #[test]
    fn button_text_contrasts_with_its_colour() {
        assert_eq!(readable_text_on("#2557d6"), "#fff");
        assert_eq!(readable_text_on("#ffd700"), "#000");
        assert_eq!(readable_text_on("#000000"), "#fff");
    }
}

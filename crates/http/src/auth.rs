//! Authentication and authorization, as orchestrator's `AuthenticationMethod`:
//!
//! - `""`: anyone may do anything;
//! - `basic`: one user (`HTTPAuthUser`/`HTTPAuthPassword`) may do anything;
//! - `multi`: as `basic`, plus a user `readonly`, with any password, who may only read;
//! - `proxy`: a proxy in front authenticates and names the user in `AuthUserHeader`; anyone
//!   may read, and `PowerAuthUsers` (`*` for every user the proxy names) may change things. A
//!   change without a user in the header is refused, whatever `PowerAuthUsers` says.
//!
//! Besides who asks, [`same_site`] checks where a change comes from: a browser's request from
//! another site (a form or a script on a page the operator happened to open) is refused.
//!
//! `ReadOnly: true` refuses every change, whatever the method. Passwords are compared in
//! constant time. The decision is a pure function ([`authorize`]), tested on its own.

use axum::extract::Request;
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use axum::Json;

use crate::AppState;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthMethod {
    None,
    Basic,
    Multi,
    Proxy,
}

impl AuthMethod {
    /// Parses `AuthenticationMethod`. orchestrator's `token` and `oauth` (a stub that refused
    /// everyone) are refused by name rather than silently treated as open.
    pub fn parse(name: &str) -> Result<AuthMethod, String> {
        match name {
            "" => Ok(AuthMethod::None),
            "basic" => Ok(AuthMethod::Basic),
            "multi" => Ok(AuthMethod::Multi),
            "proxy" => Ok(AuthMethod::Proxy),
            other => Err(format!(
                "AuthenticationMethod {other:?} is not supported by arbor: use \"\", \"basic\", \"multi\" or \"proxy\""
            )),
        }
    }
}

#[derive(Debug, Clone)]
pub struct AuthSettings {
    pub method: AuthMethod,
    pub user: String,
    pub password: String,
    /// `AuthUserHeader`.
    pub user_header: String,
    /// `PowerAuthUsers`.
    pub power_users: Vec<String>,
    /// `ReadOnly`.
    pub read_only: bool,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            method: AuthMethod::None,
            user: String::new(),
            password: String::new(),
            user_header: "X-Forwarded-User".into(),
            power_users: vec!["*".into()],
            read_only: false,
        }
    }
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No or wrong credentials: 401, with a Basic challenge.
    Unauthenticated(String),
    /// Known user, not allowed to do this: 403.
    Forbidden(String),
}

/// The user named in `readonly` mode of `multi`.
const READONLY_USER: &str = "readonly";

/// Decides whether a request with `headers` may use a route of class `access`.
pub fn authorize(
    settings: &AuthSettings,
    headers: &HeaderMap,
    access: Access,
) -> Result<(), Refusal> {
    if settings.read_only && access == Access::Write {
        return Err(Refusal::Forbidden(
            "arbor is configured ReadOnly: changes are refused".into(),
        ));
    }
    match settings.method {
        AuthMethod::None => Ok(()),
        AuthMethod::Basic | AuthMethod::Multi => {
            let (user, password) = basic_credentials(headers)
                .ok_or_else(|| Refusal::Unauthenticated("credentials required".into()))?;
            let is_configured_user = constant_time_eq(user.as_bytes(), settings.user.as_bytes())
                & constant_time_eq(password.as_bytes(), settings.password.as_bytes());
            if is_configured_user {
                return Ok(());
            }
            if settings.method == AuthMethod::Multi && user == READONLY_USER {
                return match access {
                    Access::Read => Ok(()),
                    Access::Write => Err(Refusal::Forbidden(
                        "user readonly may not change anything".into(),
                    )),
                };
            }
            Err(Refusal::Unauthenticated("wrong user or password".into()))
        }
        AuthMethod::Proxy => {
            if access == Access::Read {
                return Ok(());
            }
            let user = headers
                .get(settings.user_header.as_str())
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .trim();
            // `*` means any user the proxy names, not a request that bypassed the proxy.
            if user.is_empty() {
                return Err(Refusal::Unauthenticated(format!(
                    "no user in header {}: changes need a user named by the authenticating proxy",
                    settings.user_header
                )));
            }
            let allowed = settings
                .power_users
                .iter()
                .any(|power| power == "*" || power == user);
            if allowed {
                Ok(())
            } else {
                Err(Refusal::Forbidden(format!(
                    "user {user} may not change anything"
                )))
            }
        }
    }
}

/// Whether a mutating request may come from where the browser says it comes from: refused
/// when `Sec-Fetch-Site` says another site, or when `Origin` (else `Referer`) names a host
/// other than the one the request was sent to. Requests without these headers (curl,
/// orchestrator-client, other programs) are not browsers' and pass.
pub fn same_site(headers: &HeaderMap) -> Result<(), Refusal> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text("sec-fetch-site") {
        if site == "cross-site" || site == "same-site" {
            return Err(Refusal::Forbidden(format!(
                "a change requested from another site (Sec-Fetch-Site: {site}) is refused"
            )));
        }
    }
    let Some(host) = text("host").map(str::to_ascii_lowercase) else {
        return Ok(());
    };
    let from = text("origin")
        .filter(|origin| *origin != "null")
        .or_else(|| text("referer"));
    let Some(from) = from else {
        // An opaque origin ("null": a sandboxed page, a file) is never this site.
        return match text("origin") {
            Some(_) => Err(Refusal::Forbidden(
                "a change requested from an opaque origin is refused".into(),
            )),
            None => Ok(()),
        };
    };
    let authority = from
        .split_once("://")
        .map(|(_, rest)| rest)
        .unwrap_or(from)
        .split(['/', '?', '#'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    if authority == host {
        Ok(())
    } else {
        Err(Refusal::Forbidden(format!(
            "a change requested from another site ({from}) is refused"
        )))
    }
}

/// The user a request comes from, as far as the authentication method tells.
pub fn user_name(settings: &AuthSettings, headers: &HeaderMap) -> Option<String> {
    match settings.method {
        AuthMethod::Basic | AuthMethod::Multi => basic_credentials(headers).map(|(user, _)| user),
        AuthMethod::Proxy => headers
            .get(settings.user_header.as_str())
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        AuthMethod::None => None,
    }
}

/// Wraps a route's handlers with the check for its access class.
pub(crate) fn protect(
    method_router: MethodRouter<AppState>,
    state: &AppState,
    access: Access,
) -> MethodRouter<AppState> {
    let state = state.clone();
    method_router.route_layer(axum::middleware::from_fn(
        move |request: Request, next: Next| {
            let state = state.clone();
            async move {
                let allowed =
                    authorize(&state.auth, request.headers(), access).and_then(|()| match access {
                        Access::Write => same_site(request.headers()),
                        Access::Read => Ok(()),
                    });
                match allowed {
                    Ok(()) => next.run(request).await,
                    Err(refusal) => refusal_response(refusal),
                }
            }
        },
    ))
}

fn refusal_response(refusal: Refusal) -> Response {
    let (status, message) = match refusal {
        Refusal::Unauthenticated(message) => (StatusCode::UNAUTHORIZED, message),
        Refusal::Forbidden(message) => (StatusCode::FORBIDDEN, message),
    };
    let mut response = (status, Json(arbor_api::ApiResponse::error(message))).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Basic realm=\"arbor\""),
        );
    }
    response
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    let decoded = String::from_utf8(base64_decode(encoded.trim())?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// Compares without an early exit, so the time taken does not tell how much of a secret
/// matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut difference = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        difference |= usize::from(x ^ y);
    }
    difference == 0
}

/// Standard base64 with padding, enough for an `Authorization: Basic` header.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    fn value(c: u8) -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some(u32::from(c - b'A')),
            b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    for chunk in bytes.chunks(4) {
        let padding = chunk.iter().rev().take_while(|c| **c == b'=').count();
        if padding > 2 {
            return None;
        }
        let mut group = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            let v = if i >= 4 - padding { 0 } else { value(*c)? };
            group = (group << 6) | v;
        }
        let decoded = [(group >> 16) as u8, (group >> 8) as u8, group as u8];
        out.extend_from_slice(&decoded[..3 - padding]);
    }
    Some(out)
}

/// Encodes `user:password` for an `Authorization: Basic` header (used by tests and clients).
pub fn basic_header_value(user: &str, password: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let input = format!("{user}:{password}");
    let mut out = String::from("Basic ");
    for chunk in input.as_bytes().chunks(3) {
        let group = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((group >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Whether a route only reads or changes something. Read routes answer GET; write routes
/// answer GET (as orchestrator's do, for `orchestrator-client`) and POST.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(
                header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        map
    }

    fn settings(method: AuthMethod) -> AuthSettings {
        AuthSettings {
            method,
            user: "admin".into(),
            password: "s3cret".into(),
            ..AuthSettings::default()
        }
    }

    #[test]
    fn base64_round_trips() {
        for (user, password) in [
            ("admin", "s3cret"),
            ("a", ""),
            ("readonly", "xyz:with:colons"),
        ] {
            let header = basic_header_value(user, password);
            let decoded = basic_credentials(&headers(&[("authorization", &header)])).unwrap();
            assert_eq!(decoded, (user.to_string(), password.to_string()));
        }
        assert_eq!(
            basic_header_value("Aladdin", "open sesame"),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert!(base64_decode("abc").is_none());
        assert!(base64_decode("a*==").is_none());
    }

    #[test]
    fn each_method_decides_as_orchestrator_does() {
        use Access::{Read, Write};
        let admin = basic_header_value("admin", "s3cret");
        let wrong = basic_header_value("admin", "guess");
        let readonly = basic_header_value("readonly", "anything");
        let unauth = |m: &str| Err(Refusal::Unauthenticated(m.to_string()));
        let forbid = |m: &str| Err(Refusal::Forbidden(m.to_string()));
        type Case<'a> = (
            AuthMethod,
            Vec<(&'a str, &'a str)>,
            Access,
            Result<(), Refusal>,
        );
        let cases: Vec<Case> = vec![
            (AuthMethod::None, vec![], Write, Ok(())),
            (
                AuthMethod::Basic,
                vec![],
                Read,
                unauth("credentials required"),
            ),
            (
                AuthMethod::Basic,
                vec![("authorization", &admin)],
                Write,
                Ok(()),
            ),
            (
                AuthMethod::Basic,
                vec![("authorization", &wrong)],
                Read,
                unauth("wrong user or password"),
            ),
            (
                AuthMethod::Basic,
                vec![("authorization", &readonly)],
                Read,
                unauth("wrong user or password"),
            ),
            (
                AuthMethod::Multi,
                vec![("authorization", &readonly)],
                Read,
                Ok(()),
            ),
            (
                AuthMethod::Multi,
                vec![("authorization", &readonly)],
                Write,
                forbid("user readonly may not change anything"),
            ),
            (
                AuthMethod::Multi,
                vec![("authorization", &admin)],
                Write,
                Ok(()),
            ),
            (AuthMethod::Proxy, vec![], Read, Ok(())),
        ];
        for (i, (method, pairs, access, expected)) in cases.into_iter().enumerate() {
            assert_eq!(
                authorize(&settings(method), &headers(&pairs), access),
                expected,
                "case {i}"
            );
        }
    }

    #[test]
    fn proxy_mode_lets_power_users_write() {
        let mut proxy = settings(AuthMethod::Proxy);
        proxy.power_users = vec!["alice".into()];
        let alice = headers(&[("x-forwarded-user", "alice")]);
        let bob = headers(&[("x-forwarded-user", "bob")]);
        assert_eq!(authorize(&proxy, &alice, Access::Write), Ok(()));
        assert!(matches!(
            authorize(&proxy, &bob, Access::Write),
            Err(Refusal::Forbidden(_))
        ));
        assert!(matches!(
            authorize(&proxy, &HeaderMap::new(), Access::Write),
            Err(Refusal::Unauthenticated(_))
        ));
        proxy.power_users = vec!["*".into()];
        assert_eq!(authorize(&proxy, &bob, Access::Write), Ok(()));
        // `*` is every user the proxy names, not a request that came around the proxy.
        assert!(matches!(
            authorize(&proxy, &HeaderMap::new(), Access::Write),
            Err(Refusal::Unauthenticated(_))
        ));
        assert_eq!(authorize(&proxy, &HeaderMap::new(), Access::Read), Ok(()));
    }

    #[test]
    fn changes_from_another_site_are_refused_and_programs_pass() {
        let here = [("host", "arbor.example:3000")];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut pairs = here.to_vec();
            pairs.extend_from_slice(extra);
            same_site(&headers(&pairs))
        };
        // curl, orchestrator-client: no browser headers.
        assert_eq!(with(&[]), Ok(()));
        // The web UI, same origin.
        assert_eq!(with(&[("origin", "http://arbor.example:3000")]), Ok(()));
        assert_eq!(with(&[("sec-fetch-site", "same-origin")]), Ok(()));
        assert_eq!(
            with(&[("referer", "https://arbor.example:3000/web/clusters")]),
            Ok(())
        );
        // Another site's page.
        for refused in [
            with(&[("origin", "https://evil.example")]),
            with(&[("origin", "http://arbor.example:3001")]),
            with(&[("origin", "null")]),
            with(&[("referer", "https://evil.example/form.html")]),
            with(&[("sec-fetch-site", "cross-site")]),
            with(&[
                ("sec-fetch-site", "same-site"),
                ("origin", "http://arbor.example:3000"),
            ]),
        ] {
            assert!(matches!(refused, Err(Refusal::Forbidden(_))), "{refused:?}");
        }
    }

    #[test]
    fn read_only_refuses_every_change_whatever_the_method() {
        let mut open = settings(AuthMethod::None);
        open.read_only = true;
        assert_eq!(authorize(&open, &HeaderMap::new(), Access::Read), Ok(()));
        assert!(matches!(
            authorize(&open, &HeaderMap::new(), Access::Write),
            Err(Refusal::Forbidden(_))
        ));
    }

    #[test]
    fn constant_time_comparison_is_still_a_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
        assert!(constant_time_eq(b"", b""));
    }
}

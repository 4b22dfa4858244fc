//! Path parameters, validated in one place: every route's `{name}` goes through
//! [`PathParams`], which checks each by its name before a handler sees it.
//!
//! - `host`, `belowHost`: a host name or IP address (letters, digits, `.-_:`, at most 255);
//!   an IPv6 address is accepted bracketed (`[::1]`) or bare (`::1`) and kept bare.
//! - `port`, `belowPort`: 1 to 65535.
//! - `hint`: a cluster name, alias or member, printable, at most 512.
//! - `duration`: `30s`, `10m`, `2h`, `1d` or seconds, at most [`LONGEST_DURATION`].
//! - anything else (`owner`, `reason`, `duration`, `uid`, ...): printable, at most
//!   [`MAX_TEXT`].
//!
//! Tag names and values (from the query) are checked by [`tag_name`] and [`tag_value`].

use std::collections::HashMap;
use std::time::Duration;

use arbor_topology::InstanceKey;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;

use crate::ApiError;

/// The longest free-text parameter (a downtime reason, an owner, an acknowledgement).
pub(crate) const MAX_TEXT: usize = 1024;
const MAX_HOST: usize = 255;
const MAX_HINT: usize = 512;
const MAX_TAG_NAME: usize = 255;

/// Every path parameter by name, each valid for what its name says.
pub(crate) struct PathParams(pub HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for PathParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        if let Some(params) = parts.extensions.get::<Validated>() {
            return Ok(PathParams(params.0.clone()));
        }
        let Path(mut params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::BadRequest(e.body_text()))?;
        for (name, value) in params.iter_mut() {
            *value = validate(name, value)?;
        }
        parts.extensions.insert(Validated(params.clone()));
        Ok(PathParams(params))
    }
}

/// The parameters of a request once validated, so that several extractors read them once.
#[derive(Clone)]
struct Validated(HashMap<String, String>);

/// `{host}/{port}` in a path.
pub(crate) struct KeyPath(pub InstanceKey);

impl<S: Send + Sync> FromRequestParts<S> for KeyPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let PathParams(params) = PathParams::from_request_parts(parts, state).await?;
        key_of(&params, "host", "port")?
            .map(KeyPath)
            .ok_or_else(|| ApiError::BadRequest("missing host or port".into()))
    }
}

/// `{hint}` in a path: a cluster name, alias, or member `host[:port]`.
pub(crate) struct HintPath(pub String);

impl<S: Send + Sync> FromRequestParts<S> for HintPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let PathParams(params) = PathParams::from_request_parts(parts, state).await?;
        params
            .get("hint")
            .cloned()
            .map(HintPath)
            .ok_or_else(|| ApiError::BadRequest("missing cluster hint".into()))
    }
}

/// The instance named by two validated parameters (`host`/`port`, `belowHost`/`belowPort`),
/// if both are present.
pub(crate) fn key_of(
    params: &HashMap<String, String>,
    host: &str,
    port: &str,
) -> Result<Option<InstanceKey>, ApiError> {
    match (params.get(host), params.get(port)) {
        (Some(host), Some(port)) => {
            let port = port.parse().map_err(|_| bad_port(port))?;
            Ok(Some(InstanceKey::new(host, port)))
        }
        _ => Ok(None),
    }
}

/// The JSON schema of a path parameter, as [`validate`] checks it (for the OpenAPI document).
pub(crate) fn schema(name: &str) -> serde_json::Value {
    use serde_json::json;
    match name {
        "host" | "belowHost" | "candidateHost" => {
            json!({"type": "string", "minLength": 1, "maxLength": MAX_HOST + 2})
        }
        "port" | "belowPort" | "candidatePort" => {
            json!({"type": "integer", "minimum": 1, "maximum": 65535})
        }
        "hint" => json!({"type": "string", "minLength": 1, "maxLength": MAX_HINT}),
        "duration" => json!({"type": "string", "pattern": "^[0-9]+[smhd]?$"}),
        "id" => json!({"type": "integer", "minimum": 1}),
        _ => json!({"type": "string", "maxLength": MAX_TEXT}),
    }
}

fn validate(name: &str, value: &str) -> Result<String, ApiError> {
    match name {
        "host" | "belowHost" | "candidateHost" => host(value),
        "port" | "belowPort" | "candidatePort" => port(value).map(|p| p.to_string()),
        "hint" => {
            if value.trim().is_empty() || value.len() > MAX_HINT || has_control(value) {
                return Err(ApiError::BadRequest(format!(
                    "invalid cluster hint: expected a cluster name, alias or member, at most \
                     {MAX_HINT} printable characters"
                )));
            }
            Ok(value.to_string())
        }
        "duration" => parse_duration(value).map(|_| value.to_string()),
        "id" => value
            .parse::<u64>()
            .ok()
            .filter(|id| *id > 0)
            .map(|id| id.to_string())
            .ok_or_else(|| {
                ApiError::BadRequest(format!("invalid id {value:?}: expected a number"))
            }),
        _ => text(name, value, MAX_TEXT),
    }
}

/// The longest duration arbor takes (a downtime, for instance): ten years. Longer ones are
/// refused rather than wrapped into a time in the past, which would silently mean "not
/// downtimed".
pub(crate) const LONGEST_DURATION: Duration = Duration::from_secs(10 * 365 * 86_400);

/// `10m`, `2h`, `30s`, `1d`, or plain seconds; at most [`LONGEST_DURATION`].
pub(crate) fn parse_duration(text: &str) -> Result<Duration, ApiError> {
    let text = text.trim();
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let too_long = || {
        ApiError::BadRequest(format!(
            "duration {text:?} is too long: at most {}d",
            LONGEST_DURATION.as_secs() / 86_400
        ))
    };
    let value: u64 = match number.parse() {
        Ok(value) => value,
        // All digits but too many of them.
        Err(_) if !number.is_empty() => return Err(too_long()),
        Err(_) => {
            return Err(ApiError::BadRequest(format!(
                "invalid duration {text:?}: expected e.g. 30s, 10m, 2h, 1d"
            )))
        }
    };
    let unit_seconds = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            return Err(ApiError::BadRequest(format!(
                "invalid duration unit in {text:?}: use s, m, h or d"
            )))
        }
    };
    let seconds = value.checked_mul(unit_seconds).ok_or_else(too_long)?;
    if seconds > LONGEST_DURATION.as_secs() {
        return Err(too_long());
    }
    Ok(Duration::from_secs(seconds))
}

/// A host name or IP address; `[::1]` becomes `::1`.
pub(crate) fn host(value: &str) -> Result<String, ApiError> {
    let bare = value
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .unwrap_or(value);
    let valid = !bare.is_empty()
        && bare.len() <= MAX_HOST
        && bare
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'))
        && (bare.contains(':') == bare.parse::<std::net::Ipv6Addr>().is_ok());
    if !valid {
        return Err(ApiError::BadRequest(format!(
            "invalid host {:?}: expected a host name or IP address",
            value.chars().take(64).collect::<String>()
        )));
    }
    Ok(bare.to_string())
}

pub(crate) fn port(value: &str) -> Result<u16, ApiError> {
    value
        .parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| bad_port(value))
}

fn bad_port(value: &str) -> ApiError {
    ApiError::BadRequest(format!(
        "invalid port {:?}: expected a number from 1 to 65535",
        value.chars().take(16).collect::<String>()
    ))
}

/// Free text: printable, at most `max` bytes.
pub(crate) fn text(name: &str, value: &str, max: usize) -> Result<String, ApiError> {
    if value.len() > max || has_control(value) {
        return Err(ApiError::BadRequest(format!(
            "invalid {name}: expected at most {max} printable characters"
        )));
    }
    Ok(value.to_string())
}

/// A tag's name: non-empty, printable, without `=`, at most 255.
pub(crate) fn tag_name(value: &str) -> Result<String, ApiError> {
    let name = value.trim();
    if name.is_empty() || name.len() > MAX_TAG_NAME || has_control(name) || name.contains('=') {
        return Err(ApiError::BadRequest(format!(
            "invalid tag name {:?}: expected 1 to {MAX_TAG_NAME} printable characters, no '='",
            name.chars().take(64).collect::<String>()
        )));
    }
    Ok(name.to_string())
}

/// A tag's value: printable, at most [`MAX_TEXT`].
pub(crate) fn tag_value(value: &str) -> Result<String, ApiError> {
    text("tag value", value, MAX_TEXT)
}

fn has_control(value: &str) -> bool {
    value.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_parameter_is_checked_by_its_name() {
        assert_eq!(validate("host", "[::1]").unwrap(), "::1");
        assert_eq!(validate("host", "::1").unwrap(), "::1");
        assert_eq!(validate("host", "db-1.example").unwrap(), "db-1.example");
        assert!(validate("host", "db one").is_err());
        assert!(
            validate("host", "db:1").is_err(),
            "a colon only in an IPv6 address"
        );
        assert!(validate("host", "").is_err());
        assert_eq!(validate("port", "3306").unwrap(), "3306");
        assert_eq!(validate("belowPort", "65535").unwrap(), "65535");
        for bad in ["0", "65536", "-1", "x", ""] {
            assert!(validate("port", bad).is_err(), "{bad}");
        }
        assert!(validate("hint", " ").is_err());
        assert!(validate("reason", &"r".repeat(MAX_TEXT + 1)).is_err());
        assert!(validate("owner", "ops\u{7}").is_err());
        assert_eq!(validate("reason", "disk swap").unwrap(), "disk swap");
        assert!(tag_name("").is_err());
        assert!(tag_name("a=b").is_err());
        assert!(tag_name(&"n".repeat(256)).is_err());
        assert_eq!(tag_name(" role ").unwrap(), "role");
        assert!(tag_value("line\nbreak").is_err());
    }

    #[test]
    fn durations_parse_as_orchestrator_client_passes_them() {
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_duration("1d").unwrap(), Duration::from_secs(86_400));
        assert_eq!(parse_duration("45").unwrap(), Duration::from_secs(45));
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("5y").is_err());
        // Overflow and absurd lengths are refused, never wrapped into the past.
        for huge in [
            "99999999999999h",
            "18446744073709551615",
            "18446744073709551616",
            "3651d",
        ] {
            assert!(
                matches!(parse_duration(huge), Err(ApiError::BadRequest(ref m)) if m.contains("too long")),
                "{huge}"
            );
        }
        assert_eq!(parse_duration("3650d").unwrap(), LONGEST_DURATION);
    }
}

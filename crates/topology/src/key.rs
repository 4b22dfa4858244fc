use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The identity of a server: the host name (or IP) arbor reaches it at, and its port.
///
/// Hosts are compared as written (case-insensitively, since DNS names are); arbor does not
/// resolve names, so `127.0.0.1` and `localhost` are two keys. Replicas report themselves
/// through `report_host`, which is why test topologies set it to the address arbor dials.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct InstanceKey {
    pub hostname: String,
    pub port: u16,
}

/// Why a `host:port` string is not a valid [`InstanceKey`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseKeyError {
    #[error("empty host in {0:?}")]
    EmptyHost(String),
    #[error("invalid port in {input:?}: expected a number from 1 to 65535")]
    InvalidPort { input: String },
}

impl InstanceKey {
    pub fn new(hostname: impl Into<String>, port: u16) -> InstanceKey {
        InstanceKey {
            hostname: hostname.into().to_ascii_lowercase(),
            port,
        }
    }

    /// Parses `host:port`, `host` (with `default_port`) or `[v6addr]:port`.
    pub fn parse_with_default_port(
        input: &str,
        default_port: u16,
    ) -> Result<InstanceKey, ParseKeyError> {
        let input = input.trim();
        let (host, port) = if let Some(rest) = input.strip_prefix('[') {
            // Bracketed IPv6: [::1]:3306 or [::1]
            match rest.split_once(']') {
                Some((host, "")) => (host, None),
                Some((host, tail)) => match tail.strip_prefix(':') {
                    Some(port) => (host, Some(port)),
                    None => {
                        return Err(ParseKeyError::InvalidPort {
                            input: input.to_string(),
                        })
                    }
                },
                None => (rest, None),
            }
        } else if input.matches(':').count() > 1 {
            // A bare IPv6 address has no port.
            (input, None)
        } else {
            match input.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (input, None),
            }
        };
        if host.is_empty() {
            return Err(ParseKeyError::EmptyHost(input.to_string()));
        }
        let port = match port {
            None => default_port,
            Some(port) => match port.parse::<u16>() {
                Ok(port) if port > 0 => port,
                _ => {
                    return Err(ParseKeyError::InvalidPort {
                        input: input.to_string(),
                    })
                }
            },
        };
        Ok(InstanceKey::new(host, port))
    }
}

impl FromStr for InstanceKey {
    type Err = ParseKeyError;

    /// Parses `host:port`; a missing port means 3306, as orchestrator-client assumes.
    fn from_str(s: &str) -> Result<InstanceKey, ParseKeyError> {
        InstanceKey::parse_with_default_port(s, 3306)
    }
}

impl fmt::Display for InstanceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.hostname.contains(':') {
            write!(f, "[{}]:{}", self.hostname, self.port)
        } else {
            write!(f, "{}:{}", self.hostname, self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_forms_operators_type() {
        let cases = [
            ("db1:3307", Some(("db1", 3307))),
            ("db1", Some(("db1", 3306))),
            ("DB1.Example.com:3306", Some(("db1.example.com", 3306))),
            ("127.0.0.1:23306", Some(("127.0.0.1", 23306))),
            ("[::1]:3310", Some(("::1", 3310))),
            ("::1", Some(("::1", 3306))),
            (" db2:1 ", Some(("db2", 1))),
            ("", None),
            (":3306", None),
            ("db1:0", None),
            ("db1:65536", None),
            ("db1:abc", None),
            ("db1:", None),
        ];
        for (input, expected) in cases {
            let got = input.parse::<InstanceKey>().ok();
            let expected = expected.map(|(h, p)| InstanceKey::new(h, p));
            assert_eq!(got, expected, "input {input:?}");
        }
    }

    #[test]
    fn displays_as_host_port_and_round_trips() {
        for text in ["db1:3306", "[::1]:3310", "10.0.0.2:23306"] {
            let key: InstanceKey = text.parse().unwrap();
            assert_eq!(key.to_string(), text);
            assert_eq!(key.to_string().parse::<InstanceKey>().unwrap(), key);
        }
    }
}

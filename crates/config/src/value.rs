//! Reading one JSON value into a typed config field, with messages that say what was expected
//! and what was found, plus the shared value checks.

use std::collections::BTreeMap;

use serde_json::Value;

/// A type a config key can hold.
pub(crate) trait ConfigValue: Sized {
    /// What the key holds, for the configuration reference.
    const KIND: &'static str;
    fn from_json(value: &Value) -> Result<Self, String>;
    /// The value as the configuration file writes it.
    fn to_json(&self) -> Value;
}

pub(crate) fn describe_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn found(value: &Value) -> String {
    let text = value.to_string();
    let shown = if text.len() > 40 {
        format!("{}...", &text[..text.floor_char_boundary(40)])
    } else {
        text
    };
    format!("{} ({shown})", describe_kind(value))
}

impl ConfigValue for bool {
    const KIND: &'static str = "boolean";

    fn to_json(&self) -> Value {
        Value::Bool(*self)
    }

    fn from_json(value: &Value) -> Result<bool, String> {
        value
            .as_bool()
            .ok_or_else(|| format!("expected true or false, found {}", found(value)))
    }
}

impl ConfigValue for String {
    const KIND: &'static str = "string";

    fn to_json(&self) -> Value {
        Value::String(self.clone())
    }

    fn from_json(value: &Value) -> Result<String, String> {
        value
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("expected a string, found {}", found(value)))
    }
}

impl ConfigValue for u64 {
    const KIND: &'static str = "whole number";

    fn to_json(&self) -> Value {
        Value::from(*self)
    }

    fn from_json(value: &Value) -> Result<u64, String> {
        value.as_u64().ok_or_else(|| {
            format!(
                "expected a whole number of 0 or more, found {}",
                found(value)
            )
        })
    }
}

impl ConfigValue for u16 {
    const KIND: &'static str = "port";

    fn to_json(&self) -> Value {
        Value::from(*self)
    }

    fn from_json(value: &Value) -> Result<u16, String> {
        match value.as_u64() {
            Some(n) if n <= u64::from(u16::MAX) => Ok(n as u16),
            Some(n) => Err(format!("{n} is out of range: a port is from 1 to 65535")),
            None => Err(format!("expected a port number, found {}", found(value))),
        }
    }
}

impl ConfigValue for Vec<String> {
    const KIND: &'static str = "list of strings";

    fn to_json(&self) -> Value {
        Value::from(self.clone())
    }

    fn from_json(value: &Value) -> Result<Vec<String>, String> {
        let items = value
            .as_array()
            .ok_or_else(|| format!("expected an array of strings, found {}", found(value)))?;
        items
            .iter()
            .enumerate()
            .map(|(index, item)| {
                item.as_str().map(str::to_string).ok_or_else(|| {
                    format!(
                        "expected an array of strings, but entry {index} is {}",
                        found(item)
                    )
                })
            })
            .collect()
    }
}

impl ConfigValue for BTreeMap<String, String> {
    const KIND: &'static str = "object of strings";

    fn to_json(&self) -> Value {
        Value::Object(
            self.iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect(),
        )
    }

    fn from_json(value: &Value) -> Result<BTreeMap<String, String>, String> {
        let object = value.as_object().ok_or_else(|| {
            format!(
                "expected an object of string values, found {}",
                found(value)
            )
        })?;
        object
            .iter()
            .map(|(key, item)| {
                item.as_str()
                    .map(|s| (key.clone(), s.to_string()))
                    .ok_or_else(|| {
                        format!("value of {key:?} must be a string, found {}", found(item))
                    })
            })
            .collect()
    }
}

pub(crate) fn nonzero_port(port: u16) -> Result<(), String> {
    if port == 0 {
        Err("0 is out of range: a port is from 1 to 65535".into())
    } else {
        Ok(())
    }
}

pub(crate) fn at_least_one(n: u64) -> Result<(), String> {
    if n == 0 {
        Err("must be at least 1".into())
    } else {
        Ok(())
    }
}

/// Expands `${NAME}` from the environment; an unset variable is an error rather than an empty
/// password, which would only fail later with a confusing access-denied.
pub(crate) fn expand_env(
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return Err("unterminated ${ in value".into());
        };
        let name = &after[..end];
        if name.is_empty() {
            return Err("empty ${} in value".into());
        }
        match lookup(name) {
            Some(value) => out.push_str(&value),
            None => return Err(format!("environment variable {name} is not set")),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// `HTTPAdvertise` must be `scheme://host:port` with no path, as orchestrator requires, since
/// followers build the leader's URL from it.
pub(crate) fn check_http_advertise(url: &str) -> Result<(), String> {
    let (scheme, rest) = url.split_once("://").ok_or_else(|| {
        format!("{url:?} has no scheme: expected http://host:port or https://host:port")
    })?;
    if scheme != "http" && scheme != "https" {
        return Err(format!(
            "{url:?}: scheme must be http or https, not {scheme:?}"
        ));
    }
    let authority = rest.trim_end_matches('/');
    if authority.contains('/') {
        return Err(format!(
            "{url:?} must not have a path: expected {scheme}://host:port"
        ));
    }
    let (host, port) = authority
        .rsplit_once(':')
        .ok_or_else(|| format!("{url:?} has no port: expected {scheme}://host:port"))?;
    if host.is_empty() || host == "[" {
        return Err(format!(
            "{url:?} has no host: expected {scheme}://host:port"
        ));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(()),
        _ => Err(format!("{url:?} has an invalid port {port:?}")),
    }
}

/// A Raft address: `host` or `host:port` (the port defaulting to `DefaultRaftPort`).
pub(crate) fn check_host_port(address: &str, default_port: u16) -> Result<(), String> {
    arbor_topology::InstanceKey::parse_with_default_port(address, default_port)
        .map(|_| ())
        .map_err(|e| format!("{address:?} is not host or host:port ({e})"))
}

/// An address range: `10.0.0.0/8`, `fd00::/8`, or one address (`127.0.0.1`, `::1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange {
    pub network: std::net::IpAddr,
    pub prefix: u8,
}

impl IpRange {
    pub fn parse(text: &str) -> Result<IpRange, String> {
        let text = text.trim();
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let network: std::net::IpAddr = address
            .trim_matches(|c| c == '[' || c == ']')
            .parse()
            .map_err(|_| format!("{text:?} is not an IP address or a CIDR range"))?;
        let bits = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => bits,
            Some(prefix) => match prefix.parse::<u8>() {
                Ok(p) if p <= bits => p,
                _ => return Err(format!("{text:?}: the prefix must be 0 to {bits}")),
            },
        };
        Ok(IpRange { network, prefix })
    }

    pub fn contains(&self, address: std::net::IpAddr) -> bool {
        use std::net::IpAddr;
        // An IPv4 client seen on an IPv6 socket is ::ffff:a.b.c.d.
        let address = match address {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
            v4 => v4,
        };
        let mask = |bits: u32, width: u32| -> u128 {
            if bits == 0 {
                0
            } else {
                (u128::MAX << (width - bits)) & (u128::MAX >> (128 - width))
            }
        };
        match (self.network, address) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let m = mask(self.prefix.into(), 32);
                u128::from(u32::from(net)) & m == u128::from(u32::from(ip)) & m
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let m = mask(self.prefix.into(), 128);
                u128::from(net) & m == u128::from(ip) & m
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod ip_range_tests {
    use super::IpRange;

    #[test]
    fn ranges_contain_what_they_say() {
        let lan = IpRange::parse("10.1.0.0/16").unwrap();
        assert!(lan.contains("10.1.200.3".parse().unwrap()));
        assert!(!lan.contains("10.2.0.1".parse().unwrap()));
        assert!(lan.contains("::ffff:10.1.0.9".parse().unwrap()));
        let one = IpRange::parse("127.0.0.1").unwrap();
        assert!(one.contains("127.0.0.1".parse().unwrap()));
        assert!(!one.contains("127.0.0.2".parse().unwrap()));
        let v6 = IpRange::parse("[fd00::]/8").unwrap();
        assert!(v6.contains("fd12::1".parse().unwrap()));
        assert!(!v6.contains("fe80::1".parse().unwrap()));
        assert!(IpRange::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
        assert!(IpRange::parse("10.0.0.0/33").is_err());
        assert!(IpRange::parse("proxy.example").is_err());
    }
}

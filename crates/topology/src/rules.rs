use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{InstanceKey, Timestamp};

/// How much an operator wants an instance promoted when its primary fails
/// (`register-candidate`), strongest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PromotionRule {
    Must,
    Prefer,
    Neutral,
    PreferNot,
    MustNot,
}

impl PromotionRule {
    pub fn name(self) -> &'static str {
        match self {
            PromotionRule::Must => "must",
            PromotionRule::Prefer => "prefer",
            PromotionRule::Neutral => "neutral",
            PromotionRule::PreferNot => "prefer_not",
            PromotionRule::MustNot => "must_not",
        }
    }
}

impl fmt::Display for PromotionRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for PromotionRule {
    type Err = String;

    fn from_str(s: &str) -> Result<PromotionRule, String> {
        match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "must" => Ok(PromotionRule::Must),
            "prefer" => Ok(PromotionRule::Prefer),
            "neutral" => Ok(PromotionRule::Neutral),
            "prefer_not" => Ok(PromotionRule::PreferNot),
            "must_not" => Ok(PromotionRule::MustNot),
            other => Err(format!(
                "unknown promotion rule {other:?}: expected must, prefer, neutral, prefer_not or must_not"
            )),
        }
    }
}

/// An instance marked as expected to be down: analysis still reports it, but automated
/// recovery leaves it alone until `end`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Downtime {
    pub key: InstanceKey,
    pub owner: String,
    pub reason: String,
    pub begin: Timestamp,
    pub end: Timestamp,
}

impl Downtime {
    pub fn is_active(&self, now: Timestamp) -> bool {
        self.begin <= now && now < self.end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn promotion_rules_parse_and_order_strongest_first() {
        for rule in ["must", "prefer", "neutral", "prefer_not", "must_not"] {
            assert_eq!(rule.parse::<PromotionRule>().unwrap().name(), rule);
        }
        assert_eq!(
            "prefer-not".parse::<PromotionRule>(),
            Ok(PromotionRule::PreferNot)
        );
        assert!("always".parse::<PromotionRule>().is_err());
        assert!(PromotionRule::Must < PromotionRule::Prefer);
        assert!(PromotionRule::PreferNot < PromotionRule::MustNot);
    }
}

//! The configuration reference (`docs/configuration.md`), written from the key table: every
//! key with the kind of value it holds, its default, whether it takes effect, and what it
//! means. A test keeps the file equal to what this writes.

use std::fmt::Write;

use serde_json::Value;

use crate::orchestrator_keys::ORCHESTRATOR_KEYS;
use crate::{not_implemented, Config, ORCHESTRATOR_ONLY};

fn cell(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

fn default_of(value: &Value) -> String {
    match value {
        Value::String(s) if s.is_empty() => "empty".to_string(),
        Value::Array(items) if items.is_empty() => "none".to_string(),
        Value::Object(map) if map.is_empty() => "none".to_string(),
        other => format!("`{}`", other.to_string().replace('|', "\\|")),
    }
}

/// The reference, as Markdown.
pub fn reference_markdown() -> String {
    let mut out = String::from(
        "# Configuration reference\n\n\
         Written from arbor's key table (`crates/config/src/keys.rs`); a test keeps this file \
         equal to it. After changing a key, run\n`ARBOR_BLESS=1 cargo test -p arbor-config \
         configuration_reference` to write it again.\n\n\
         arbor reads orchestrator's JSON configuration file: keys are matched exactly, or \
         case-insensitively as orchestrator's Go decoder did. `${VAR}` in a password expands \
         from the environment. `arbor check-config` names every problem with its key, and \
         every key a file sets that does nothing.\n\n\
         **Status**: *honoured* (takes effect as in orchestrator), *arbor* (arbor's own key, \
         not in orchestrator), *not implemented* (accepted and reported at start-up, with why \
         and what to use instead), *orchestrator only* (a feature arbor does not have), \
         *deprecated* (orchestrator ignores it too).\n\n\
         | key | kind | default | status | meaning |\n|---|---|---|---|---|\n",
    );
    for row in Config::key_table() {
        let own = !ORCHESTRATOR_KEYS.contains(&row.key);
        let doc = row.doc.trim().trim_start_matches("arbor:").trim();
        let (status, meaning) = match not_implemented(row.key) {
            Some(why) => ("not implemented", format!("{doc} Not implemented: {why}.")),
            None if own => ("arbor", doc.to_string()),
            None => ("honoured", doc.to_string()),
        };
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {status} | {} |",
            row.key,
            row.kind,
            default_of(&row.default),
            cell(&meaning)
        );
    }
    let mut inert: Vec<(&str, String, &str)> = ORCHESTRATOR_ONLY
        .iter()
        .map(|(key, why)| (*key, format!("{why}."), "orchestrator only"))
        .collect();
    inert.extend(
        crate::inert::deprecated_in_orchestrator()
            .iter()
            .map(|key| {
                (
                    *key,
                    "orchestrator no longer reads it either.".to_string(),
                    "deprecated",
                )
            }),
    );
    inert.sort();
    for (key, why, status) in inert {
        if Config::canonical_key(key).is_none() {
            let _ = writeln!(out, "| `{key}` | any | — | {status} | {} |", cell(&why));
        }
    }
    out
}

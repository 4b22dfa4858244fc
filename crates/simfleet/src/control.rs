//! The command language of a fleet run as a process (`arbor simfleet`): one command per line,
//! instances named by port.

use std::time::Duration;

use crate::{Fleet, Health, Topology};

/// What the commands are, for help texts.
pub const COMMANDS: &str = "kill PORT | hang PORT | revive PORT | slow PORT MILLISECONDS | \
                            break PORT | lag PORT SECONDS | write-rate PER_SECOND | quit";

/// One line per instance: `INDEX PORT SOURCE_INDEX|- FLAVOUR`.
pub fn listing(fleet: &Fleet, topology: &Topology) -> String {
    let mut out = String::new();
    for (index, (flavor, source, _)) in topology.instances().iter().enumerate() {
        let source = source.map_or("-".to_string(), |s| s.to_string());
        let flavor = serde_json::to_string(flavor).unwrap_or_default();
        out.push_str(&format!(
            "{index} {} {source} {}\n",
            fleet.port(index),
            flavor.trim_matches('"')
        ));
    }
    out
}

/// Runs one command line. Returns whether to go on (false after `quit`).
pub fn command(fleet: &Fleet, line: &str) -> Result<bool, String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let port_index = |at: usize| -> Result<usize, String> {
        let port = words
            .get(at)
            .ok_or("which port?")?
            .parse::<u16>()
            .map_err(|_| "not a port".to_string())?;
        fleet
            .index_of_port(port)
            .ok_or_else(|| format!("no simulated instance on port {port}"))
    };
    let number = |at: usize| -> Result<f64, String> {
        words
            .get(at)
            .ok_or("which value?")?
            .parse::<f64>()
            .map_err(|_| "not a number".to_string())
    };
    match words.first().copied() {
        Some("kill") => fleet.set_health(port_index(1)?, Health::Dead),
        Some("hang") => fleet.set_health(port_index(1)?, Health::Hung),
        Some("revive") => {
            let index = port_index(1)?;
            fleet.set_health(index, Health::Up);
            fleet.set_delay(index, Duration::ZERO);
        }
        Some("slow") => {
            fleet.set_delay(port_index(1)?, Duration::from_secs_f64(number(2)? / 1000.0))
        }
        Some("break") => fleet.break_replication(port_index(1)?),
        Some("lag") => fleet.set_lag(port_index(1)?, number(2)?),
        Some("write-rate") => fleet.set_write_rate(number(1)?),
        Some("quit") => return Ok(false),
        None => {}
        Some(other) => return Err(format!("unknown command {other}")),
    }
    Ok(true)
}

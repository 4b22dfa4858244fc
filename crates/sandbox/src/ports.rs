//! Ports for test servers and test nodes, never handed out twice: not within a process (a
//! port chosen but not bound yet still looks free), nor across the test processes running at
//! once (nextest runs each test in a process of its own). Each port is reserved by an
//! exclusive `flock` on a file named after it, held until the process ends: the kernel drops
//! the lock even when the process is killed.

use std::fs::{File, OpenOptions};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// The range ports come from: below Linux's ephemeral range (32768 and up), so a client
/// connection's local port never takes one.
const FIRST: u16 = 20_000;
const COUNT: u16 = 12_000;

static HELD: Mutex<Vec<(u16, File)>> = Mutex::new(Vec::new());

fn lock_dir() -> PathBuf {
    std::env::temp_dir().join("arbor-test-ports")
}

/// A port that is free now and that no other caller, in this process or another, is given
/// while this process lives.
pub fn reserve_port() -> Result<u16, String> {
    let dir = lock_dir();
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {dir:?}: {e}"))?;
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
        ^ (u64::from(std::process::id()) << 16);
    let mut state = seed | 1;
    let mut held = HELD.lock().unwrap_or_else(|e| e.into_inner());
    for _ in 0..2_000 {
        // xorshift: no rand dependency needed for picking ports
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let port = FIRST + (state % u64::from(COUNT)) as u16;
        if held.iter().any(|(p, _)| *p == port) {
            continue;
        }
        let Ok(file) = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(port.to_string()))
        else {
            continue;
        };
        // SAFETY: flock on a descriptor this function owns; LOCK_NB never blocks.
        let locked = unsafe {
            libc::flock(
                std::os::fd::AsRawFd::as_raw_fd(&file),
                libc::LOCK_EX | libc::LOCK_NB,
            )
        } == 0;
        if locked && TcpListener::bind(("127.0.0.1", port)).is_ok() {
            held.push((port, file));
            return Ok(port);
        }
    }
    Err(format!(
        "no free port between {FIRST} and {}",
        FIRST + COUNT
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_never_handed_out_twice() {
        let ports: Vec<u16> = (0..200).map(|_| reserve_port().unwrap()).collect();
        let mut unique = ports.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), ports.len());
        assert!(ports.iter().all(|p| (FIRST..FIRST + COUNT).contains(p)));
    }
}

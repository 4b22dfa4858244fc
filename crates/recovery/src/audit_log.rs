//! `AuditLogFile`: one line per audit entry, appended to a file, in orchestrator's layout
//! (`time<TAB>type<TAB>host<TAB>port<TAB>[cluster]<TAB>message`), so tools that read
//! orchestrator's audit log read arbor's.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use arbor_topology::{InstanceKey, Timestamp};

/// An append-only audit file. A write that fails is logged, never fatal: the store holds the
/// audit of record.
pub struct AuditLog {
    path: PathBuf,
    file: Mutex<File>,
}

impl AuditLog {
    /// Opens (creating it when missing) `path` for appending.
    pub fn open(path: &Path) -> std::io::Result<AuditLog> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(AuditLog {
            path: path.to_path_buf(),
            file: Mutex::new(file),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one entry; tabs and line breaks inside fields become spaces, so that each
    /// entry stays one line of tab-separated fields.
    pub fn append(&self, kind: &str, key: Option<&InstanceKey>, cluster: &str, message: &str) {
        let flat = |text: &str| text.replace(['\t', '\n', '\r'], " ");
        let (host, port) = key
            .map(|k| (k.hostname.as_str(), k.port.to_string()))
            .unwrap_or(("", "0".to_string()));
        let line = format!(
            "{}\t{}\t{}\t{}\t[{}]\t{}\n",
            Timestamp::now().to_sql_datetime(),
            flat(kind),
            flat(host),
            port,
            flat(cluster),
            flat(message)
        );
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(error) = file.write_all(line.as_bytes()) {
            tracing::warn!(path = %self.path.display(), %error, "cannot append to AuditLogFile");
        }
    }
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("path", &self.path)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_entry_is_one_tab_separated_line_appended() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        std::fs::write(&path, "earlier line\n").unwrap();
        let log = AuditLog::open(&path).unwrap();
        let key: InstanceKey = "db1:3306".parse().unwrap();
        log.append(
            "recovery",
            Some(&key),
            "db1:3306",
            "promoted db2\twith a tab\nand a line",
        );
        log.append("begin-downtime", None, "", "ok");
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert_eq!(lines[0], "earlier line");
        let fields: Vec<&str> = lines[1].split('\t').collect();
        assert_eq!(fields.len(), 6, "{}", lines[1]);
        assert_eq!(
            &fields[1..],
            [
                "recovery",
                "db1",
                "3306",
                "[db1:3306]",
                "promoted db2 with a tab and a line"
            ]
        );
        assert_eq!(lines[2].split('\t').nth(4), Some("[]"));
    }
}

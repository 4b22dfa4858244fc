//! The server side of the MySQL client/server protocol, as much as arbor and `mysql_async` use:
//! the v10 handshake (any credentials accepted), `COM_QUERY` with multi-statement queries and
//! several result sets per reply, `COM_PING`, `COM_INIT_DB`, `COM_RESET_CONNECTION`,
//! `COM_QUIT`. Prepared statements are refused. Results are text rows, every column a string.
//!
//! Written here rather than taken from a crate because the fleet needs several result sets per
//! query (arbor reads a server in one round trip) and control over when each reply is sent.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt};

/// Capability flags the simulated servers announce: 4.1 protocol, plugin auth, and multiple
/// statements and results per query. Not `CLIENT_DEPRECATE_EOF`: result sets end with EOF.
const CAPABILITIES: u32 = 0x0000_0001 // LONG_PASSWORD
    | 0x0000_0002 // FOUND_ROWS
    | 0x0000_0004 // LONG_FLAG
    | 0x0000_0008 // CONNECT_WITH_DB
    | 0x0000_0200 // PROTOCOL_41
    | 0x0000_2000 // TRANSACTIONS
    | 0x0000_8000 // SECURE_CONNECTION
    | 0x0001_0000 // MULTI_STATEMENTS
    | 0x0002_0000 // MULTI_RESULTS
    | 0x0008_0000 // PLUGIN_AUTH
    | 0x0020_0000; // PLUGIN_AUTH_LENENC_CLIENT_DATA

const STATUS_AUTOCOMMIT: u16 = 0x0002;
const STATUS_MORE_RESULTS: u16 = 0x0008;
const UTF8MB4: u8 = 45;
const TYPE_VAR_STRING: u8 = 0xfd;

/// A client command, as far as the fleet distinguishes them.
pub(crate) enum Command {
    Query(String),
    /// Answered with OK: ping, init-db, reset-connection, change-user.
    Ok,
    /// Needs no answer (`COM_STMT_CLOSE`).
    Silent,
    Quit,
    Unsupported(u8),
}

/// One statement's reply.
pub(crate) enum Reply {
    /// A result set: column names and rows of text values (`None` is NULL).
    Rows {
        columns: Vec<String>,
        rows: Vec<Vec<Option<String>>>,
    },
    /// A statement without rows.
    Done,
    /// An error, which also ends a multi-statement query.
    Error { code: u16, message: String },
}

impl Reply {
    pub(crate) fn rows(columns: &[&str], rows: Vec<Vec<Option<String>>>) -> Reply {
        Reply::Rows {
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows,
        }
    }

    pub(crate) fn error(code: u16, message: impl Into<String>) -> Reply {
        Reply::Error {
            code,
            message: message.into(),
        }
    }
}

/// Reads one packet's payload and sequence id.
pub(crate) async fn read_packet<R: AsyncRead + Unpin>(reader: &mut R) -> io::Result<(u8, Vec<u8>)> {
    let mut header = [0u8; 4];
    reader.read_exact(&mut header).await?;
    let len = u32::from_le_bytes([header[0], header[1], header[2], 0]) as usize;
    let mut payload = vec![0u8; len];
    reader.read_exact(&mut payload).await?;
    // Payloads of 16 MiB and more continue in further packets; no client of the fleet sends
    // such queries, so they are refused rather than reassembled.
    if len == 0xff_ffff {
        return Err(io::Error::other("packets of 16 MiB are not simulated"));
    }
    Ok((header[3], payload))
}

pub(crate) fn parse_command(payload: &[u8]) -> Command {
    match payload.first() {
        Some(0x03) => Command::Query(String::from_utf8_lossy(&payload[1..]).into_owned()),
        Some(0x01) | None => Command::Quit,
        Some(0x02) | Some(0x0e) | Some(0x11) | Some(0x1f) => Command::Ok,
        Some(0x19) => Command::Silent,
        Some(other) => Command::Unsupported(*other),
    }
}

/// Frames payloads into packets, numbering them from a sequence id.
pub(crate) struct Packets {
    pub(crate) bytes: Vec<u8>,
    seq: u8,
}

impl Packets {
    pub(crate) fn new(seq: u8) -> Packets {
        Packets {
            bytes: Vec::with_capacity(512),
            seq,
        }
    }

    fn push(&mut self, payload: &[u8]) {
        let len = payload.len() as u32;
        self.bytes.extend_from_slice(&len.to_le_bytes()[..3]);
        self.bytes.push(self.seq);
        self.seq = self.seq.wrapping_add(1);
        self.bytes.extend_from_slice(payload);
    }

    /// The initial handshake (protocol 10) offering `mysql_native_password`.
    pub(crate) fn handshake(&mut self, version: &str, connection_id: u32) {
        let mut p = vec![10];
        p.extend_from_slice(version.as_bytes());
        p.push(0);
        p.extend_from_slice(&connection_id.to_le_bytes());
        // The scramble: the fleet checks no password, so any 20 bytes do.
        let scramble = *b"arbor-simulated-seed";
        p.extend_from_slice(&scramble[..8]);
        p.push(0);
        p.extend_from_slice(&(CAPABILITIES as u16).to_le_bytes());
        p.push(UTF8MB4);
        p.extend_from_slice(&STATUS_AUTOCOMMIT.to_le_bytes());
        p.extend_from_slice(&((CAPABILITIES >> 16) as u16).to_le_bytes());
        p.push(21);
        p.extend_from_slice(&[0; 10]);
        p.extend_from_slice(&scramble[8..]);
        p.push(0);
        p.extend_from_slice(b"mysql_native_password\0");
        self.push(&p);
    }

    pub(crate) fn ok(&mut self, status: u16) {
        let mut p = vec![0x00, 0, 0];
        p.extend_from_slice(&(STATUS_AUTOCOMMIT | status).to_le_bytes());
        p.extend_from_slice(&0u16.to_le_bytes());
        self.push(&p);
    }

    pub(crate) fn error(&mut self, code: u16, message: &str) {
        let mut p = vec![0xff];
        p.extend_from_slice(&code.to_le_bytes());
        p.extend_from_slice(b"#HY000");
        p.extend_from_slice(message.as_bytes());
        self.push(&p);
    }

    fn eof(&mut self, status: u16) {
        let mut p = vec![0xfe, 0, 0];
        p.extend_from_slice(&(STATUS_AUTOCOMMIT | status).to_le_bytes());
        self.push(&p);
    }

    /// The replies to one query, flagged so that the client reads them all.
    pub(crate) fn replies(&mut self, replies: &[Reply]) {
        for (i, reply) in replies.iter().enumerate() {
            let more = if i + 1 < replies.len() {
                STATUS_MORE_RESULTS
            } else {
                0
            };
            match reply {
                Reply::Done => self.ok(more),
                Reply::Error { code, message } => {
                    self.error(*code, message);
                    return;
                }
                Reply::Rows { columns, rows } => {
                    let mut count = Vec::new();
                    lenenc_int(&mut count, columns.len() as u64);
                    self.push(&count);
                    for name in columns {
                        self.push(&column_definition(name));
                    }
                    self.eof(0);
                    for row in rows {
                        let mut p = Vec::with_capacity(64);
                        for value in row {
                            match value {
                                Some(text) => lenenc_str(&mut p, text.as_bytes()),
                                None => p.push(0xfb),
                            }
                        }
                        self.push(&p);
                    }
                    self.eof(more);
                }
            }
        }
    }
}

fn column_definition(name: &str) -> Vec<u8> {
    let mut p = Vec::with_capacity(32 + 2 * name.len());
    for part in [&b"def"[..], b"", b"", b"", name.as_bytes(), name.as_bytes()] {
        lenenc_str(&mut p, part);
    }
    p.push(0x0c);
    p.extend_from_slice(&u16::from(UTF8MB4).to_le_bytes());
    p.extend_from_slice(&1024u32.to_le_bytes());
    p.push(TYPE_VAR_STRING);
    p.extend_from_slice(&0u16.to_le_bytes()); // flags
    p.push(0); // decimals
    p.extend_from_slice(&[0, 0]);
    p
}

fn lenenc_int(out: &mut Vec<u8>, n: u64) {
    match n {
        0..=250 => out.push(n as u8),
        251..=0xffff => {
            out.push(0xfc);
            out.extend_from_slice(&(n as u16).to_le_bytes());
        }
        0x1_0000..=0xff_ffff => {
            out.push(0xfd);
            out.extend_from_slice(&(n as u32).to_le_bytes()[..3]);
        }
        _ => {
            out.push(0xfe);
            out.extend_from_slice(&n.to_le_bytes());
        }
    }
}

fn lenenc_str(out: &mut Vec<u8>, bytes: &[u8]) {
    lenenc_int(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Splits a multi-statement query at the semicolons outside quotes.
pub(crate) fn split_statements(sql: &str) -> Vec<&str> {
    let mut statements = Vec::new();
    let mut quote: Option<char> = None;
    let mut start = 0;
    for (at, c) in sql.char_indices() {
        match (quote, c) {
            (None, '\'' | '"' | '`') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, ';') => {
                statements.push(&sql[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    statements.push(&sql[start..]);
    statements
        .into_iter()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_split_at_semicolons_outside_quotes() {
        assert_eq!(
            split_statements(
                "SELECT 1; SHOW SLAVE STATUS ;CHANGE MASTER TO MASTER_PASSWORD='a;b';"
            ),
            vec![
                "SELECT 1",
                "SHOW SLAVE STATUS",
                "CHANGE MASTER TO MASTER_PASSWORD='a;b'"
            ]
        );
    }

    #[test]
    fn a_reply_after_an_error_is_not_sent() {
        let mut packets = Packets::new(1);
        packets.replies(&[
            Reply::Done,
            Reply::error(1064, "bad"),
            Reply::rows(&["a"], vec![vec![Some("1".into())]]),
        ]);
        // OK (7 + 4 header) then ERR (1 + 2 + 6 + 3 + 4 header), nothing after.
        assert_eq!(packets.bytes.len(), 11 + 16);
        assert_eq!(packets.bytes[4 + 7 + 4], 0xff);
    }
}

//! ZooKeeper, spoken directly: the handful of requests publishing needs (connect, read with
//! version, create, set with version, close) in ZooKeeper's own framing (jute). No client
//! crate fits: the Rust ones bring a runtime's worth of features for five requests.
//!
//! Framing: every packet is a 4-byte big-endian length and a body. A request body is a header
//! (`xid`, `op`) and the op's fields; a reply is (`xid`, `zxid`, `err`) and the result. Strings
//! and buffers are a 4-byte length and bytes (-1 for none).

use std::time::Duration;

use arbor_topology::KvPair;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::{CasRead, KvError};

const OP_CREATE: i32 = 1;
const OP_GET_DATA: i32 = 4;
const OP_SET_DATA: i32 = 5;
const OP_CHECK: i32 = 13;
const OP_MULTI: i32 = 14;
const OP_CLOSE: i32 = -11;

const ERR_NO_NODE: i32 = -101;
const ERR_BAD_VERSION: i32 = -103;
const ERR_NODE_EXISTS: i32 = -110;

/// The session timeout asked for; publishing holds a session for one round only.
const SESSION_TIMEOUT_MS: i32 = 10_000;

/// Where the ensemble is: `ZkAddress`, `host:port[,host:port...]`.
#[derive(Debug, Clone)]
pub struct ZooKeeper {
    servers: Vec<String>,
    timeout: Duration,
}

/// One open session.
struct Session {
    stream: TcpStream,
    xid: i32,
    server: String,
}

/// A znode's path for a key: ZooKeeper paths are absolute.
pub(crate) fn path_of(key: &str) -> String {
    format!("/{}", key.trim_start_matches('/'))
}

impl ZooKeeper {
    pub fn new(address: &str, timeout: Duration) -> Result<ZooKeeper, KvError> {
        let servers: Vec<String> = address
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                // orchestrator's form: a server without a port is on ZooKeeper's 2181.
                if s.contains(':') {
                    s.to_string()
                } else {
                    format!("{s}:2181")
                }
            })
            .collect();
        if servers.is_empty() {
            return Err(KvError::Config(format!(
                "ZkAddress {address:?} names no server (host:port[,host:port...])"
            )));
        }
        Ok(ZooKeeper { servers, timeout })
    }

    pub fn address(&self) -> String {
        self.servers.join(",")
    }

    async fn session(&self) -> Result<Session, KvError> {
        let mut errors = Vec::new();
        for server in &self.servers {
            match tokio::time::timeout(self.timeout, Session::open(server)).await {
                Ok(Ok(session)) => return Ok(session),
                Ok(Err(error)) => errors.push(format!("{server}: {error}")),
                Err(_) => errors.push(format!(
                    "{server}: no session within {} ms",
                    self.timeout.as_millis()
                )),
            }
        }
        Err(KvError::Unreachable(errors.join("; ")))
    }

    /// Reads every key with its version, under one session.
    pub(crate) async fn read(&self, pairs: &[KvPair]) -> Result<Vec<CasRead>, KvError> {
        let mut session = self.session().await?;
        let result = self.timed(session.read_all(pairs)).await;
        session.close().await;
        result
    }

    /// Writes `pairs`, each only if its znode still has the version `read` saw.
    pub(crate) async fn write(&self, pairs: &[KvPair], read: &[CasRead]) -> Result<(), KvError> {
        let mut session = self.session().await?;
        let result = self.timed(session.write_all(pairs, read)).await;
        session.close().await;
        result
    }

    async fn timed<T>(
        &self,
        work: impl std::future::Future<Output = Result<T, KvError>>,
    ) -> Result<T, KvError> {
        tokio::time::timeout(self.timeout, work)
            .await
            .unwrap_or_else(|_| {
                Err(KvError::Unreachable(format!(
                    "no answer within {} ms",
                    self.timeout.as_millis()
                )))
            })
    }
}

/// Builds request bodies.
#[derive(Default)]
struct Writer(Vec<u8>);

impl Writer {
    fn int(mut self, value: i32) -> Self {
        self.0.extend_from_slice(&value.to_be_bytes());
        self
    }
    fn long(mut self, value: i64) -> Self {
        self.0.extend_from_slice(&value.to_be_bytes());
        self
    }
    fn bool(mut self, value: bool) -> Self {
        self.0.push(u8::from(value));
        self
    }
    fn bytes(mut self, value: &[u8]) -> Self {
        self.0
            .extend_from_slice(&(value.len() as i32).to_be_bytes());
        self.0.extend_from_slice(value);
        self
    }
    fn string(self, value: &str) -> Self {
        self.bytes(value.as_bytes())
    }
}

/// Reads reply bodies.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], KvError> {
        if self.0.len() < n {
            return Err(KvError::Protocol("ZooKeeper reply cut short".into()));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn int(&mut self) -> Result<i32, KvError> {
        Ok(i32::from_be_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn long(&mut self) -> Result<i64, KvError> {
        Ok(i64::from_be_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    fn bytes(&mut self) -> Result<Vec<u8>, KvError> {
        let len = self.int()?;
        if len < 0 {
            return Ok(Vec::new());
        }
        Ok(self.take(len as usize)?.to_vec())
    }
    /// A `Stat`; only the data version matters here.
    fn stat_version(&mut self) -> Result<i32, KvError> {
        self.take(8 * 4)?; // czxid, mzxid, ctime, mtime
        let version = self.int()?;
        self.take(4 + 4 + 8 + 4 + 4 + 8)?; // cversion aversion ephemeralOwner dataLength numChildren pzxid
        Ok(version)
    }
}

impl Session {
    async fn open(server: &str) -> Result<Session, KvError> {
        let stream = TcpStream::connect(server)
            .await
            .map_err(|e| KvError::Unreachable(format!("cannot connect: {e}")))?;
        let _ = stream.set_nodelay(true);
        let mut session = Session {
            stream,
            xid: 0,
            server: server.to_string(),
        };
        let connect = Writer::default()
            .int(0) // protocol version
            .long(0) // last zxid seen
            .int(SESSION_TIMEOUT_MS)
            .long(0) // session id: a new session
            .bytes(&[0; 16]) // password
            .bool(false); // read-only allowed
        session.send(&connect.0).await?;
        let reply = session.receive().await?;
        let mut reader = Reader(&reply);
        let _protocol = reader.int()?;
        let timeout = reader.int()?;
        if timeout <= 0 {
            return Err(KvError::Unreachable(format!(
                "{server} refused the session (it may be outside its quorum)"
            )));
        }
        Ok(session)
    }

    async fn send(&mut self, body: &[u8]) -> Result<(), KvError> {
        let mut packet = Vec::with_capacity(body.len() + 4);
        packet.extend_from_slice(&(body.len() as i32).to_be_bytes());
        packet.extend_from_slice(body);
        self.stream
            .write_all(&packet)
            .await
            .map_err(|e| KvError::Unreachable(format!("{}: {e}", self.server)))
    }

    async fn receive(&mut self) -> Result<Vec<u8>, KvError> {
        let lost = |e: std::io::Error| KvError::Unreachable(format!("connection lost: {e}"));
        let len = self.stream.read_i32().await.map_err(lost)?;
        if !(0..=16 << 20).contains(&len) {
            return Err(KvError::Protocol(format!(
                "ZooKeeper packet of {len} bytes"
            )));
        }
        let mut body = vec![0; len as usize];
        self.stream.read_exact(&mut body).await.map_err(lost)?;
        Ok(body)
    }

    /// Sends one request and returns (error code, result body).
    async fn call(&mut self, op: i32, fields: Writer) -> Result<(i32, Vec<u8>), KvError> {
        self.xid += 1;
        let xid = self.xid;
        let mut body = Writer::default().int(xid).int(op);
        body.0.extend_from_slice(&fields.0);
        self.send(&body.0).await?;
        loop {
            let reply = self.receive().await?;
            let mut reader = Reader(&reply);
            let reply_xid = reader.int()?;
            let _zxid = reader.long()?;
            let err = reader.int()?;
            // Pings (-2) and watch events (-1) are not ours; none are asked for, skip any.
            if reply_xid == xid {
                return Ok((err, reader.0.to_vec()));
            }
        }
    }

    async fn read_all(&mut self, pairs: &[KvPair]) -> Result<Vec<CasRead>, KvError> {
        let mut reads = Vec::with_capacity(pairs.len());
        for pair in pairs {
            let path = path_of(&pair.key);
            let (err, body) = self
                .call(OP_GET_DATA, Writer::default().string(&path).bool(false))
                .await?;
            reads.push(match err {
                0 => {
                    let mut reader = Reader(&body);
                    let data = reader.bytes()?;
                    let value = String::from_utf8_lossy(&data).into_owned();
                    CasRead::of(pair, Some(value), reader.stat_version()? as i64)
                }
                ERR_NO_NODE => CasRead::of(pair, None, -1),
                other => return Err(zk_error(other, &path)),
            });
        }
        Ok(reads)
    }

    /// One transaction (`multi`) for all of a cluster's keys: each is created, or set at the
    /// version read, or (unchanged) checked at that version; all or none apply, so a reader
    /// never sees a new primary with an old port. The prefix's znodes are created first.
    async fn write_all(&mut self, pairs: &[KvPair], read: &[CasRead]) -> Result<(), KvError> {
        let Some(first) = pairs.first() else {
            return Ok(());
        };
        // The cluster's own key is the parent of its others: only its ancestors are made here.
        self.create_parents(&path_of(&first.key)).await?;
        let mut ops = Writer::default();
        for (pair, seen) in pairs.iter().zip(read) {
            let path = path_of(&pair.key);
            let (op, fields) = if seen.current {
                (
                    OP_CHECK,
                    Writer::default().string(&path).int(seen.version as i32),
                )
            } else if seen.value.is_some() {
                let set = Writer::default()
                    .string(&path)
                    .bytes(pair.value.as_bytes())
                    .int(seen.version as i32);
                (OP_SET_DATA, set)
            } else {
                (OP_CREATE, create(&path, &pair.value))
            };
            ops = ops.int(op).bool(false).int(-1);
            ops.0.extend_from_slice(&fields.0);
        }
        let ops = ops.int(-1).bool(true).int(-1);
        let (err, body) = self.call(OP_MULTI, ops).await?;
        if err != 0 {
            return Err(zk_error(err, &path_of(&first.key)));
        }
        // Each result: a header (type, done, err), then the op's answer; an error's answer is
        // its code.
        let mut reader = Reader(&body);
        loop {
            let op = reader.int()?;
            let done = reader.take(1)?[0] != 0;
            let _err = reader.int()?;
            if done {
                return Ok(());
            }
            match op {
                OP_CREATE => {
                    reader.bytes()?;
                }
                OP_SET_DATA => {
                    reader.stat_version()?;
                }
                OP_CHECK => {}
                -1 => {
                    let code = reader.int()?;
                    if code != 0 {
                        return Err(zk_error(code, &path_of(&first.key)));
                    }
                }
                other => {
                    return Err(KvError::Protocol(format!(
                        "ZooKeeper answered a transaction with an op of type {other}"
                    )))
                }
            }
        }
    }

    /// Creates the missing ancestors of `path`, empty.
    async fn create_parents(&mut self, path: &str) -> Result<(), KvError> {
        let mut parent = String::new();
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        for part in &parts[..parts.len().saturating_sub(1)] {
            parent.push('/');
            parent.push_str(part);
            let (err, _) = self.call(OP_CREATE, create(&parent, "")).await?;
            if err != 0 && err != ERR_NODE_EXISTS {
                return Err(zk_error(err, &parent));
            }
        }
        Ok(())
    }

    /// Ends the session without waiting for the answer: closing is a logged transaction
    /// (an fsync on the server), and the work it would wait for is already done.
    async fn close(&mut self) {
        self.xid += 1;
        let close = Writer::default().int(self.xid).int(OP_CLOSE);
        let _ = tokio::time::timeout(Duration::from_millis(100), self.send(&close.0)).await;
    }
}

/// A persistent znode open to everyone (`OPEN_ACL_UNSAFE`, as orchestrator's clients make them).
fn create(path: &str, value: &str) -> Writer {
    Writer::default()
        .string(path)
        .bytes(value.as_bytes())
        .int(1) // one ACL
        .int(31) // all permissions
        .string("world")
        .string("anyone")
        .int(0) // persistent
}

fn zk_error(code: i32, path: &str) -> KvError {
    match code {
        ERR_BAD_VERSION | ERR_NODE_EXISTS => {
            KvError::Conflict(format!("{path} changed since it was read"))
        }
        -102 => KvError::Refused(format!("{path}: no authorization (ZooKeeper NoAuth)")),
        -4 => KvError::Unreachable(format!(
            "{path}: ZooKeeper lost its connection to the quorum"
        )),
        other => KvError::Refused(format!("{path}: ZooKeeper error {other}")),
    }
}

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use arbor_topology::{Flavor, Instance, InstanceKey, ServerVersion};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder, Row, Value};

use crate::status::{self, ColumnMap};
use crate::tls::{self, Tls};
use crate::Dialect;

/// How probes connect and how long they may take.
#[derive(Debug, Clone, Default)]
pub struct ProbeSettings {
    pub user: String,
    pub password: String,
    /// `MySQLConnectTimeoutSeconds`: TCP connect plus handshake.
    pub connect_timeout: Duration,
    /// `MySQLDiscoveryReadTimeoutSeconds`: all of a probe's queries together.
    pub read_timeout: Duration,
    /// `DefaultInstancePort`, for replicas reported without a port.
    pub default_port: u16,
    /// `DetectClusterAliasQuery`, run on servers that replicate from no one.
    pub cluster_alias_query: String,
    /// `DetectSemiSyncEnforcedQuery`: its first column, a number, is the server's semi-sync
    /// priority (empty: none).
    pub semi_sync_priority_query: String,
    /// Where each server is: data centre, region, physical environment.
    pub location: LocationRules,
    /// TLS to the servers (`MySQLTopology*TLS`, `MySQLTopologySSL*`).
    pub tls: Tls,
}

/// orchestrator's `DataCenterPattern`/`DetectDataCenterQuery` and their region and physical
/// environment twins: a pattern takes the first group it matches in the host name; a query,
/// run on the server, its first column (and wins over the pattern).
#[derive(Debug, Clone, Default)]
pub struct LocationRules {
    pub data_center: LocationRule,
    pub region: LocationRule,
    pub physical_environment: LocationRule,
}

#[derive(Debug, Clone, Default)]
pub struct LocationRule {
    pub pattern: Option<regex::Regex>,
    pub query: String,
}

impl LocationRule {
    /// A pattern (empty: none), whose first group is taken from the host name, and a query
    /// (empty: none) whose first column wins over it.
    pub fn new(pattern: &str, query: &str) -> Result<LocationRule, String> {
        let pattern = match pattern {
            "" => None,
            text => Some(
                regex::Regex::new(text)
                    .map_err(|e| format!("pattern {text:?} is not a valid regex: {e}"))?,
            ),
        };
        Ok(LocationRule {
            pattern,
            query: query.to_string(),
        })
    }

    fn match_host(&self, host: &str) -> Option<String> {
        self.pattern
            .as_ref()?
            .captures(host)?
            .get(1)
            .map(|m| m.as_str().to_string())
    }
}

/// A server's location as its queries answered: asked once per connection, and again on
/// the next probe while a query fails (a table the query reads may not exist yet).
#[derive(Debug, Clone, Default)]
struct QueriedLocation {
    data_center: Option<String>,
    region: Option<String>,
    physical_environment: Option<String>,
    /// Every configured query answered.
    complete: bool,
    /// Probes whose queries failed so far: the warning is said on the first only.
    failures: u32,
}

/// The kind of a probe failure, for metrics and for analysis (a refused connection and a
/// timeout mean different things about a server).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProbeErrorKind {
    ConnectTimeout,
    Connect,
    /// The server answered the connection with an error (too many connections, access
    /// denied, host blocked): it is alive.
    Refused,
    /// TLS could not be set up with a server that answered.
    Tls,
    ReadTimeout,
    Query,
}

impl ProbeErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProbeErrorKind::ConnectTimeout => "connect_timeout",
            ProbeErrorKind::Connect => "connect",
            ProbeErrorKind::Refused => "refused",
            ProbeErrorKind::Tls => "tls",
            ProbeErrorKind::ReadTimeout => "read_timeout",
            ProbeErrorKind::Query => "query",
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ProbeError {
    #[error("connecting to {key} timed out after {after:?}")]
    ConnectTimeout { key: InstanceKey, after: Duration },
    #[error("cannot connect to {key}: {message}")]
    Connect { key: InstanceKey, message: String },
    /// The server itself refused the connection, with error `code`: it is alive.
    #[error("{key} refused the connection: {message}")]
    Refused {
        key: InstanceKey,
        code: u16,
        message: String,
    },
    /// The server answered, but a TLS connection to it could not be made (its certificate
    /// is not trusted, it offers no TLS, ...): it is alive, and misconfigured.
    #[error("TLS with {key} failed: {message}")]
    Tls {
        key: InstanceKey,
        /// Whether the server offered TLS at all.
        offered: bool,
        message: String,
    },
    #[error("{key} did not answer within {after:?}")]
    ReadTimeout { key: InstanceKey, after: Duration },
    #[error("query on {key} failed: {query}: {message}")]
    Query {
        key: InstanceKey,
        query: String,
        message: String,
    },
}

impl ProbeError {
    pub fn kind(&self) -> ProbeErrorKind {
        match self {
            ProbeError::ConnectTimeout { .. } => ProbeErrorKind::ConnectTimeout,
            ProbeError::Connect { .. } => ProbeErrorKind::Connect,
            ProbeError::Refused { .. } => ProbeErrorKind::Refused,
            ProbeError::Tls { .. } => ProbeErrorKind::Tls,
            ProbeError::ReadTimeout { .. } => ProbeErrorKind::ReadTimeout,
            ProbeError::Query { .. } => ProbeErrorKind::Query,
        }
    }
}

struct OpenConnection {
    conn: Conn,
    dialect: Dialect,
    /// Asked on the first probe over this connection.
    location: Option<QueriedLocation>,
}

/// Reads servers. Keeps one open connection per server between probes, because a new
/// connection per probe costs a TCP and auth handshake each poll, times thousands of servers.
pub struct Prober {
    settings: ProbeSettings,
    connections: Mutex<HashMap<InstanceKey, OpenConnection>>,
}

impl Prober {
    pub fn new(settings: ProbeSettings) -> Prober {
        Prober {
            settings,
            connections: Mutex::new(HashMap::new()),
        }
    }

    pub fn settings(&self) -> &ProbeSettings {
        &self.settings
    }

    /// Closes the cached connection to `key`, if any (e.g. after `forget`).
    pub fn forget(&self, key: &InstanceKey) {
        self.lock_connections().remove(key);
    }

    fn lock_connections(&self) -> std::sync::MutexGuard<'_, HashMap<InstanceKey, OpenConnection>> {
        // A panic elsewhere while holding the lock leaves a plain map behind: still usable.
        self.connections.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads one server. Never takes longer than the connect timeout plus the read timeout
    /// (twice that at most when a cached connection turned out dead and a fresh one is tried).
    pub async fn probe(&self, key: &InstanceKey) -> Result<Instance, ProbeError> {
        let started = Instant::now();
        let cached = self.lock_connections().remove(key);
        let result = match cached {
            Some(open) => match self.read_with(key, open).await {
                // A cached connection that fails outright may just be stale (server
                // restarted, idle timeout): one retry on a fresh connection avoids reporting a
                // healthy server as down. A timeout is not retried: that would double the cost
                // of a hung server.
                Err(ProbeError::Query { .. }) => {
                    let fresh = self.connect(key).await?;
                    self.read_with(key, fresh).await
                }
                other => other,
            },
            None => {
                let fresh = self.connect(key).await?;
                self.read_with(key, fresh).await
            }
        };
        result.map(|mut instance| {
            instance.probe_latency_ms = started.elapsed().as_millis() as u64;
            instance
        })
    }

    async fn connect(&self, key: &InstanceKey) -> Result<OpenConnection, ProbeError> {
        let (conn, dialect) = open_connection(
            key,
            &self.settings.user,
            &self.settings.password,
            &self.settings.tls,
            self.settings.connect_timeout,
        )
        .await?;
        Ok(OpenConnection {
            conn,
            dialect,
            location: None,
        })
    }

    async fn read_with(
        &self,
        key: &InstanceKey,
        mut open: OpenConnection,
    ) -> Result<Instance, ProbeError> {
        let timeout = self.settings.read_timeout;
        let read = async {
            let mut instance =
                read_instance(&mut open.conn, open.dialect, key, &self.settings).await?;
            if !open.location.as_ref().is_some_and(|l| l.complete) {
                let failures = open.location.as_ref().map_or(0, |l| l.failures);
                open.location = Some(
                    query_location(&mut open.conn, key, &self.settings.location, failures).await,
                );
            }
            apply_location(
                &mut instance,
                &self.settings.location,
                open.location.as_ref(),
            );
            Ok(instance)
        };
        match tokio::time::timeout(timeout, read).await {
            Ok(Ok(instance)) => {
                self.lock_connections().insert(key.clone(), open);
                Ok(instance)
            }
            // The connection is dropped on any failure: after a timeout its protocol state is
            // unknown, and after an error it is suspect.
            Ok(Err(error)) => Err(error),
            Err(_) => Err(ProbeError::ReadTimeout {
                key: key.clone(),
                after: timeout,
            }),
        }
    }
}

async fn read_instance(
    conn: &mut Conn,
    dialect: Dialect,
    key: &InstanceKey,
    settings: &ProbeSettings,
) -> Result<Instance, ProbeError> {
    // One round trip for everything a poll reads: at thousands of servers per second, round
    // trips (and the wakeups each costs on both ends) dominate the cost of a probe.
    let variables_sql = dialect.variables_sql();
    let statements = [
        variables_sql.as_str(),
        dialect.binary_log_status_sql(),
        dialect.replica_status_sql(),
        dialect.replica_hosts_sql(),
        // Replicas without report_host are invisible to SHOW SLAVE HOSTS; their dump threads
        // still show where they connect from.
        dialect.dump_threads_sql(),
        dialect.semi_sync_sql(),
    ];
    let mut sets = query_sets(conn, key, &statements).await?.into_iter();
    let mut next_set = || sets.next().unwrap_or_default();
    let variables = next_set().into_iter().next().unwrap_or_default();
    let var = |name: &str| variables.get(name).cloned().flatten().unwrap_or_default();

    let mut instance = Instance::unseen(key.clone());
    instance.server_id = var("server_id").parse().unwrap_or(0);
    instance.hostname = var("hostname");
    instance.version = var("version");
    instance.version_comment = var("version_comment");
    instance.flavor = dialect.flavor;
    instance.read_only = status::flag(Some(&var("read_only")));
    instance.super_read_only = status::flag(Some(&var("super_read_only")));
    instance.log_bin = status::flag(Some(&var("log_bin")));
    instance.log_replica_updates = status::flag(Some(&var("log_replica_updates")));
    instance.binlog_format = var("binlog_format");
    instance.binlog_row_image = var("binlog_row_image");
    instance.replica_net_timeout = var("replica_net_timeout").parse().unwrap_or(0);
    match dialect.flavor {
        Flavor::MariaDb => {
            instance.gtid_mode = "ON".to_string();
            instance.gtid_executed = var("gtid_current_pos");
            instance.gtid_binlog_pos = var("gtid_binlog_pos");
            instance.gtid_binlog_state = var("gtid_binlog_state");
            instance.gtid_slave_pos = var("gtid_slave_pos");
            instance.gtid_domain_id = var("gtid_domain_id").parse().ok();
            instance.gtid_strict_mode = status::flag(Some(&var("gtid_strict_mode")));
        }
        Flavor::MySql | Flavor::Percona => {
            instance.server_uuid = var("server_uuid");
            instance.gtid_mode = var("gtid_mode");
            // gtid_executed comes with newlines between UUIDs when long.
            instance.gtid_executed = var("gtid_executed").replace('\n', "");
            instance.gtid_purged = var("gtid_purged").replace('\n', "");
        }
    }

    let binary_log_status = next_set();
    if instance.log_bin {
        instance.self_coordinates = status::parse_binary_log_status(&binary_log_status);
    }

    let mut links = status::replica_links(&next_set(), settings.default_port).into_iter();
    instance.replication = links.next();
    instance.other_links = links.collect();

    let mut replicas = status::parse_replica_hosts(&next_set(), settings.default_port);
    let dump_threads = next_set();
    if replicas.is_empty() {
        replicas = status::parse_dump_thread_hosts(&dump_threads, key.port);
    }
    replicas.retain(|replica| replica != key);
    instance.replicas = replicas;

    let semi_sync = next_set();
    instance.semi_sync =
        arbor_topology::SemiSync::from_values(semi_sync.iter().filter_map(|row| {
            Some((
                row.get("name")?.as_deref()?,
                row.get("value")?.as_deref().unwrap_or(""),
            ))
        }));

    if !settings.semi_sync_priority_query.trim().is_empty() {
        // A query that fails (a metadata table not there yet) leaves the priority unknown;
        // the server is still read.
        match query_maps(conn, key, &settings.semi_sync_priority_query).await {
            Ok(rows) => {
                instance.semi_sync.priority = rows
                    .first()
                    .and_then(first_column)
                    .and_then(|v| v.trim().parse::<f64>().ok())
                    .map(|v| v.max(0.0) as u64);
            }
            Err(error) => {
                tracing::debug!(%key, %error, "DetectSemiSyncEnforcedQuery failed");
            }
        }
    }
    if instance.replication.is_none() && !settings.cluster_alias_query.trim().is_empty() {
        let rows = query_maps(conn, key, &settings.cluster_alias_query).await?;
        instance.suggested_cluster_alias = rows.first().and_then(first_column).unwrap_or_default();
    }
    Ok(instance)
}

/// Runs the location queries; one that fails leaves that part unknown (the server is still
/// read, as orchestrator does), is logged the first time, and is asked again next probe.
async fn query_location(
    conn: &mut Conn,
    key: &InstanceKey,
    rules: &LocationRules,
    failures_so_far: u32,
) -> QueriedLocation {
    let mut complete = true;
    let mut ask = async |what: &str, query: &str| -> Option<String> {
        if query.trim().is_empty() {
            return None;
        }
        match query_maps(conn, key, query).await {
            Ok(rows) => rows.first().and_then(first_column),
            Err(error) => {
                if failures_so_far == 0 {
                    tracing::warn!(%key, %error, "cannot read the {what} of the server");
                }
                complete = false;
                None
            }
        }
    };
    let data_center = ask(
        "data centre (DetectDataCenterQuery)",
        &rules.data_center.query,
    )
    .await;
    let region = ask("region (DetectRegionQuery)", &rules.region.query).await;
    let physical_environment = ask(
        "physical environment (DetectPhysicalEnvironmentQuery)",
        &rules.physical_environment.query,
    )
    .await;
    QueriedLocation {
        data_center,
        region,
        physical_environment,
        complete,
        failures: failures_so_far + u32::from(!complete),
    }
}

fn apply_location(
    instance: &mut Instance,
    rules: &LocationRules,
    queried: Option<&QueriedLocation>,
) {
    let host = instance.key.hostname.clone();
    let pick = |rule: &LocationRule, queried: Option<&String>| {
        queried
            .cloned()
            .or_else(|| rule.match_host(&host))
            .unwrap_or_default()
    };
    instance.data_center = pick(
        &rules.data_center,
        queried.and_then(|q| q.data_center.as_ref()),
    );
    instance.region = pick(&rules.region, queried.and_then(|q| q.region.as_ref()));
    instance.physical_environment = pick(
        &rules.physical_environment,
        queried.and_then(|q| q.physical_environment.as_ref()),
    );
}

/// Connects (TCP, handshake, TLS as `tls` says, version query) within `timeout` and picks
/// the dialect.
pub(crate) async fn open_connection(
    key: &InstanceKey,
    user: &str,
    password: &str,
    tls: &Tls,
    timeout: Duration,
) -> Result<(Conn, Dialect), ProbeError> {
    let connect = async {
        let first = tls.first_attempt(key);
        let first_was_tls = first.is_some();
        let mut conn = match connect_once(key, user, password, first).await {
            Err(refusal @ ProbeError::Refused { code, .. }) if !first_was_tls => {
                let Some(ssl) = tls.retry_after_refusal(code) else {
                    return Err(refusal);
                };
                match connect_once(key, user, password, Some(ssl)).await {
                    Ok(conn) => {
                        tls.remember_required(key);
                        conn
                    }
                    // No TLS on offer either: the refusal was not about TLS (a wrong
                    // password), and is the error to report.
                    Err(ProbeError::Tls { offered: false, .. }) => return Err(refusal),
                    Err(error) => return Err(error),
                }
            }
            other => other?,
        };
        let rows = query_maps(
            &mut conn,
            key,
            "SELECT @@version AS version, @@version_comment AS version_comment",
        )
        .await?;
        let row = rows.first().cloned().unwrap_or_default();
        let version = row.get("version").cloned().flatten().unwrap_or_default();
        let comment = row
            .get("version_comment")
            .cloned()
            .flatten()
            .unwrap_or_default();
        let dialect = Dialect::new(
            Flavor::detect(&version, &comment),
            ServerVersion::parse(&version),
        );
        Ok((conn, dialect))
    };
    match tokio::time::timeout(timeout, connect).await {
        Ok(result) => result,
        Err(_) => Err(ProbeError::ConnectTimeout {
            key: key.clone(),
            after: timeout,
        }),
    }
}

/// One connection attempt, plain or TLS, with its failure classified: the server refused
/// (alive), TLS failed (alive, misconfigured), or it could not be reached.
async fn connect_once(
    key: &InstanceKey,
    user: &str,
    password: &str,
    ssl: Option<mysql_async::SslOpts>,
) -> Result<Conn, ProbeError> {
    let opts = OptsBuilder::default()
        .ip_or_hostname(key.hostname.clone())
        .tcp_port(key.port)
        .user(Some(user.to_string()))
        .pass(Some(password.to_string()))
        // Otherwise mysql_async switches a loopback TCP connection to the server's unix
        // socket, which is not the address arbor was asked to watch.
        .prefer_socket(false)
        .tcp_nodelay(true)
        .stmt_cache_size(0)
        .ssl_opts(ssl);
    Conn::new(opts).await.map_err(|e| match e {
        mysql_async::Error::Server(error) => ProbeError::Refused {
            key: key.clone(),
            code: error.code,
            message: error.to_string(),
        },
        mysql_async::Error::Driver(mysql_async::DriverError::NoClientSslFlagFromServer) => {
            ProbeError::Tls {
                key: key.clone(),
                offered: false,
                message: "the server offers no TLS, and TLS is required by the configuration"
                    .into(),
            }
        }
        other => match tls::describe_tls_failure(&other) {
            Some(message) => ProbeError::Tls {
                key: key.clone(),
                offered: true,
                message,
            },
            None => ProbeError::Connect {
                key: key.clone(),
                message: other.to_string(),
            },
        },
    })
}

fn first_column(row: &ColumnMap) -> Option<String> {
    // A ColumnMap has lost column order; the alias query returns one column by contract.
    row.values().next().cloned().flatten()
}

/// Runs a text-protocol query (so `SHOW` statements work) and returns its rows as column maps.
pub(crate) async fn query_maps(
    conn: &mut Conn,
    key: &InstanceKey,
    sql: &str,
) -> Result<Vec<ColumnMap>, ProbeError> {
    let rows: Vec<Row> = conn.query(sql).await.map_err(|e| ProbeError::Query {
        key: key.clone(),
        query: sql.to_string(),
        message: e.to_string(),
    })?;
    Ok(rows.iter().map(row_to_map).collect())
}

/// Runs several text-protocol statements in one round trip (a multi-statement query) and
/// returns one result set per statement. A failing statement fails the whole call, naming it.
pub(crate) async fn query_sets(
    conn: &mut Conn,
    key: &InstanceKey,
    statements: &[&str],
) -> Result<Vec<Vec<ColumnMap>>, ProbeError> {
    let sql = statements.join("; ");
    let mut sets = Vec::with_capacity(statements.len());
    let failed = |sets: &Vec<Vec<ColumnMap>>, e: mysql_async::Error| ProbeError::Query {
        key: key.clone(),
        // The server stops at the first failing statement: the one after the sets received.
        query: statements
            .get(sets.len())
            .copied()
            .unwrap_or(sql.as_str())
            .to_string(),
        message: e.to_string(),
    };
    let mut result = match conn.query_iter(sql.as_str()).await {
        Ok(result) => result,
        Err(e) => return Err(failed(&sets, e)),
    };
    while !result.is_empty() {
        match result.collect::<Row>().await {
            Ok(rows) => sets.push(rows.iter().map(row_to_map).collect()),
            Err(e) => return Err(failed(&sets, e)),
        }
    }
    Ok(sets)
}

fn row_to_map(row: &Row) -> ColumnMap {
    row.columns_ref()
        .iter()
        .enumerate()
        .map(|(index, column)| {
            let value = row.as_ref(index).and_then(value_text);
            (column.name_str().into_owned(), value)
        })
        .collect()
}

pub(crate) fn value_text(value: &Value) -> Option<String> {
    match value {
        Value::NULL => None,
        Value::Bytes(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
        Value::Int(n) => Some(n.to_string()),
        Value::UInt(n) => Some(n.to_string()),
        Value::Float(n) => Some(n.to_string()),
        Value::Double(n) => Some(n.to_string()),
        other => Some(other.as_sql(true).trim_matches('\'').to_string()),
    }
}

//! A simulated MySQL/MariaDB fleet: many fake instances in one process, each on its own
//! loopback port, answering the MySQL protocol well enough for arbor's probes: versions and
//! flavours (MariaDB 10.11, MySQL 8.0, 8.4, each with its own statement dialect), replication
//! state built from the simulated topology, and faults on command (kill: connections refused;
//! hang: connections accepted and never answered).
//!
//! It is for scale and fault cases real servers cannot give; behaviour claims about MySQL are
//! tested against real `mariadbd` elsewhere.
//!
//! Replication statements change the simulated topology as they would a real one (`STOP/START
//! SLAVE|REPLICA`, `CHANGE MASTER|REPLICATION SOURCE TO ... HOST, PORT`, `RESET SLAVE|REPLICA
//! ALL`, `SET GLOBAL read_only`), and the waits a recovery makes (`MASTER_GTID_WAIT`,
//! `WAIT_FOR_EXECUTED_GTID_SET`) return at once, so arbor can fail a simulated primary over.
//! Limits: no write load (every cluster's GTID position is fixed), binlog coordinates are
//! constant, and replication filters, delays and credentials are accepted and ignored.

use std::io;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use opensrv_mysql::{
    AsyncMysqlIntermediary, AsyncMysqlShim, Column, ColumnFlags, ColumnType, ErrorKind, OkResponse,
    ParamParser, QueryResultWriter, StatementMetaWriter,
};
use tokio::io::AsyncWrite;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// What an instance claims to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    MariaDb1011,
    MySql80,
    MySql84,
}

impl Flavor {
    fn version(self) -> &'static str {
        match self {
            Flavor::MariaDb1011 => "10.11.6-MariaDB-log",
            Flavor::MySql80 => "8.0.36-log",
            Flavor::MySql84 => "8.4.3",
        }
    }

    fn is_mariadb(self) -> bool {
        self == Flavor::MariaDb1011
    }

    /// MySQL 8.4 answers only the new `REPLICA`/`SOURCE` statements and columns.
    fn replica_words(self) -> bool {
        self == Flavor::MySql84
    }
}

/// How an instance behaves now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Up,
    /// Connections are refused (the process is gone).
    Dead,
    /// Connections are accepted and never answered (a frozen server).
    Hung,
}

#[derive(Debug, Clone)]
struct Instance {
    port: u16,
    server_id: u32,
    flavor: Flavor,
    source: Option<usize>,
    health: Health,
    read_only: bool,
    io_running: bool,
    sql_running: bool,
}

#[derive(Debug, Default)]
struct FleetState {
    instances: Vec<Instance>,
}

impl FleetState {
    fn root_of(&self, mut index: usize) -> usize {
        let mut steps = 0;
        while let Some(source) = self.instances[index].source {
            index = source;
            steps += 1;
            if steps > self.instances.len() {
                break;
            }
        }
        index
    }
}

/// A running fleet; its instances stop when it is dropped.
pub struct Fleet {
    state: Arc<Mutex<FleetState>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Fleet {
    /// Starts one instance per entry of `sources` (the index of its source, `None` for a
    /// primary), all of `flavor`, each listening on a free port of 127.0.0.1.
    pub async fn start(sources: &[Option<usize>], flavor: Flavor) -> io::Result<Fleet> {
        let state = Arc::new(Mutex::new(FleetState::default()));
        let mut tasks = Vec::new();
        let mut listeners = Vec::new();
        for (index, source) in sources.iter().enumerate() {
            let listener = TcpListener::bind("127.0.0.1:0").await?;
            let port = listener.local_addr()?.port();
            state
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .instances
                .push(Instance {
                    port,
                    server_id: index as u32 + 1,
                    flavor,
                    source: *source,
                    health: Health::Up,
                    read_only: source.is_some(),
                    io_running: true,
                    sql_running: true,
                });
            listeners.push(listener);
        }
        for (index, listener) in listeners.into_iter().enumerate() {
            tasks.push(tokio::spawn(serve(listener, Arc::clone(&state), index)));
        }
        Ok(Fleet { state, tasks })
    }

    fn with<T>(&self, work: impl FnOnce(&mut FleetState) -> T) -> T {
        work(&mut self.state.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn len(&self) -> usize {
        self.with(|s| s.instances.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn port(&self, index: usize) -> u16 {
        self.with(|s| s.instances[index].port)
    }

    /// `127.0.0.1:PORT` of instance `index`.
    pub fn key(&self, index: usize) -> String {
        format!("127.0.0.1:{}", self.port(index))
    }

    /// Sets how instance `index` behaves from now on (its open connections too).
    pub fn set_health(&self, index: usize, health: Health) {
        self.with(|s| s.instances[index].health = health);
    }

    /// The index of instance `index`'s source, if it replicates.
    pub fn source_of(&self, index: usize) -> Option<usize> {
        self.with(|s| s.instances[index].source)
    }

    /// Whether instance `index` replicates with both threads running.
    pub fn is_replicating(&self, index: usize) -> bool {
        self.with(|s| {
            let i = &s.instances[index];
            i.source.is_some() && i.io_running && i.sql_running
        })
    }

    pub fn is_read_only(&self, index: usize) -> bool {
        self.with(|s| s.instances[index].read_only)
    }
}

fn health_of(state: &Mutex<FleetState>, index: usize) -> Health {
    state.lock().unwrap_or_else(|e| e.into_inner()).instances[index].health
}

/// Accepts connections for one instance for as long as the fleet runs.
async fn serve(listener: TcpListener, state: Arc<Mutex<FleetState>>, index: usize) {
    let mut held = Vec::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        match health_of(&state, index) {
            // Closed at once: the client sees the connection fail, as with a dead server.
            Health::Dead => drop(stream),
            // Kept open, never answered.
            Health::Hung => held.push(stream),
            Health::Up => {
                let shim = Shim {
                    state: Arc::clone(&state),
                    index,
                };
                tokio::spawn(async move {
                    let (reader, writer) = stream.into_split();
                    let _ = AsyncMysqlIntermediary::run_on(shim, reader, writer).await;
                });
            }
        }
    }
}

struct Shim {
    state: Arc<Mutex<FleetState>>,
    index: usize,
}

/// One result set: column names and rows of text values (`None` is NULL).
struct Answer {
    columns: Vec<String>,
    rows: Vec<Vec<Option<String>>>,
}

impl Answer {
    fn from_pairs(pairs: Vec<(&str, Option<String>)>) -> Answer {
        Answer {
            columns: pairs.iter().map(|(c, _)| c.to_string()).collect(),
            rows: vec![pairs.into_iter().map(|(_, v)| v).collect()],
        }
    }

    fn empty(columns: &[&str]) -> Answer {
        Answer {
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows: Vec::new(),
        }
    }
}

fn text(value: impl ToString) -> Option<String> {
    Some(value.to_string())
}

impl Shim {
    /// What instance `index` answers to `sql`: rows, `None` for a statement (an OK packet),
    /// or an error for what its version does not know.
    fn answer(&self, sql: &str) -> Result<Option<Answer>, String> {
        let lower = sql.trim().to_ascii_lowercase();
        let flavor = {
            let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            state.instances[self.index].flavor
        };
        let removed = [
            "show slave status",
            "show master status",
            "show slave hosts",
        ];
        if flavor.replica_words() && removed.iter().any(|s| lower.starts_with(s)) {
            return Err(format!(
                "You have an error in your SQL syntax near '{}' (removed in MySQL 8.4)",
                sql.trim()
            ));
        }
        if self.apply(&lower)? {
            return Ok(None);
        }
        Ok(self.rows(&lower, sql))
    }

    /// Applies a replication statement to the simulated topology. Returns whether `lower` was
    /// one.
    fn apply(&self, lower: &str) -> Result<bool, String> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let me = self.index;
        let starts = |verb: &str| {
            ["slave", "replica"]
                .iter()
                .any(|w| lower.starts_with(&format!("{verb} {w}")))
        };
        if starts("stop") {
            let instance = &mut state.instances[me];
            instance.io_running = false;
            instance.sql_running = false;
            return Ok(true);
        }
        if starts("start") {
            let instance = &mut state.instances[me];
            instance.sql_running = true;
            if !lower.ends_with("sql_thread") {
                instance.io_running = true;
            }
            return Ok(true);
        }
        if starts("reset") && lower.ends_with(" all") {
            let instance = &mut state.instances[me];
            instance.source = None;
            instance.io_running = false;
            instance.sql_running = false;
            return Ok(true);
        }
        if lower.starts_with("change master to")
            || lower.starts_with("change replication source to")
        {
            // A host change alone (detach/reattach) keeps the simulated source.
            if let Some(port) = setting(lower, &["master_port", "source_port"]) {
                let port: u16 = port.parse().map_err(|_| format!("bad port {port}"))?;
                let source = state
                    .instances
                    .iter()
                    .position(|i| i.port == port)
                    .ok_or_else(|| format!("no simulated instance on port {port}"))?;
                if source == me {
                    return Err("an instance cannot replicate from itself".into());
                }
                state.instances[me].source = Some(source);
            }
            return Ok(true);
        }
        if lower.starts_with("set global read_only") {
            state.instances[me].read_only = lower.ends_with("on") || lower.ends_with('1');
            return Ok(true);
        }
        Ok(false)
    }

    fn rows(&self, lower: &str, sql: &str) -> Option<Answer> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let me = &state.instances[self.index];
        let root = state.root_of(self.index);
        let root_id = state.instances[root].server_id;
        let gtid = format!("0-{root_id}-100");
        if lower.contains("master_gtid_wait(") || lower.contains("wait_for_executed_gtid_set(") {
            // Every simulated replica has applied all it received.
            return Some(Answer {
                columns: vec!["wait".into()],
                rows: vec![vec![text(0)]],
            });
        }
        if lower.starts_with("select") {
            // Every SELECT arbor and mysql_async send names its columns with AS, or asks for
            // bare @@variables; both are answered by name.
            let names = select_names(sql);
            let values = names
                .iter()
                .map(|name| self.variable(&state, name, &gtid))
                .collect();
            if lower.contains("information_schema.processlist") {
                return Some(Answer::empty(&["host"]));
            }
            return Some(Answer {
                columns: names,
                rows: vec![values],
            });
        }
        if lower.starts_with("show slave status") || lower.starts_with("show replica status") {
            let Some(source) = me.source else {
                return Some(Answer::empty(&["Slave_IO_State"]));
            };
            let upstream = &state.instances[source];
            let connected = upstream.health == Health::Up && me.io_running;
            let words = lower.contains("replica");
            let w =
                |slave: &'static str, replica: &'static str| if words { replica } else { slave };
            let mut pairs = vec![
                (
                    w("Slave_IO_State", "Replica_IO_State"),
                    text(if connected {
                        "Waiting for master to send event"
                    } else {
                        "Reconnecting after a failed master event read"
                    }),
                ),
                (w("Master_Host", "Source_Host"), text("127.0.0.1")),
                (w("Master_Port", "Source_Port"), text(upstream.port)),
                (w("Connect_Retry", "Source_Connect_Retry"), text(1)),
                (
                    w("Master_Log_File", "Source_Log_File"),
                    text("mysql-bin.000001"),
                ),
                (w("Read_Master_Log_Pos", "Read_Source_Log_Pos"), text(1000)),
                ("Relay_Log_File", text("relay-bin.000002")),
                ("Relay_Log_Pos", text(1200)),
                (
                    w("Relay_Master_Log_File", "Relay_Source_Log_File"),
                    text("mysql-bin.000001"),
                ),
                (
                    w("Slave_IO_Running", "Replica_IO_Running"),
                    text(if connected {
                        "Yes"
                    } else if me.io_running {
                        "Connecting"
                    } else {
                        "No"
                    }),
                ),
                (
                    w("Slave_SQL_Running", "Replica_SQL_Running"),
                    text(if me.sql_running { "Yes" } else { "No" }),
                ),
                ("Replicate_Do_DB", text("")),
                ("Replicate_Ignore_DB", text("")),
                ("Last_IO_Errno", text(if connected { 0 } else { 2003 })),
                (
                    "Last_IO_Error",
                    text(if connected {
                        String::new()
                    } else {
                        format!("error reconnecting to master '127.0.0.1:{}'", upstream.port)
                    }),
                ),
                ("Last_SQL_Errno", text(0)),
                ("Last_SQL_Error", text("")),
                (w("Exec_Master_Log_Pos", "Exec_Source_Log_Pos"), text(1000)),
                (
                    w("Seconds_Behind_Master", "Seconds_Behind_Source"),
                    if connected { text(0) } else { None },
                ),
                (
                    w("Master_Server_Id", "Source_Server_Id"),
                    text(upstream.server_id),
                ),
                ("SQL_Delay", text(0)),
                (
                    w("Slave_SQL_Running_State", "Replica_SQL_Running_State"),
                    text("Slave has read all relay log"),
                ),
            ];
            if me.flavor.is_mariadb() {
                pairs.push(("Using_Gtid", text("Slave_Pos")));
                pairs.push(("Gtid_IO_Pos", text(&gtid)));
            } else {
                pairs.push(("Auto_Position", text(1)));
                pairs.push(("Retrieved_Gtid_Set", text("")));
                pairs.push(("Executed_Gtid_Set", text("")));
                pairs.push((
                    w("Master_UUID", "Source_UUID"),
                    text(uuid(upstream.server_id)),
                ));
            }
            return Some(Answer::from_pairs(pairs));
        }
        if lower.starts_with("show master status") || lower.starts_with("show binary log status") {
            return Some(Answer::from_pairs(vec![
                ("File", text("mysql-bin.000001")),
                ("Position", text(1000)),
                ("Binlog_Do_DB", text("")),
                ("Binlog_Ignore_DB", text("")),
            ]));
        }
        if lower.starts_with("show slave hosts") || lower.starts_with("show replicas") {
            let mut answer = Answer::empty(&["Server_id", "Host", "Port", "Master_id"]);
            for replica in state
                .instances
                .iter()
                .filter(|i| i.source == Some(self.index) && i.health == Health::Up)
            {
                answer.rows.push(vec![
                    text(replica.server_id),
                    text("127.0.0.1"),
                    text(replica.port),
                    text(me.server_id),
                ]);
            }
            return Some(answer);
        }
        None
    }

    fn variable(&self, state: &FleetState, name: &str, gtid: &str) -> Option<String> {
        let me = &state.instances[self.index];
        let is_primary = me.source.is_none();
        let name = name.trim_start_matches("@@").trim_start_matches("global.");
        match name {
            "version" => text(me.flavor.version()),
            "version_comment" => text("arbor simulated fleet"),
            "server_id" => text(me.server_id),
            "hostname" => text("simfleet"),
            "read_only" => text(i32::from(me.read_only)),
            "super_read_only" => text(0),
            "log_bin" => text(1),
            "binlog_format" => text("ROW"),
            "binlog_row_image" => text("FULL"),
            "log_replica_updates" | "log_slave_updates" => text(1),
            "replica_net_timeout" | "slave_net_timeout" => text(4),
            "gtid_domain_id" => text(0),
            "gtid_strict_mode" => text(1),
            "gtid_binlog_pos" | "gtid_current_pos" => text(gtid),
            "gtid_slave_pos" => text(if is_primary { "" } else { gtid }),
            "server_uuid" => text(uuid(me.server_id)),
            "gtid_mode" => text(if me.flavor.is_mariadb() { "OFF" } else { "ON" }),
            "gtid_executed" => text(format!(
                "{}:1-100",
                uuid(state.instances[state.root_of(self.index)].server_id)
            )),
            "gtid_purged" => text(""),
            "max_allowed_packet" => text(16_777_216),
            "wait_timeout" => text(28_800),
            "socket" => text(""),
            _ => None,
        }
    }
}

/// The value of `name = value` in a CHANGE MASTER statement (quotes removed).
fn setting<'a>(lower: &'a str, names: &[&str]) -> Option<&'a str> {
    names.iter().find_map(|name| {
        let at = lower.find(name)?;
        let rest = lower[at + name.len()..]
            .trim_start()
            .strip_prefix('=')?
            .trim_start();
        let end = rest.find(',').unwrap_or(rest.len());
        Some(rest[..end].trim().trim_matches('\''))
    })
}

fn uuid(server_id: u32) -> String {
    format!("00000000-0000-0000-0000-{server_id:012}")
}

/// The names a SELECT's columns take: each item's alias (`... AS name`), else the item itself
/// (`@@max_allowed_packet`).
fn select_names(sql: &str) -> Vec<String> {
    let body = sql.trim();
    let body = body[6..].trim();
    let body = match body.to_ascii_lowercase().find(" from ") {
        Some(at) => &body[..at],
        None => body,
    };
    body.split(',')
        .map(|item| {
            let item = item.trim();
            let lower = item.to_ascii_lowercase();
            match lower.rfind(" as ") {
                Some(at) => item[at + 4..].trim().to_string(),
                None => item.to_string(),
            }
        })
        .collect()
}

#[async_trait]
impl<W: AsyncWrite + Send + Unpin> AsyncMysqlShim<W> for Shim {
    type Error = io::Error;

    fn version(&self) -> String {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.instances[self.index].flavor.version().to_string()
    }

    fn connect_id(&self) -> u32 {
        self.index as u32 + 1
    }

    async fn on_prepare<'a>(
        &'a mut self,
        _query: &'a str,
        info: StatementMetaWriter<'a, W>,
    ) -> io::Result<()> {
        info.error(
            ErrorKind::ER_NOT_SUPPORTED_YET,
            b"prepared statements are not simulated",
        )
        .await
    }

    async fn on_execute<'a>(
        &'a mut self,
        _id: u32,
        _params: ParamParser<'a>,
        results: QueryResultWriter<'a, W>,
    ) -> io::Result<()> {
        results
            .error(
                ErrorKind::ER_NOT_SUPPORTED_YET,
                b"prepared statements are not simulated",
            )
            .await
    }

    async fn on_close<'a>(&'a mut self, _stmt: u32)
    where
        W: 'async_trait,
    {
    }

    async fn on_query<'a>(
        &'a mut self,
        query: &'a str,
        results: QueryResultWriter<'a, W>,
    ) -> io::Result<()> {
        match health_of(&self.state, self.index) {
            Health::Up => {}
            // A connection opened before the fault: it breaks (dead) or stalls (hung).
            Health::Dead => return Err(io::Error::other("server gone")),
            Health::Hung => std::future::pending::<()>().await,
        }
        if query.trim().to_ascii_lowercase().starts_with("do sleep") {
            // A watcher's idle connection: held until the instance dies or hangs.
            while health_of(&self.state, self.index) == Health::Up {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            return Err(io::Error::other("server gone"));
        }
        match self.answer(query) {
            Err(message) => {
                results
                    .error(ErrorKind::ER_PARSE_ERROR, message.as_bytes())
                    .await
            }
            Ok(None) => results.completed(OkResponse::default()).await,
            Ok(Some(answer)) => {
                let columns: Vec<Column> = answer
                    .columns
                    .iter()
                    .map(|name| Column {
                        table: String::new(),
                        column: name.clone(),
                        coltype: ColumnType::MYSQL_TYPE_VAR_STRING,
                        colflags: ColumnFlags::empty(),
                    })
                    .collect();
                let mut writer = results.start(&columns).await?;
                for row in answer.rows {
                    for value in row {
                        match value {
                            Some(value) => writer.write_col(value.as_str())?,
                            None => writer.write_col(None::<&str>)?,
                        }
                    }
                    writer.end_row().await?;
                }
                writer.finish().await
            }
        }
    }
}

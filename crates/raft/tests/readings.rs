//! Readings relayed between members (`/raft/readings`): a batch is recorded in the receiving
//! member's own store whole, however large (axum refuses bodies over 2 MB by default, which
//! silently lost the bursts of a 10,000-instance fleet's polls).

use std::sync::Arc;
use std::time::Duration;

use arbor_raft::readings::Batch;
use arbor_raft::{RaftNode, RaftSettings};
use arbor_store::{CheckOutcome, CheckResult, SqliteStore, Store};
use arbor_topology::Timestamp;

#[tokio::test]
async fn a_large_batch_of_relayed_readings_is_recorded_whole() {
    let addr = format!("127.0.0.1:{}", arbor_sandbox::reserve_port().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let local: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().unwrap());
    let node = RaftNode::start(
        RaftSettings {
            data_dir: dir.path().join("raft"),
            bind: addr.clone(),
            advertise: addr.clone(),
            nodes: vec![addr.clone()],
            api: format!("http://{addr}/unused"),
            heartbeat: Duration::from_millis(50),
            election_timeout_min: Duration::from_millis(300),
            election_timeout_max: Duration::from_millis(450),
            write_timeout: Duration::from_secs(10),
            tls: None,
            snapshot_every: 10_000,
        },
        Arc::clone(&local),
    )
    .await
    .unwrap();

    let outcomes: Vec<CheckOutcome> = (0..3_000)
        .map(|i| {
            let key = format!("db{i}.example:3306").parse().unwrap();
            CheckOutcome {
                attempted_at: Timestamp(1_000),
                checked_at: Timestamp(1_001),
                result: CheckResult::Seen(Box::new(arbor_store::conformance::sample_instance(
                    &key,
                ))),
                key,
            }
        })
        .collect();
    let body = serde_json::to_vec(&Batch { from: 42, outcomes }).unwrap();
    assert!(body.len() > 2_000_000, "{} bytes", body.len());
    let response = reqwest::Client::new()
        .post(format!("http://{addr}/raft/readings"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204, "{}", response.text().await.unwrap());
    assert_eq!(local.all_instances().await.unwrap().len(), 3_000);
    node.shutdown().await;
}

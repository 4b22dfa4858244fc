//! Delayed replicas (`MASTER_DELAY`) in a failover, on real MariaDB: never the new primary
//! while another replica can be, and never a reason to lose what they received.

mod common;

use std::time::Duration;

use common::{create_table, harness, key, write_rows, ROWS};

/// Server `index` applies events an hour after they were written.
fn delay(h: &common::Harness, index: usize) {
    h.sql(
        index,
        "STOP SLAVE; CHANGE MASTER TO MASTER_DELAY = 3600; START SLAVE",
    );
}

/// Waits until server `index` has received everything server 0 wrote.
async fn received_all(h: &common::Harness, index: usize) {
    let position = h.sql(0, "SELECT @@gtid_binlog_pos");
    let received = arbor_testkit::wait_for(Duration::from_secs(10), || async {
        (h.status(index, "Gtid_IO_Pos") == position).then_some(())
    })
    .await;
    assert!(received.is_some(), "server {index} received every write");
}

#[tokio::test]
async fn a_delayed_replica_that_received_most_loses_its_delay_and_nothing_is_lost() {
    let mut h = harness(&[None, Some(0), Some(0)], |_| {}).await;
    create_table(&h);
    write_rows(&h, 0, 3, &[1, 2]);
    delay(&h, 2);
    // R1 stops receiving; the delayed R2 receives five more writes it does not apply.
    h.sql(1, "STOP SLAVE IO_THREAD");
    for _ in 0..5 {
        h.sql(0, "INSERT INTO app.t (v) VALUES (2)");
    }
    let written: u64 = h.sql(0, ROWS).parse().unwrap();
    received_all(&h, 2).await;
    assert_eq!(
        h.sql(2, ROWS),
        "3",
        "the delayed replica applied none of them"
    );
    h.sandbox.kill(0).unwrap();

    let recovery = h.first_recovery().await;
    assert!(recovery.successful, "{recovery:#?}");
    assert_eq!(
        recovery.successor,
        Some(key(h.sandbox.key(1))),
        "not the delayed replica: {recovery:#?}"
    );
    assert_eq!(
        h.sql(1, ROWS),
        written.to_string(),
        "the new primary has what only the delayed replica had received"
    );
    assert!(
        recovery.steps.iter().any(|s| s
            .message
            .contains("was a delayed replica: its delay is removed")),
        "{:#?}",
        recovery.steps
    );
    assert_eq!(h.status(2, "SQL_Delay"), "0");
    assert_eq!(h.status(2, "Master_Port"), h.sandbox.port(1).to_string());
}

#[tokio::test]
async fn the_only_replica_left_is_promoted_even_when_delayed_with_every_row() {
    let mut h = harness(&[None, Some(0)], |_| {}).await;
    create_table(&h);
    write_rows(&h, 0, 2, &[1]);
    delay(&h, 1);
    for _ in 0..4 {
        h.sql(0, "INSERT INTO app.t (v) VALUES (3)");
    }
    let written: u64 = h.sql(0, ROWS).parse().unwrap();
    received_all(&h, 1).await;
    h.sandbox.kill(0).unwrap();

    let recovery = h.first_recovery().await;
    assert!(recovery.successful, "{recovery:#?}");
    assert_eq!(recovery.successor, Some(key(h.sandbox.key(1))));
    assert_eq!(h.sql(1, "SELECT @@read_only"), "0");
    assert_eq!(
        h.sql(1, ROWS),
        written.to_string(),
        "its relay log applied first"
    );
    assert!(
        recovery
            .steps
            .iter()
            .any(|s| s.message.contains("only delayed replicas can be promoted")),
        "{:#?}",
        recovery.steps
    );
}

//! Discovery against real MariaDB topologies started by the test kit.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arbor_discovery::{Discovery, DiscoveryError, DiscoverySettings, IgnoreFilters};
use arbor_mysql::{ProbeSettings, Prober};
use arbor_store::{SqliteStore, Store};
use arbor_testkit::{wait_for, HungServer, MariaDbSandbox, ADMIN_PASSWORD, ADMIN_USER};
use arbor_topology::{InstanceKey, Timestamp, Topology, TopologyOptions};

fn prober(connect_timeout: Duration) -> Arc<Prober> {
    Arc::new(Prober::new(ProbeSettings {
        user: ADMIN_USER.into(),
        password: ADMIN_PASSWORD.into(),
        connect_timeout,
        read_timeout: Duration::from_secs(5),
        default_port: 3306,
        cluster_alias_query: String::new(),
        ..Default::default()
    }))
}

fn settings(poll: Duration) -> DiscoverySettings {
    DiscoverySettings {
        poll_interval: poll,
        max_concurrency: 10,
        probe_deadline: Duration::from_secs(15),
        ..DiscoverySettings::default()
    }
}

fn key(text: String) -> InstanceKey {
    text.parse().unwrap()
}

#[tokio::test]
async fn one_replica_reveals_the_whole_topology() {
    // P with replicas R1 and R2; R3 replicates from R1.
    let sandbox = MariaDbSandbox::start(&[None, Some(0), Some(0), Some(1)]).unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().unwrap());
    let discovery = Discovery::start(
        Arc::clone(&store),
        prober(Duration::from_secs(2)),
        settings(Duration::from_secs(1)),
        &[],
    )
    .await
    .unwrap();

    let r3 = key(sandbox.key(3));
    let record = discovery.handle().discover(&r3).await.unwrap();
    assert!(record.is_last_check_valid());

    let all_seen = wait_for(Duration::from_secs(10), || {
        let store = Arc::clone(&store);
        async move {
            let records = store.all_instances().await.ok()?;
            (records.len() == 4 && records.iter().all(|r| r.has_been_seen())).then_some(records)
        }
    })
    .await
    .expect("all four instances discovered");

    let topology = Topology::new(all_seen, &TopologyOptions::default());
    let primary = sandbox.key(0);
    for index in 0..4 {
        assert_eq!(
            topology.cluster_of(&key(sandbox.key(index))),
            Some(primary.as_str())
        );
    }
    assert_eq!(topology.depth_of(&r3), 2);
    assert_eq!(topology.depth_of(&key(sandbox.key(2))), 1);
    assert_eq!(discovery.handle().stats().watched, 4);
}

#[tokio::test]
async fn hung_servers_do_not_delay_polling_of_the_others() {
    let sandbox = MariaDbSandbox::start(&[None, Some(0), Some(0)]).unwrap();
    let hung: Vec<HungServer> = (0..3).map(|_| HungServer::start().unwrap()).collect();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().unwrap());
    let real: Vec<InstanceKey> = (0..3).map(|i| key(sandbox.key(i))).collect();
    let seeds: Vec<InstanceKey> = real
        .iter()
        .cloned()
        .chain(hung.iter().map(|h| key(h.key())))
        .collect();
    // Each hung server holds a probe for the whole 4 s connect timeout, four poll intervals.
    let poll = Duration::from_secs(1);
    let discovery = Discovery::start(
        Arc::clone(&store),
        prober(Duration::from_secs(4)),
        settings(poll),
        &seeds,
    )
    .await
    .unwrap();

    // Watch the real servers' check times for 9 s, which spans two full hung-probe timeouts.
    let mut checks: HashMap<InstanceKey, Vec<Timestamp>> = HashMap::new();
    let watch_started = Timestamp::now();
    for _ in 0..90 {
        for record in store.all_instances().await.unwrap() {
            if let (true, Some(checked)) = (real.contains(record.key()), record.last_checked) {
                let seen = checks.entry(record.key().clone()).or_default();
                if seen.last() != Some(&checked) {
                    seen.push(checked);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let watch_ended = Timestamp::now();

    for key in &real {
        let times = checks.get(key).expect("real server checked");
        let mut largest_gap = times[0].since(watch_started);
        for pair in times.windows(2) {
            largest_gap = largest_gap.max(pair[1].since(pair[0]));
        }
        largest_gap = largest_gap.max(watch_ended.since(*times.last().unwrap()));
        // Serial polling behind a hung server would show gaps of 4 s and more.
        assert!(
            largest_gap < Duration::from_millis(2_500),
            "{key} went {largest_gap:?} between checks (poll interval {poll:?}); checks: {times:?}"
        );
        assert!(
            times.len() >= 6,
            "{key} checked only {} times in 9 s",
            times.len()
        );
    }
    for server in &hung {
        let record = store.instance(&key(server.key())).await.unwrap().unwrap();
        assert!(!record.has_been_seen());
        assert!(
            record.last_error.contains("timed out"),
            "{}",
            record.last_error
        );
    }
    assert!(discovery.handle().stats().probe_failures >= 3);
}

#[tokio::test]
async fn discover_refuses_an_unreachable_server_and_forget_stops_polling() {
    let sandbox = MariaDbSandbox::start(&[None]).unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().unwrap());
    let discovery = Discovery::start(
        Arc::clone(&store),
        prober(Duration::from_secs(2)),
        settings(Duration::from_secs(1)),
        &[],
    )
    .await
    .unwrap();
    let handle = discovery.handle();

    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let nowhere = InstanceKey::new("127.0.0.1", closed_port);
    let error = handle.discover(&nowhere).await.unwrap_err();
    assert!(error.to_string().contains(&nowhere.to_string()), "{error}");
    assert!(
        store.instance(&nowhere).await.unwrap().is_none(),
        "a typo is not kept"
    );

    let primary = key(sandbox.key(0));
    handle.discover(&primary).await.unwrap();
    assert!(handle.is_watched(&primary));
    assert!(handle.forget(&primary).await.unwrap());
    assert!(!handle.is_watched(&primary));
    // Nothing brings it back: it has no neighbours, and polling of it stopped.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert!(store.instance(&primary).await.unwrap().is_none());
    assert!(!handle.forget(&primary).await.unwrap(), "already forgotten");
}

/// Waits until every key in `keys` has been read successfully.
async fn wait_seen(store: &Arc<dyn Store>, keys: &[InstanceKey]) {
    let seen = wait_for(Duration::from_secs(15), || {
        let store = Arc::clone(store);
        let keys = keys.to_vec();
        async move {
            for key in &keys {
                if !store.instance(key).await.ok()??.has_been_seen() {
                    return None;
                }
            }
            Some(())
        }
    })
    .await;
    assert!(seen.is_some(), "{keys:?} never seen");
}

#[tokio::test]
async fn ignore_filters_keep_matching_instances_out() {
    // P with replicas R1 and R2; R3 replicates from R1.
    let sandbox = MariaDbSandbox::start(&[None, Some(0), Some(0), Some(1)]).unwrap();
    let [p, r1, r2, r3] = [0, 1, 2, 3].map(|i| key(sandbox.key(i)));
    let port_pattern = |i: usize| format!(":{}$", sandbox.port(i));

    // 1. A replica filter matching R2: crawling down from P skips it, and only it.
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().unwrap());
    let discovery = Discovery::start(
        Arc::clone(&store),
        prober(Duration::from_secs(2)),
        DiscoverySettings {
            ignore: IgnoreFilters::new(&[], &[port_pattern(2)], &[]).unwrap(),
            ..settings(Duration::from_secs(1))
        },
        &[],
    )
    .await
    .unwrap();
    discovery.handle().discover(&p).await.unwrap();
    wait_seen(&store, &[p.clone(), r1.clone(), r3.clone()]).await;
    // R2 was listed by P in the same probe that revealed R1, so by now it would be watched.
    let primary = store.instance(&p).await.unwrap().unwrap();
    assert!(primary.instance.replicas.contains(&r2));
    assert!(!discovery.handle().is_watched(&r2));
    assert!(store.instance(&r2).await.unwrap().is_none());
    // Naming it explicitly is not crawling: the replica filter does not refuse that.
    discovery.handle().discover(&r2).await.unwrap();
    assert!(discovery.handle().is_watched(&r2));
    drop(discovery);

    // 2. On restart, a general filter now matching R2 drops it from the store and from polling.
    let discovery = Discovery::start(
        Arc::clone(&store),
        prober(Duration::from_secs(2)),
        DiscoverySettings {
            ignore: IgnoreFilters::new(&[port_pattern(2)], &[], &[]).unwrap(),
            ..settings(Duration::from_secs(1))
        },
        &[],
    )
    .await
    .unwrap();
    assert!(store.instance(&r2).await.unwrap().is_none());
    assert!(!discovery.handle().is_watched(&r2));
    assert!(discovery.handle().is_watched(&p));
    // ... and an explicit request for it is refused, naming the key and the pattern.
    let err = discovery.handle().discover(&r2).await.unwrap_err();
    assert!(matches!(err, DiscoveryError::Ignored { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("DiscoveryIgnoreHostnameFilters") && message.contains(&port_pattern(2)),
        "{message}"
    );
    drop(discovery);

    // 3. A primary filter matching P: crawling up from R1 stops at R1, down still reaches R3.
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().unwrap());
    let discovery = Discovery::start(
        Arc::clone(&store),
        prober(Duration::from_secs(2)),
        DiscoverySettings {
            ignore: IgnoreFilters::new(&[], &[], &[port_pattern(0)]).unwrap(),
            ..settings(Duration::from_secs(1))
        },
        std::slice::from_ref(&r1),
    )
    .await
    .unwrap();
    wait_seen(&store, &[r1.clone(), r3.clone()]).await;
    assert!(!discovery.handle().is_watched(&p));
    assert!(store.instance(&p).await.unwrap().is_none());
}

/// Shared polling never leaves a reading stale: an instance the share gives to another member
/// is polled here anyway once this member's latest reading of it is three intervals old (the
/// other member may be gone, or may think the instance is this one's).
#[tokio::test]
async fn an_instance_another_member_should_poll_is_polled_here_once_its_reading_is_stale() {
    let sandbox = MariaDbSandbox::start(&[None]).unwrap();
    let server = key(sandbox.key(0));
    let inner: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().unwrap());
    let store: Arc<dyn Store> = Arc::new(arbor_store::MemoryStore::open(inner).await.unwrap());
    let poll = Duration::from_millis(500);
    let discovery = Discovery::start(
        Arc::clone(&store),
        prober(Duration::from_secs(2)),
        settings(poll),
        &[],
    )
    .await
    .unwrap();
    // A member name that the share gives this server to, other than this one.
    let other = (0..)
        .map(|i| format!("other-{i}:10008"))
        .find(|other| {
            let live = vec!["me:10008".to_string(), other.clone()];
            arbor_discovery::owner(&live, &server) == Some(other.as_str())
        })
        .unwrap();
    let share = arbor_discovery::Share::new("me:10008");
    share.set_live([other]);
    assert!(!share.owns(&server));
    discovery.handle().set_share(share);
    let first = discovery
        .handle()
        .discover(&server)
        .await
        .unwrap()
        .last_checked
        .unwrap();
    // Nobody else reads it: within a few intervals this member does.
    let polled = wait_for(Duration::from_secs(10), || {
        let store = Arc::clone(&store);
        let server = server.clone();
        async move {
            let checked = store.instance(&server).await.ok()??.last_checked?;
            (checked.millis() - first.millis() > 1_000).then_some(())
        }
    })
    .await;
    assert!(polled.is_some(), "the stale reading was never refreshed");
}

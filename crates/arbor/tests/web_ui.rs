//! The web UI in a real browser: headless Chromium loads pages served by `arbor serve` for a
//! real MariaDB topology, and the test reads the DOM the page's own JavaScript rendered.

mod common;

use std::time::Duration;

use arbor_testkit::MariaDbSandbox;
use common::{artifacts_dir, node_status, render, render_until, test_config, Browser, Service};

#[test]
fn cluster_page_draws_every_instance_with_its_state() {
    let mut sandbox = MariaDbSandbox::start(&[None, Some(0), Some(0), Some(1)]).unwrap();
    let keys: Vec<String> = (0..4).map(|i| sandbox.key(i)).collect();
    let dir = tempfile::tempdir().unwrap();
    let service = Service::start(dir.path(), &test_config(dir.path(), 1, ""));
    service.stdout_of(&["discover", &keys[3]]);
    service.wait_for_tree(&keys[3], Duration::from_secs(10), |tree| {
        tree.lines().count() == 4
    });

    let cluster_url = format!("{}/web/cluster/{}", service.api, keys[0]);
    let dom = render_until(&cluster_url, Duration::from_secs(30), |dom| {
        keys.iter().all(|key| node_status(dom, key) == Some("ok"))
    });
    assert!(dom.contains("<svg"), "the tree is drawn as SVG");
    let screenshot = artifacts_dir().join("cluster-page.png");
    render(&cluster_url, Some(&screenshot));
    let png = std::fs::read(&screenshot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG"),
        "screenshot saved at {}",
        screenshot.display()
    );
    println!("screenshot: {}", screenshot.display());

    // The clusters overview lists the cluster with its instance count.
    let overview = render_until(
        &format!("{}/web/clusters", service.api),
        Duration::from_secs(20),
        |dom| dom.contains(&format!("data-cluster=\"{}\"", keys[0])),
    );
    assert!(
        overview.contains(">4<"),
        "instance count shown:\n{overview}"
    );

    // Killing R1 turns it unreachable and R3 broken, on the page, by itself.
    sandbox.kill(1).unwrap();
    let dom = render_until(&cluster_url, Duration::from_secs(30), |dom| {
        node_status(dom, &keys[1]) == Some("unreachable")
            && node_status(dom, &keys[3]) == Some("broken")
    });
    assert_eq!(node_status(&dom, &keys[0]), Some("ok"));
    render(
        &cluster_url,
        Some(&artifacts_dir().join("cluster-page-r1-killed.png")),
    );

    // The problems page lists both, and the instance page shows replication details.
    let problems = render_until(
        &format!("{}/web/problems", service.api),
        Duration::from_secs(20),
        |dom| {
            dom.contains(&format!("data-key=\"{}\"", keys[1]))
                && dom.contains(&format!("data-key=\"{}\"", keys[3]))
        },
    );
    assert!(problems.contains("not_replicating"), "{problems}");
    assert!(
        problems
            .contains("data-analysis=\"DeadIntermediateMasterWithSingleReplicaFailingToConnect\""),
        "the analysis of R1 is listed:\n{problems}"
    );
    let instance_url = format!("{}/web/instance/127.0.0.1/{}", service.api, sandbox.port(3));
    let instance = render_until(&instance_url, Duration::from_secs(20), |dom| {
        dom.contains("id=\"instance\"")
    });
    assert!(instance.contains(&keys[1]), "source shown:\n{instance}");
    assert!(instance.contains("Last IO error"), "{instance}");

    // No RecoverMasterClusterFilters in this config: the recoveries page says that nothing is
    // recovered automatically, not that automated recoveries are enabled.
    let recoveries = render_until(
        &format!("{}/web/audit-recovery", service.api),
        Duration::from_secs(20),
        |dom| dom.contains("id=\"automated-recovery\""),
    );
    assert!(
        recoveries.contains("no cluster matches RecoverMasterClusterFilters"),
        "{recoveries}"
    );
}

#[tokio::test]
async fn dragging_a_replica_onto_another_relocates_it_after_confirmation() {
    let sandbox = MariaDbSandbox::start(&[None, Some(0), Some(0)]).unwrap();
    let [p, r1, r2] = [0, 1, 2].map(|i| sandbox.key(i));
    let dir = tempfile::tempdir().unwrap();
    let service = Service::start(dir.path(), &test_config(dir.path(), 1, ""));
    service.stdout_of(&["discover", &p]);
    service.wait_for_tree(&p, Duration::from_secs(10), |tree| {
        tree.lines().count() == 3
    });

    let browser = Browser::start().await;
    browser
        .goto(&format!("{}/web/cluster/{p}", service.api))
        .await;
    let dragged = browser
        .wait_for(&format!("g.node[data-key='{r2}']"), Duration::from_secs(20))
        .await;
    let target = browser
        .wait_for(&format!("g.node[data-key='{r1}']"), Duration::from_secs(5))
        .await;
    browser.drag(&dragged, &target).await;

    // The confirmation says what will run; nothing has moved yet.
    let question = browser
        .wait_for("dialog[open] #confirm-request", Duration::from_secs(5))
        .await;
    let request = browser.text(&question).await;
    assert_eq!(
        request,
        format!(
            "POST /api/relocate/{}/{}",
            r2.replace(':', "/"),
            r1.replace(':', "/")
        )
    );
    browser
        .screenshot(&artifacts_dir().join("drag-confirmation.png"))
        .await;
    assert!(!service
        .stdout_of(&["topology", &p])
        .contains(&format!("  + {r2}")));
    let run = browser
        .wait_for("#confirm-run", Duration::from_secs(5))
        .await;
    browser.click(&run).await;

    // The move happened, and the page says so and draws it.
    let result = browser
        .wait_for("#action-result.ok", Duration::from_secs(20))
        .await;
    assert!(
        browser.text(&result).await.contains("moved below"),
        "{}",
        browser.text(&result).await
    );
    let tree = service.wait_for_tree(&p, Duration::from_secs(10), |tree| {
        tree.contains(&format!("  + {r2}"))
    });
    assert!(tree.contains(&format!("+ {r1}")), "{tree}");
    browser
        .screenshot(&artifacts_dir().join("after-drag.png"))
        .await;

    // A refused drag shows the reason: R1 below its own replica R2.
    let dragged = browser
        .wait_for(&format!("g.node[data-key='{r1}']"), Duration::from_secs(20))
        .await;
    let target = browser
        .wait_for(&format!("g.node[data-key='{r2}']"), Duration::from_secs(5))
        .await;
    browser.drag(&dragged, &target).await;
    let run = browser
        .wait_for("dialog[open] #confirm-run", Duration::from_secs(5))
        .await;
    browser.click(&run).await;
    let failed = browser
        .wait_for("#action-result.failed", Duration::from_secs(20))
        .await;
    assert!(
        browser.text(&failed).await.contains("would make a loop"),
        "{}",
        browser.text(&failed).await
    );
}

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
    // R3's replication error is shown once, not once per field that repeats it.
    let errors: Vec<&str> = instance
        .split("class=\"error-line\">")
        .skip(1)
        .map(|rest| rest.split('<').next().unwrap_or(""))
        .collect();
    assert!(!errors.is_empty(), "R3's error is shown:\n{instance}");
    let distinct: std::collections::BTreeSet<&&str> = errors.iter().collect();
    assert_eq!(distinct.len(), errors.len(), "{errors:?}");

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
async fn each_drop_proposes_the_move_it_means_and_runs_it_after_confirmation() {
    // P with R1 and R2, and R3 under R1.
    let sandbox = MariaDbSandbox::start(&[None, Some(0), Some(0), Some(1)]).unwrap();
    let [p, r1, r2, r3] = [0, 1, 2, 3].map(|i| sandbox.key(i));
    let path = |key: &str| key.replace(':', "/");
    let dir = tempfile::tempdir().unwrap();
    let service = Service::start(dir.path(), &test_config(dir.path(), 1, ""));
    service.stdout_of(&["discover", &p]);
    service.wait_for_tree(&p, Duration::from_secs(10), |tree| {
        tree.lines().count() == 4
    });

    let browser = Browser::start().await;
    browser
        .goto(&format!("{}/web/cluster/{p}", service.api))
        .await;
    // Drags `from` (a CSS selector) onto the box of `onto`, checks the request the dialog
    // shows, runs it, and waits for the tree to satisfy `moved`.
    let drop_and_run =
        |from: String, onto: String, request: String, moved: Box<dyn Fn(&str) -> bool>| {
            let browser = &browser;
            let service = &service;
            let p = p.clone();
            async move {
                browser
                    .drag(
                        &from,
                        &format!("g.node[data-key='{onto}']"),
                        Duration::from_secs(20),
                    )
                    .await;
                let question = browser
                    .wait_for("dialog[open] #confirm-request", Duration::from_secs(5))
                    .await;
                assert_eq!(browser.text(&question).await, request);
                let run = browser
                    .wait_for("#confirm-run", Duration::from_secs(5))
                    .await;
                // The last action's outcome stays shown (and matching) until this one's
                // replaces it: wait for an outcome that is neither it nor "Running".
                let shown = browser
                    .wait_for("#action-result", Duration::from_secs(5))
                    .await;
                let before = browser.text(&shown).await;
                browser.click(&run).await;
                let said = browser
                    .wait_for_text(
                        "#action-result.ok, #action-result.failed",
                        Duration::from_secs(20),
                        |text| text != before && !text.starts_with("Running"),
                    )
                    .await;
                assert!(said.starts_with("Done"), "{request}: {said}");
                service.wait_for_tree(&p, Duration::from_secs(10), |tree| moved(tree));
                // The page redraws after the action; wait for the next drag's boxes.
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        };

    // Onto a sibling: move below it. Nothing moves before the confirmation.
    let r2_box = format!("g.node[data-key='{r2}']");
    browser
        .drag(
            &r2_box,
            &format!("g.node[data-key='{r1}']"),
            Duration::from_secs(20),
        )
        .await;
    let question = browser
        .wait_for("dialog[open] #confirm-request", Duration::from_secs(5))
        .await;
    assert_eq!(
        browser.text(&question).await,
        format!("POST /api/move-below/{}/{}", path(&r2), path(&r1))
    );
    browser
        .screenshot(&artifacts_dir().join("drag-confirmation.png"))
        .await;
    assert!(!service
        .stdout_of(&["topology", &p])
        .contains(&format!("  + {r2}")));
    let cancel = browser
        .wait_for("#confirm-cancel", Duration::from_secs(5))
        .await;
    browser.click(&cancel).await;
    let (r2_under_r1, r2_under_p) = (format!("  + {r2}"), format!("\n+ {r2}"));
    drop_and_run(
        r2_box.clone(),
        r1.clone(),
        format!("POST /api/move-below/{}/{}", path(&r2), path(&r1)),
        Box::new(move |tree: &str| tree.contains(&r2_under_r1)),
    )
    .await;

    // Onto its source's source: move up.
    drop_and_run(
        r2_box.clone(),
        p.clone(),
        format!("POST /api/move-up/{}", path(&r2)),
        Box::new(move |tree: &str| tree.contains(&r2_under_p)),
    )
    .await;

    // R1's replicas handle onto R2: every replica of R1 (R3) moves below R2.
    let r3_under_r2 = format!("+ {r2}");
    let r3_key = r3.clone();
    drop_and_run(
        format!("g.replicas-handle[data-replicas-of='{r1}']"),
        r2.clone(),
        format!("POST /api/relocate-replicas/{}/{}", path(&r1), path(&r2)),
        Box::new(move |tree: &str| {
            tree.lines()
                .skip_while(|l| !l.contains(&r3_under_r2))
                .nth(1)
                .is_some_and(|l| l.contains(&format!("  + {r3_key}")))
        }),
    )
    .await;

    // Anywhere else: relocate. R3 (below R2) onto R1, neither its sibling nor above it.
    let r3_under_r1 = format!("+ {r1}");
    let r3_key = r3.clone();
    drop_and_run(
        format!("g.node[data-key='{r3}']"),
        r1.clone(),
        format!("POST /api/relocate/{}/{}", path(&r3), path(&r1)),
        Box::new(move |tree: &str| {
            tree.lines()
                .skip_while(|l| !l.contains(&r3_under_r1))
                .nth(1)
                .is_some_and(|l| l.contains(&format!("  + {r3_key}")))
        }),
    )
    .await;
    browser
        .screenshot(&artifacts_dir().join("after-drag.png"))
        .await;

    // A refused drag shows the reason: R1 below its own replica R3.
    browser
        .drag(
            &format!("g.node[data-key='{r1}']"),
            &format!("g.node[data-key='{r3}']"),
            Duration::from_secs(20),
        )
        .await;
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

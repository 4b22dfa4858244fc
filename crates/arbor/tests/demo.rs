//! Both demos keep the README's promise, checked as a new user would follow them: the commands
//! they print (copied from their output, binary path and all) show the topology, kill the
//! primary, show the automated recovery in the audit, and run a graceful takeover; Ctrl-C
//! stops everything they started.

mod common;

use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, ARBOR};

/// A running `arbor demo ARGS` on a free port, its stderr in a file.
struct Demo {
    dir: tempfile::TempDir,
    process: std::process::Child,
    api: String,
}

impl Demo {
    fn start(args: &[&str]) -> Demo {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let config = dir.path().join("demo.json");
        fs::write(
            &config,
            format!(r#"{{"ListenAddress": "127.0.0.1:{port}"}}"#),
        )
        .unwrap();
        let process = Command::new(ARBOR)
            .args(["--config", config.to_str().unwrap(), "demo"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(dir.path().join("demo.stderr")).unwrap())
            .spawn()
            .unwrap();
        Demo {
            dir,
            process,
            api: format!("http://127.0.0.1:{port}"),
        }
    }

    fn stderr(&self) -> String {
        fs::read_to_string(self.dir.path().join("demo.stderr")).unwrap_or_default()
    }

    /// Waits (up to 90 s) until `check` holds, failing with `what` and the demo's output.
    fn wait(&self, what: &str, check: impl Fn() -> bool) {
        let started = Instant::now();
        while !check() {
            assert!(
                started.elapsed() < Duration::from_secs(90),
                "{what}:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The printed guide, once the demo has printed it.
    fn guide(&self) -> String {
        self.wait("the demo prints its guide", || {
            self.stderr().contains("Ctrl-C stops")
        });
        self.stderr()
    }

    /// The printed command on the line containing `marker`, without its comment, as words.
    fn printed(&self, marker: &str) -> Vec<String> {
        let guide = self.guide();
        let line = guide
            .lines()
            .find(|line| line.contains(marker))
            .unwrap_or_else(|| panic!("the demo prints a command with {marker:?}:\n{guide}"));
        let line = line.trim_start().trim_start_matches("try").trim();
        let command = line.split("   (").next().unwrap();
        command.split_whitespace().map(String::from).collect()
    }

    /// Runs a printed command exactly as printed.
    fn run(&self, words: &[String]) -> Output {
        Command::new(&words[0]).args(&words[1..]).output().unwrap()
    }

    /// Ctrl-C: the demo exits cleanly.
    fn interrupt(mut self) {
        let interrupted = Command::new("kill")
            .args(["-INT", &self.process.id().to_string()])
            .status()
            .unwrap();
        assert!(interrupted.success());
        let status = self.process.wait().unwrap();
        assert!(
            status.success(),
            "demo exited with {status}:\n{}",
            self.stderr()
        );
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// The successful recoveries `audit-recovery`'s text shows.
fn successful_recoveries(output: &Output) -> usize {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|line| line.contains(" successful"))
        .count()
}

/// The primary a printed `topology` command shows (its first line's key).
fn shown_primary(demo: &Demo, topology: &[String]) -> Option<String> {
    let output = demo.run(topology);
    let tree = String::from_utf8_lossy(&output.stdout).into_owned();
    (output.status.success())
        .then(|| {
            tree.lines()
                .next()?
                .split_whitespace()
                .next()
                .map(String::from)
        })
        .flatten()
}

/// The whole walk a new user makes, on either demo.
fn walk_through(demo: &Demo) {
    let topology = demo.printed(" topology ");
    // Every printed arbor command names a binary that exists (full path, or `arbor` on PATH).
    assert!(
        topology[0] == "arbor" || Path::new(&topology[0]).is_file(),
        "the printed binary exists: {topology:?}"
    );
    let primary = topology.last().unwrap().clone();
    demo.wait(
        "the printed topology command shows four healthy servers",
        || {
            let output = demo.run(&topology);
            String::from_utf8_lossy(&output.stdout)
                .lines()
                .filter(|l| l.contains(",ok,"))
                .count()
                == 4
        },
    );

    // The printed kill command: arbor fails the primary over on its own.
    let kill = demo.printed("/demo/kill/");
    let killed = demo.run(&kill);
    assert!(
        String::from_utf8_lossy(&killed.stdout).starts_with("killed"),
        "{killed:?}"
    );
    let audit = demo.printed(" audit-recovery");
    demo.wait("an automated recovery in the printed audit command", || {
        successful_recoveries(&demo.run(&audit)) == 1
    });
    demo.wait("a new primary in the tree", || {
        shown_primary(demo, &topology).is_some_and(|p| p != primary)
    });
    let successor = shown_primary(demo, &topology).unwrap();

    // The printed graceful takeover: a planned switchover away from the successor, which the
    // replication credentials the demo set make possible (the demoted primary replicates).
    let takeover = demo.printed("graceful-master-takeover");
    let output = demo.run(&takeover);
    assert!(
        output.status.success(),
        "graceful takeover: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    demo.wait("the takeover's new primary in the tree", || {
        shown_primary(demo, &topology).is_some_and(|p| p != successor && p != primary)
    });
    demo.wait("the demoted primary replicating in the tree", || {
        let output = demo.run(&topology);
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .any(|line| line.contains(&format!("+ {successor} ")) && line.contains(",ok,"))
    });
}

#[test]
fn the_mariadb_demo_recovers_a_killed_primary_takes_over_and_cleans_up() {
    let demo = Demo::start(&["--mariadb"]);
    let guide = demo.guide();
    let pids: Vec<u32> = guide
        .lines()
        .find(|line| line.trim_start().starts_with("server pids"))
        .expect("the demo names its servers' pids")
        .split(',')
        .filter_map(|part| part.split_whitespace().last()?.parse().ok())
        .collect();
    assert_eq!(pids.len(), 4, "{guide}");
    walk_through(&demo);

    // The printed revive command restarts the killed primary.
    let revive = demo.printed("/demo/revive/");
    let revived = demo.run(&revive);
    assert!(
        String::from_utf8_lossy(&revived.stdout).contains("restarted"),
        "{revived:?}"
    );

    // Ctrl-C takes every demo server with it.
    demo.interrupt();
    for pid in pids {
        let gone = (0..50).any(|_| {
            let state = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            if state.is_empty() || state.contains("State:\tZ") {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
            false
        });
        assert!(
            gone,
            "demo server {pid} still running after the demo stopped"
        );
    }
}

#[test]
fn the_simulated_demo_recovers_a_killed_primary_takes_over_and_stops_cleanly() {
    let demo = Demo::start(&[]);
    let get = |path: &str| -> Option<serde_json::Value> {
        let (status, body) = common::raft_group::request(&demo.api, "GET", path, false);
        (status == 200)
            .then(|| serde_json::from_str(&body).ok())
            .flatten()
    };
    // Three clusters of four appear, with nothing installed.
    demo.wait("the demo's three clusters", || {
        get("/api/clusters-info").is_some_and(|c| {
            c.as_array()
                .is_some_and(|c| c.len() == 3 && c.iter().all(|c| c["CountInstances"] == 4))
        })
    });
    walk_through(&demo);
    demo.interrupt();
}

/// The pages of the web UI, in the order a new user meets them: (name, path under the API's
/// base, what shows the page has drawn). `{p}` is the first cluster's primary, `{p_path}` the
/// same as `host/port`, `{r1_path}` its first replica's.
const PAGES: &[(&str, &str, &str)] = &[
    ("clusters", "/web/clusters", "#clusters"),
    ("cluster", "/web/cluster/{p}", "svg.tree"),
    ("instance", "/web/instance/{r1_path}", "#instance"),
    ("problems", "/web/problems", "#problems"),
    ("recoveries", "/web/audit-recovery", "#recoveries"),
    ("failed-primary", "/web/instance/{p_path}", "#instance"),
    ("ha", "/web/ha", "#single-node"),
    ("api-docs", "/api/docs", "#routes"),
];

/// Walks every page of the UI in a running demo, before and after a failover, in headless
/// Chromium: each page draws, logs no console error, shows no raw `null`/`undefined`/`NaN`,
/// and is saved as a screenshot (`docs/images/ui-NAME.png` with `ARBOR_BLESS=1`, from the
/// simulated demo, which is what docs/ui.md shows).
async fn walk_every_page(demo: &Demo, screenshots: &str) {
    let guide = demo.guide();
    let cluster_line = guide
        .lines()
        .find(|line| line.contains("primary P "))
        .expect("the guide names the first cluster's servers");
    let keys: Vec<&str> = cluster_line
        .split_whitespace()
        .filter(|w| w.starts_with("127.0.0.1:"))
        .map(|w| w.trim_end_matches(','))
        .collect();
    let (p, r1) = (keys[0].to_string(), keys[1].to_string());
    let path = |key: &str| key.replace(':', "/");
    let topology = demo.printed(" topology ");
    demo.wait("four healthy servers", || {
        String::from_utf8_lossy(&demo.run(&topology).stdout)
            .lines()
            .filter(|l| l.contains(",ok,"))
            .count()
            == 4
    });

    let browser = common::Browser::start().await;
    let bless = std::env::var_os("ARBOR_BLESS").is_some() && screenshots == "ui";
    let docs_images = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/images");
    for (index, (name, page, drawn)) in PAGES.iter().enumerate() {
        if *name == "problems" {
            // The rest of the walk is after a failover: kill the primary, wait for arbor.
            let (status, body) = common::raft_group::request(
                &demo.api,
                "POST",
                &format!("/demo/kill/{}", p.rsplit(':').next().unwrap()),
                false,
            );
            assert_eq!(status, 200, "{body}");
            let audit = demo.printed(" audit-recovery");
            demo.wait("the failover in the audit", || {
                successful_recoveries(&demo.run(&audit)) == 1
            });
            // With a second cluster (the simulated demo), a failure arbor holds back: its
            // primary downtimed, then killed. The problems page says why it waits.
            if let Some(second) = guide
                .lines()
                .filter(|line| line.contains("primary P "))
                .nth(1)
                .and_then(|line| line.split("primary P ").nth(1))
                .and_then(|rest| rest.split(',').next())
            {
                let (status, body) = common::raft_group::request(
                    &demo.api,
                    "POST",
                    &format!("/api/begin-downtime/{}/docs/maintenance/1h", path(second)),
                    false,
                );
                assert_eq!(status, 200, "{body}");
                let port = second.rsplit(':').next().unwrap();
                let (status, body) = common::raft_group::request(
                    &demo.api,
                    "POST",
                    &format!("/demo/kill/{port}"),
                    false,
                );
                assert_eq!(status, 200, "{body}");
                demo.wait("the held-back failure in the analysis", || {
                    let (_, body) = common::raft_group::request(
                        &demo.api,
                        "GET",
                        "/api/replication-analysis",
                        false,
                    );
                    body.contains("is downtimed")
                });
            }
        }
        let url = format!(
            "{}{}",
            demo.api,
            page.replace("{p}", &p)
                .replace("{p_path}", &path(&p))
                .replace("{r1_path}", &path(&r1))
        );
        browser.goto(&url).await;
        browser.wait_for(drawn, Duration::from_secs(30)).await;
        if *name == "recoveries" {
            // Open the failover's steps for the picture.
            let steps = browser
                .wait_for("#recoveries details summary", Duration::from_secs(10))
                .await;
            browser.click(&steps).await;
        }
        let text = browser
            .script("return document.body.innerText")
            .await
            .as_str()
            .unwrap_or_default()
            .to_string();
        // The API reference documents JSON, whose null is a value: the UI pages show none.
        let raws: &[&str] = if *name == "api-docs" {
            &["undefined", "NaN", "[object Object]"]
        } else {
            &["null", "undefined", "NaN", "[object Object]"]
        };
        for raw in raws {
            let shown = if raw.contains(' ') {
                text.contains(raw)
            } else {
                text.split(|c: char| !c.is_alphanumeric())
                    .any(|word| word == *raw)
            };
            assert!(!shown, "{name} ({url}) shows a raw {raw}:\n{text}");
        }
        let errors = browser.console_errors().await;
        assert!(
            errors.is_empty(),
            "{name} ({url}) logged console errors: {errors:#?}"
        );
        let file = common::artifacts_dir().join(format!("{screenshots}-{index}-{name}.png"));
        browser.screenshot(&file).await;
        let png = fs::read(&file).unwrap();
        assert!(
            png.starts_with(b"\x89PNG"),
            "{name}: a PNG at {}",
            file.display()
        );
        if bless {
            fs::create_dir_all(&docs_images).unwrap();
            fs::copy(&file, docs_images.join(format!("ui-{name}.png"))).unwrap();
        }
    }
    // What the dead former primary's page offers: no promotion, no replication changes.
    browser
        .goto(&format!("{}/web/instance/{}", demo.api, path(&p)))
        .await;
    browser.wait_for("#instance", Duration::from_secs(30)).await;
    let actions = browser
        .script(
            "return [...document.querySelectorAll('.actions button')].map(b => b.dataset.action)",
        )
        .await;
    let actions: Vec<&str> = actions
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a.as_str())
        .collect();
    for refused in [
        "graceful-master-takeover-auto",
        "stop-replica",
        "set-read-only",
        "set-writeable",
    ] {
        assert!(
            !actions.contains(&refused),
            "a dead server offers {refused}: {actions:?}"
        );
    }
    assert!(actions.contains(&"forget"), "{actions:?}");

    // docs/ui.md shows every page's picture, and each picture is there.
    let ui_doc = fs::read_to_string(docs_images.join("../ui.md")).unwrap_or_default();
    for (name, _, _) in PAGES {
        let image = format!("images/ui-{name}.png");
        assert!(ui_doc.contains(&image), "docs/ui.md shows {image}");
        assert!(
            docs_images.join(format!("ui-{name}.png")).is_file(),
            "docs/{image} exists (ARBOR_BLESS=1 writes it)"
        );
    }
}

#[tokio::test]
async fn every_page_of_the_simulated_demo_draws_without_console_errors() {
    let demo = Demo::start(&[]);
    walk_every_page(&demo, "ui").await;
    demo.interrupt();
}

#[tokio::test]
async fn every_page_of_the_mariadb_demo_draws_without_console_errors() {
    let demo = Demo::start(&["--mariadb"]);
    walk_every_page(&demo, "ui-mariadb").await;
    demo.interrupt();
}

/// Runs `arbor ARGS` on a real pseudo-terminal (util-linux's `script`), with `env` set: what a
/// person at a terminal sees.
fn on_a_terminal(args: &[String], env: &[(&str, &str)]) -> String {
    let command = args
        .iter()
        .map(|a| format!("'{a}'"))
        .collect::<Vec<_>>()
        .join(" ");
    let output = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env_remove("NO_COLOR")
        .env("TERM", "xterm")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout).replace("\r\n", "\n")
}

#[test]
fn lists_are_tables_on_a_terminal_lines_in_a_pipe_and_coloured_as_asked() {
    let demo = Demo::start(&[]);
    let topology = demo.printed(" topology ");
    let arbor: Vec<String> = topology[..topology.len() - 2].to_vec();
    let with = |args: &[&str]| -> Vec<String> {
        arbor
            .iter()
            .cloned()
            .chain(args.iter().map(|a| a.to_string()))
            .collect()
    };
    // Three clusters, each read whole (a cluster is listed as soon as its seed is known,
    // before its primary's version is).
    demo.wait("three clusters of four, their primaries read", || {
        let answer = demo.run(&with(&["clusters", "--json"]));
        let clusters: Vec<serde_json::Value> =
            serde_json::from_slice(&answer.stdout).unwrap_or_default();
        clusters.len() == 3
            && clusters.iter().all(|c| {
                c["CountInstances"] == 4
                    && c["ArborPrimaryVersion"]
                        .as_str()
                        .is_some_and(|v| !v.is_empty())
            })
    });

    // Piped: one cluster name per line, no colour, as scripts read it.
    let piped = String::from_utf8_lossy(&demo.run(&with(&["clusters"])).stdout).into_owned();
    assert!(
        piped.lines().all(|l| l.starts_with("127.0.0.1:")),
        "{piped}"
    );
    assert!(!piped.contains('\x1b'));

    // On a terminal: an aligned table with headers, coloured.
    let table = on_a_terminal(&with(&["clusters"]), &[]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 4, "a header and three clusters:\n{table}");
    assert!(
        lines[0].contains("ALIAS") && lines[0].contains("AUTOMATED RECOVERY"),
        "{table}"
    );
    assert!(
        table.contains("\x1b[1m"),
        "coloured on a terminal: {table:?}"
    );
    let plain: Vec<String> = lines
        .iter()
        .map(|l| {
            // Escape sequences out, to measure the columns as seen.
            let mut out = String::new();
            let mut skipping = false;
            for c in l.chars() {
                match (skipping, c) {
                    (_, '\x1b') => skipping = true,
                    (true, 'm') => skipping = false,
                    (true, _) => {}
                    (false, c) => out.push(c),
                }
            }
            out
        })
        .collect();
    let column = |line: &str, word: &str| line.find(word);
    let version_at = column(&plain[0], "VERSION").unwrap();
    for line in &plain[1..] {
        assert!(
            line[version_at..].starts_with("MariaDB") || line[version_at..].starts_with("MySQL"),
            "the VERSION column lines up:\n{}",
            plain.join("\n")
        );
    }
    assert!(
        plain.iter().skip(1).all(|l| l.contains(" on")),
        "{}",
        plain.join("\n")
    );

    // NO_COLOR and --color never turn colour off on a terminal; --color always turns it on
    // in a pipe.
    assert!(!on_a_terminal(&with(&["clusters"]), &[("NO_COLOR", "1")]).contains('\x1b'));
    assert!(!on_a_terminal(&with(&["--color", "never", "clusters"]), &[]).contains('\x1b'));

    // After a failover: the audit and the analysis as tables, the outcome in green.
    let kill = demo.printed("/demo/kill/");
    assert!(demo.run(&kill).status.success());
    demo.wait("the failover", || {
        successful_recoveries(&demo.run(&with(&["audit-recovery"]))) == 1
    });
    let audit = on_a_terminal(&with(&["audit-recovery"]), &[]);
    assert!(audit.lines().next().unwrap().contains("OUTCOME"), "{audit}");
    assert!(audit.contains("\x1b[32msuccessful\x1b[0m"), "{audit:?}");
    assert!(
        audit.contains(" ms  "),
        "steps with milliseconds since the start: {audit}"
    );
    let coloured_pipe = demo.run(&with(&["--color", "always", "audit-recovery"]));
    assert!(String::from_utf8_lossy(&coloured_pipe.stdout).contains("\x1b[32msuccessful"));
    let analysis = on_a_terminal(&with(&["replication-analysis"]), &[]);
    assert!(
        analysis.starts_with("none") || analysis.lines().next().unwrap().contains("ANALYSIS"),
        "{analysis}"
    );
    demo.interrupt();
}

/// Every command of orchestrator-client is a command of arbor's own CLI, with its help; and
/// those with a feature behind them work on the demo as a user of the client expects: the
/// raw API call, the node's URL, an instance known or not, the tabulated tree, the dominant
/// data centre, the auto takeover; those without (Pseudo-GTID) say why.
#[test]
fn orchestrator_client_commands_are_native_commands() {
    for command in arbor_testkit::ORCHESTRATOR_CLIENT_COMMANDS {
        // `help` is clap's own command: `arbor help` is its help.
        let args: &[&str] = if *command == "help" {
            &["help"]
        } else {
            &[command, "--help"]
        };
        let help = Command::new(common::ARBOR).args(args).output().unwrap();
        assert!(
            help.status.success(),
            "arbor {command}: {}",
            String::from_utf8_lossy(&help.stderr)
        );
    }

    let demo = Demo::start(&[]);
    let topology = demo.printed(" topology ");
    let primary = topology.last().unwrap().clone();
    let arbor: Vec<String> = topology[..topology.len() - 2].to_vec();
    let run = |args: &[&str]| {
        let words: Vec<String> = arbor
            .iter()
            .cloned()
            .chain(args.iter().map(|a| a.to_string()))
            .collect();
        let output = demo.run(&words);
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).trim().to_string(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    demo.wait("the first cluster's four servers", || {
        run(&["which-cluster-instances", &primary])
            .1
            .lines()
            .count()
            == 4
    });

    let (ok, raw, _) = run(&["api", "clusters-info"]);
    assert!(ok);
    let clusters: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(clusters.as_array().unwrap().len(), 3, "{raw}");
    assert_eq!(run(&["which-api"]).1, format!("{}/api", demo.api));
    assert_eq!(run(&["which-instance", &primary]).1, primary);
    assert_eq!(run(&["which-instance", "127.0.0.1:1"]).1, "none");
    let (ok, table, _) = run(&["topology-tabulated", &primary]);
    assert!(
        ok && table.lines().count() == 4 && table.contains('|'),
        "{table}"
    );
    let (ok, dc, _) = run(&["dominant-dc"]);
    assert!(ok && !dc.is_empty(), "{dc}");
    let (ok, _, stderr) = run(&["match", &primary, &primary]);
    assert!(!ok && stderr.contains("GTID"), "{stderr}");
    let (ok, successor, stderr) = run(&["graceful-master-takeover-auto", &primary]);
    assert!(ok, "{stderr}");
    assert!(
        successor.starts_with("127.0.0.1:") && successor != primary,
        "{successor}"
    );
    demo.wait("the takeover's new primary", || {
        run(&["which-cluster-master", &primary]).1 == successor
    });
    demo.interrupt();
}

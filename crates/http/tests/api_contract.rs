//! The API's contract without servers behind it: bad input gets a 4xx envelope with a message,
//! nothing panics or hangs, and the OpenAPI document describes every registered route.

mod common;

use std::time::Duration;

use common::{fill, http, start_node, start_node_requiring_post};
use serde_json::Value;

#[tokio::test]
async fn bad_inputs_get_a_clear_4xx_and_never_hang() {
    let node = start_node().await;
    let client = http();
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let long_host = "h".repeat(300);
    let cases: Vec<(&str, String, u16, &str)> = vec![
        (
            "GET",
            "/api/instance/db1/notaport".into(),
            400,
            "invalid port",
        ),
        ("GET", "/api/instance/db1/0".into(), 400, "invalid port"),
        ("GET", "/api/instance/db1/70000".into(), 400, "invalid port"),
        ("GET", "/api/instance/db1/-1".into(), 400, "invalid port"),
        (
            "GET",
            "/api/instance/db%20one/3306".into(),
            400,
            "invalid host",
        ),
        ("GET", "/api/instance/db%FF/3306".into(), 400, ""),
        (
            "GET",
            format!("/api/instance/{long_host}/3306"),
            400,
            "invalid host",
        ),
        (
            "GET",
            "/api/instance/unknown.example/3306".into(),
            404,
            "unknown instance",
        ),
        (
            "GET",
            "/api/instance-replicas/unknown.example/3306".into(),
            404,
            "unknown instance",
        ),
        (
            "GET",
            "/api/forget/unknown.example/3306".into(),
            404,
            "unknown instance",
        ),
        (
            "POST",
            "/api/forget/unknown.example/3306".into(),
            404,
            "unknown instance",
        ),
        ("GET", "/api/discover/db1/abc".into(), 400, "invalid port"),
        (
            "GET",
            format!("/api/discover/127.0.0.1/{closed_port}"),
            422,
            "cannot read",
        ),
        (
            "GET",
            "/api/cluster/no-such-cluster".into(),
            404,
            "unknown cluster",
        ),
        (
            "GET",
            "/api/cluster-info/no-such-cluster".into(),
            404,
            "unknown cluster",
        ),
        (
            "GET",
            "/api/topology/no-such-cluster".into(),
            404,
            "unknown cluster",
        ),
        (
            "GET",
            "/api/master/no-such-cluster".into(),
            404,
            "unknown cluster",
        ),
        (
            "GET",
            "/api/forget-cluster/no-such-cluster".into(),
            404,
            "unknown cluster",
        ),
        (
            "GET",
            "/api/problems/no-such-cluster".into(),
            404,
            "unknown cluster",
        ),
        ("GET", "/api/search".into(), 400, "missing search text"),
        ("GET", "/api/search?s=".into(), 400, "missing search text"),
        (
            "GET",
            "/api/leader-check/notacode".into(),
            400,
            "invalid status code",
        ),
        ("GET", "/api/no-such-route".into(), 404, "unknown path"),
        ("GET", "/api/instance/db1".into(), 404, "unknown path"),
        ("POST", "/api/clusters".into(), 405, "not allowed"),
        ("DELETE", "/api/forget/db1/3306".into(), 405, "not allowed"),
    ];
    for (method, path, expected_status, expected_text) in cases {
        let request = client
            .request(method.parse().unwrap(), format!("{}{path}", node.base))
            .timeout(Duration::from_secs(15));
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: no answer: {e}"));
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        assert_eq!(status, expected_status, "{method} {path}: {text}");
        let body: Value = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("{method} {path}: body is not JSON: {text}"));
        assert_eq!(body["Code"], "ERROR", "{method} {path}: {body}");
        let message = body["Message"].as_str().unwrap_or("");
        assert!(!message.is_empty(), "{method} {path}: empty message");
        assert!(
            message.to_lowercase().contains(expected_text),
            "{method} {path}: message {message:?} should mention {expected_text:?}"
        );
    }
    // Still serving after all of that.
    let health = client
        .get(format!("{}/api/health", node.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}

/// The OpenAPI document a node at `base` serves.
async fn openapi_document(client: &reqwest::Client, base: &str) -> Value {
    client
        .get(format!("{base}/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The API reference exists twice, both rendered from the served OpenAPI document: the page at
/// `/api/docs` (every route on it, nothing loaded from elsewhere) and `docs/api.md`, which must
/// be what the document renders to today.
#[tokio::test]
async fn the_api_reference_page_and_file_are_current() {
    let node = start_node().await;
    let client = http();
    let document = openapi_document(&client, &node.base).await;
    let page = client
        .get(format!("{}/api/docs", node.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let page = page.text().await.unwrap();
    for spec in &node.specs {
        let path = spec.path.replace('&', "&amp;");
        assert!(
            page.contains(&format!("<code>{path}</code>")),
            "{path} on the page"
        );
    }
    assert!(
        !page.contains("https://") && !page.contains("http://"),
        "no CDN"
    );

    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/api.md");
    let written = arbor_http::api_docs::reference_markdown(&document);
    if std::env::var_os("ARBOR_BLESS").is_some() {
        std::fs::write(&path, &written).unwrap();
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == written,
        "docs/api.md is out of date: run ARBOR_BLESS=1 cargo test -p arbor-http api_reference"
    );
}

#[tokio::test]
async fn openapi_describes_every_registered_route() {
    let node = start_node().await;
    let client = http();
    let document = openapi_document(&client, &node.base).await;
    assert_eq!(document["openapi"], "3.0.3");
    let paths = document["paths"].as_object().unwrap();
    assert_eq!(paths.len(), node.specs.len(), "one path item per route");
    for spec in &node.specs {
        let item = paths
            .get(spec.path)
            .unwrap_or_else(|| panic!("{} is not described", spec.path));
        for method in spec.methods() {
            let operation = &item[*method];
            assert!(
                operation["summary"].is_string(),
                "{method} {} has no summary",
                spec.path
            );
            assert!(
                operation["responses"]["200"].is_object(),
                "{method} {}",
                spec.path
            );
        }
        // The described route really is served: it never falls through to "unknown path".
        let url = format!(
            "{}{}",
            node.base,
            fill(spec.path, "127.0.0.1", 1, "some-cluster")
        );
        let text = client.get(&url).send().await.unwrap().text().await.unwrap();
        assert!(
            !text.contains("unknown path"),
            "{} is described but not served",
            spec.path
        );
    }
    let instance = &document["components"]["schemas"]["Instance"]["properties"];
    assert!(instance["ReplicationSQLThreadRuning"].is_object());
    assert!(instance["SlaveHosts"].is_object());
}

/// Nothing changes state by accident: for every mutating route in the registry, HEAD (which
/// crawlers and monitors send) is refused with 405, and a browser's request from another site
/// with 403, before the handler runs; the same request from a program, or from arbor's own
/// page, still works.
#[tokio::test]
async fn head_and_cross_site_requests_never_change_anything() {
    let node = start_node().await;
    let client = http();
    let writes: Vec<_> = node
        .specs
        .iter()
        .filter(|spec| spec.access == arbor_http::Access::Write)
        .collect();
    assert!(writes.len() > 40, "the registry lists the mutating routes");
    for spec in &writes {
        let url = format!(
            "{}{}",
            node.base,
            fill(spec.path, "127.0.0.1", 1, "some-cluster")
        );
        let head = client.head(&url).send().await.unwrap();
        assert_eq!(head.status(), 405, "HEAD {}", spec.path);
        for (name, value) in [
            ("origin", "https://evil.example"),
            ("sec-fetch-site", "cross-site"),
            ("referer", "https://evil.example/page.html"),
        ] {
            for method in [reqwest::Method::GET, reqwest::Method::POST] {
                let response = client
                    .request(method.clone(), &url)
                    .header(name, value)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 403, "{method} {} with {name}", spec.path);
            }
        }
    }

    // And the state did not change: recoveries are still enabled after HEAD and a forged
    // form, and a program's request, or arbor's own page's, disables them.
    let check = || async {
        client
            .get(format!("{}/api/check-global-recoveries", node.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    assert!(check().await.contains("enabled"), "{}", check().await);
    let disable = format!("{}/api/disable-global-recoveries", node.base);
    let own_origin = node.base.split("/api").next().unwrap().to_string();
    let response = client
        .post(&disable)
        .header("origin", own_origin.as_str())
        .header("x-arbor-request", "ui")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(check().await.contains("disabled"), "{}", check().await);
}

/// A request head over 1 MiB gets 431 with a message, read to its end first, so a client
/// still sending a 2 MB head gets the answer rather than a connection closed under it.
#[tokio::test]
async fn oversized_request_heads_get_431_not_a_closed_connection() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let node = start_node().await;
    let address = node.base.trim_start_matches("http://").to_string();
    for (size, expected) in [
        (100_000, "200"),
        (1_100_000, "431"),
        (2_000_000, "431"),
        (6_000_000, "431"),
    ] {
        let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
        let head = format!(
            "GET /api/clusters HTTP/1.1\r\nHost: {address}\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
            "a".repeat(size)
        );
        stream
            .write_all(head.as_bytes())
            .await
            .unwrap_or_else(|e| panic!("{size}-byte head: cut off while sending: {e}"));
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(15), stream.read_to_end(&mut answer))
            .await
            .expect("an answer in time")
            .unwrap_or_else(|e| panic!("{size}-byte head: no answer: {e}"));
        let answer = String::from_utf8_lossy(&answer);
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {expected}")),
            "{size}-byte head: {}",
            answer.lines().next().unwrap_or("")
        );
        if expected == "431" {
            assert!(answer.contains("arbor reads at most"), "{answer}");
        }
    }
}

/// `X-Forwarded-Host`/`-Proto` from a peer that is not a trusted proxy are ignored: they
/// cannot be reflected into the URLs arbor writes.
#[tokio::test]
async fn forwarded_headers_from_untrusted_peers_are_not_reflected() {
    let node = start_node().await;
    let document: Value = http()
        .get(format!("{}/api/openapi.json", node.base))
        .header("X-Forwarded-Host", "evil.example")
        .header("X-Forwarded-Proto", "https")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let host = node.base.trim_start_matches("http://");
    assert_eq!(document["servers"][0]["url"], format!("http://{host}"));
}

/// orchestrator-client's URLs: a trailing slash when an optional argument is empty, and the
/// `*-slave` family and older names of routes, answered like the routes they name.
#[tokio::test]
async fn trailing_slashes_and_orchestrators_other_route_names_are_answered() {
    let node = start_node().await;
    let client = http();
    let get = |path: &str| {
        let client = client.clone();
        let url = format!("{}{path}", node.base);
        async move {
            let response = client.get(url).send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.text().await.unwrap())
        }
    };
    let (status, body) = get("/api/clusters/").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = get("/api/downtimed/").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = get("/api/tagged/?tag=role").await;
    assert_eq!(status, 200, "the query survives the trailing slash: {body}");
    for synonym in [
        "stop-slave",
        "start-slave",
        "restart-slave",
        "reset-slave",
        "detach-replica",
        "detach-slave",
        "reattach-replica",
        "reattach-slave",
        "detach-slave-master-host",
        "reattach-slave-master-host",
        "enslave-master",
        "enslave-siblings",
        "move-up-slaves",
        "repoint-slaves",
        // Not a synonym: orchestrator answers an unknown instance with an error, not "0 moved".
        "repoint-replicas",
    ] {
        let (status, body) = get(&format!("/api/{synonym}/db9.example/3306")).await;
        assert_eq!(status, 404, "{synonym}: {body}");
        assert!(
            body.contains("unknown instance"),
            "{synonym} is routed: {body}"
        );
    }
    for synonym in ["relocate-slaves", "move-slaves-gtid", "relocate-below"] {
        let (status, body) =
            get(&format!("/api/{synonym}/db9.example/3306/db8.example/3306")).await;
        assert!(
            !body.contains("unknown path"),
            "{synonym} is routed: {status} {body}"
        );
    }
}

/// orchestrator routes arbor deliberately does not build answer 501 with why and what to use
/// instead, never "unknown path".
#[tokio::test]
async fn routes_not_built_on_purpose_say_why() {
    let node = start_node().await;
    let client = http();
    for (path, says) in [
        ("/api/match-below/db1/3306/db2/3306", "GTID"),
        ("/api/match-up-replicas/db1/3306", "Pseudo-GTID"),
        ("/api/last-pseudo-gtid/db1/3306", "Pseudo-GTID"),
        ("/api/regroup-replicas-bls/db1/3306", "binlog servers"),
        ("/api/agent-seed/db1/db2", "orchestrator-agent"),
        ("/api/agents", "orchestrator-agent"),
    ] {
        let response = client
            .get(format!("{}{path}", node.base))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 501, "{path}: {body}");
        assert_eq!(body["Code"], "ERROR", "{path}");
        let message = body["Message"].as_str().unwrap_or("");
        assert!(message.contains(says), "{path}: {message}");
    }
    let response = client
        .get(format!("{}/api/no-such-thing", node.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 404);
}

/// The route table of `docs/migrating-from-orchestrator.md` lists all 245 routes orchestrator
/// registers; walked against a running arbor, each answers as its row says and none answers
/// "unknown path". Servers are named 127.0.0.9:1 (nothing listens there), so that routes that
/// act refuse quickly rather than change anything.
#[tokio::test]
async fn every_orchestrator_route_in_the_migration_guide_is_answered() {
    let guide = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../docs/migrating-from-orchestrator.md"),
    )
    .unwrap();
    let table = guide
        .split_once("## Every orchestrator route")
        .expect("the guide has the route table")
        .1;
    let rows: Vec<(String, String)> = table
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let route = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
            Some((route.to_string(), cells.get(2)?.to_string()))
        })
        .collect();
    assert_eq!(
        rows.len(),
        245,
        "the table lists every orchestrator route once"
    );
    let distinct: std::collections::HashSet<&String> = rows.iter().map(|(r, _)| r).collect();
    assert_eq!(distinct.len(), rows.len(), "no route is listed twice");

    let node = start_node().await;
    let client = http();
    let mut wrong = Vec::new();
    for (route, status) in &rows {
        let path: Vec<String> = route
            .split('/')
            .map(|segment| match segment.strip_prefix(':') {
                None => segment.to_string(),
                Some(name) if name.ends_with("ost") => "127.0.0.9".into(),
                Some(name) if name.ends_with("ort") => "1".into(),
                Some("logFile") => "mysql-bin.000001".into(),
                Some("duration") => "10m".into(),
                Some("promotionRule") => "prefer".into(),
                Some(name)
                    if [
                        "page",
                        "id",
                        "recoveryId",
                        "maintenanceKey",
                        "seconds",
                        "process",
                        "logPos",
                        "seedId",
                        "errorStatusCode",
                    ]
                    .contains(&name) =>
                {
                    "7".into()
                }
                Some(_) => "word".into(),
            })
            .collect();
        let url = format!("{}/api/{}", node.base, path.join("/"));
        let response = client.get(&url).send().await.unwrap();
        let code = response.status().as_u16();
        let body = response.text().await.unwrap();
        let ok = match status.as_str() {
            "built" => code != 501 && code < 500 && !body.contains("unknown path"),
            "not built" => code == 501 && !body.contains("not built yet"),
            "not yet" => code == 501 && body.contains("not built yet"),
            other => panic!("{route}: unknown status {other:?} in the table"),
        };
        if !ok {
            wrong.push(format!("{route} ({status}): {code} {body}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "routes not answered as the table says:\n{}",
        wrong.join("\n")
    );
}

/// `RequirePostForChanges`: a route that changes something refuses GET with 405 naming POST
/// (and changes nothing), answers POST, and the OpenAPI document lists POST only.
#[tokio::test]
async fn with_require_post_for_changes_only_post_changes_anything() {
    let node = start_node_requiring_post().await;
    let client = http();
    let refused = client
        .get(format!("{}/api/disable-global-recoveries", node.base))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 405);
    assert_eq!(refused.headers()["allow"], "POST");
    let body: Value = refused.json().await.unwrap();
    assert!(
        body["Message"].as_str().unwrap().contains("use POST"),
        "{body}"
    );
    let check: Value = client
        .get(format!("{}/api/check-global-recoveries", node.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        check["Details"], "enabled",
        "the refused GET changed nothing"
    );
    let done = client
        .post(format!("{}/api/disable-global-recoveries", node.base))
        .send()
        .await
        .unwrap();
    assert_eq!(done.status().as_u16(), 200);
    let document = openapi_document(&client, &node.base).await;
    let operations = &document["paths"]["/api/disable-global-recoveries"];
    assert!(
        operations.get("post").is_some() && operations.get("get").is_none(),
        "{operations}"
    );
    // Reads still answer GET.
    assert!(document["paths"]["/api/clusters"].get("get").is_some());
}

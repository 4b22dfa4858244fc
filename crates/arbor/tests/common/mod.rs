//! Shared by the binary's tests: a running `arbor serve` and small helpers.
// Each test binary uses part of these helpers.
#![allow(dead_code)]

pub mod fleet;
pub mod raft_group;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use arbor_testkit::ADMIN_PASSWORD;

pub const ARBOR: &str = env!("CARGO_BIN_EXE_arbor");

/// A running `arbor serve`, killed when dropped (also when the test fails).
pub struct Service {
    child: Child,
    pub api: String,
    stderr_path: PathBuf,
}

impl Service {
    pub fn start(dir: &Path, config: &str) -> Service {
        Service::start_with_env(dir, config, &[])
    }

    /// Starts with extra environment variables (e.g. `ARBOR_RAFT_FAULTS=1`).
    pub fn start_with_env(dir: &Path, config: &str, env: &[(&str, &str)]) -> Service {
        let config_path = dir.join("arbor.conf.json");
        fs::write(&config_path, config).unwrap();
        let stderr_path = dir.join("serve.stderr");
        // `ARBOR_TEST_BIN` runs another build of arbor (a soak keeps its own copy, so that
        // rebuilding the workspace meanwhile does not swap the binary under it).
        let binary = std::env::var("ARBOR_TEST_BIN").unwrap_or_else(|_| ARBOR.to_string());
        let child = Command::new(binary)
            .args(["--config", config_path.to_str().unwrap(), "serve"])
            .env("ARBOR_E2E_TOPOLOGY_PASSWORD", ADMIN_PASSWORD)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&stderr_path).unwrap())
            .spawn()
            .unwrap();
        let port = serde_json::from_str::<serde_json::Value>(config).unwrap()["ListenAddress"]
            .as_str()
            .unwrap()
            .rsplit_once(':')
            .unwrap()
            .1
            .to_string();
        let service = Service {
            child,
            api: format!("http://127.0.0.1:{port}"),
            stderr_path,
        };
        // Ready when the API port accepts connections (a plain TCP check, so that it works
        // whatever authentication the config asks for).
        let address = service.api.trim_start_matches("http://").to_string();
        let started = Instant::now();
        while std::net::TcpStream::connect(&address).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "arbor serve did not come up: {}",
                service.stderr()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        service
    }

    pub fn cli(&self, args: &[&str]) -> Output {
        self.cli_with_env(args, &[])
    }

    /// Runs a client command with extra environment variables.
    pub fn cli_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        Command::new(ARBOR)
            .args(["--api", &self.api])
            .args(args)
            .envs(env.iter().copied())
            .env_remove("ARBOR_API")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    pub fn stdout_of(&self, args: &[&str]) -> String {
        let output = self.cli(args);
        assert!(
            output.status.success(),
            "arbor {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Polls `arbor topology HINT` until `accept` likes the tree, or the deadline passes.
    pub fn wait_for_tree(
        &self,
        hint: &str,
        deadline: Duration,
        accept: impl Fn(&str) -> bool,
    ) -> String {
        let started = Instant::now();
        let mut tree = String::new();
        while started.elapsed() < deadline {
            let output = self.cli(&["topology", hint]);
            tree = String::from_utf8_lossy(&output.stdout).into_owned();
            if output.status.success() && accept(&tree) {
                return tree;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("tree not as expected after {deadline:?}:\n{tree}");
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port free now, chosen below the kernel's ephemeral range (32768 and up): a port the kernel
/// hands out for `:0` binds and outgoing connections, which other tests make by the thousand,
/// could be taken again before the process given it binds it.
pub fn free_port() -> u16 {
    arbor_testkit::reserve_port().unwrap()
}

/// A config for `arbor serve` watching test servers: a free port, the test kit's account, a
/// fast poll, SQLite in `dir`, plus `extra` keys (a JSON object's inner text, may be empty).
pub fn test_config(dir: &Path, poll_seconds: u64, extra: &str) -> String {
    let extra = if extra.trim().is_empty() {
        String::new()
    } else {
        format!(",\n{extra}")
    };
    format!(
        r#"{{
            "ListenAddress": "127.0.0.1:{}",
            "MySQLTopologyUser": "{}",
            "MySQLTopologyPassword": "${{ARBOR_E2E_TOPOLOGY_PASSWORD}}",
            "InstancePollSeconds": {poll_seconds},
            "SQLite3DataFile": "{}"{extra}
        }}"#,
        free_port(),
        arbor_testkit::ADMIN_USER,
        dir.join("arbor.sqlite3").display()
    )
}

/// Where tests keep files a person may want to look at after a run (screenshots).
pub fn artifacts_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("artifacts");
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `arbor ARGS` with only the given `ARBOR_*` variables set: (success, stdout, stderr).
pub fn run(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let mut command = Command::new(ARBOR);
    for (name, _) in std::env::vars() {
        if name.starts_with("ARBOR_") {
            command.env_remove(name);
        }
    }
    let output = command
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

pub fn chromium() -> PathBuf {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|path| path.exists())
        .expect("chromium not found: scripts/test.sh installs Debian's chromium")
}

/// Loads `url` headless and returns the DOM after the page's scripts ran; with `screenshot`,
/// also saves a PNG of the page there.
pub fn render(url: &str, screenshot: Option<&Path>) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut command = Command::new(chromium());
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-quic",
            "--no-first-run",
            "--window-size=1400,900",
            // Lets the page fetch the API and draw before the DOM is taken.
            "--virtual-time-budget=4000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .stdin(Stdio::null())
        .stderr(Stdio::null());
    match screenshot {
        Some(path) => command.arg(format!("--screenshot={}", path.display())),
        None => command.arg("--dump-dom"),
    };
    let output = command.arg(url).output().unwrap();
    assert!(output.status.success(), "chromium failed on {url}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The `data-status` of the node drawn for `key`, if the page drew one.
pub fn node_status<'a>(dom: &'a str, key: &str) -> Option<&'a str> {
    let start = dom.find(&format!("data-key=\"{key}\""))?;
    let tag_end = start + dom[start..].find('>')?;
    let tag = &dom[start..tag_end];
    let status_at = tag.find("data-status=\"")? + "data-status=\"".len();
    let status_len = tag[status_at..].find('"')?;
    Some(&tag[status_at..status_at + status_len])
}

/// Renders `url` until `accept` likes the DOM (the UI refreshes itself; servers change).
pub fn render_until(url: &str, deadline: Duration, accept: impl Fn(&str) -> bool) -> String {
    let started = Instant::now();
    loop {
        let dom = render(url, None);
        if accept(&dom) {
            return dom;
        }
        assert!(
            started.elapsed() < deadline,
            "page {url} never showed what was expected:\n{dom}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// A headless Chromium driven through chromedriver's WebDriver protocol (JSON over HTTP), for
/// tests that need real pointer input (drag and drop) rather than a rendered DOM.
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    http: reqwest::Client,
    _profile: tempfile::TempDir,
}

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

impl Browser {
    pub async fn start() -> Browser {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let port = free_port();
        let driver = Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver: scripts/test.sh installs Debian's chromium-driver");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let profile = tempfile::tempdir().unwrap();
        let capabilities = serde_json::json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            // The page's console, for tests that fail on any error it logs.
            "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {
                "binary": chromium().display().to_string(),
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                         "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run",
                         "--window-size=1400,900", format!("--user-data-dir={}", profile.path().display())]
            }
        }}});
        let started = Instant::now();
        let session = loop {
            if let Ok(response) = http
                .post(format!("{base}/session"))
                .json(&capabilities)
                .send()
                .await
            {
                let body: serde_json::Value = response.json().await.unwrap();
                break body["value"]["sessionId"]
                    .as_str()
                    .expect("a WebDriver session")
                    .to_string();
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "chromedriver did not start"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        Browser {
            driver,
            base,
            session,
            http,
            _profile: profile,
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: serde_json::Value,
    ) -> serde_json::Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let request = self.http.request(method, url);
        let request = if body.is_null() {
            request
        } else {
            request.json(&body)
        };
        request.send().await.unwrap().json().await.unwrap()
    }

    pub async fn goto(&self, url: &str) {
        self.call(
            reqwest::Method::POST,
            "/url",
            serde_json::json!({"url": url}),
        )
        .await;
    }

    /// The element matching `css`, once the page shows one (or panics after `deadline`).
    pub async fn wait_for(&self, css: &str, deadline: Duration) -> String {
        let started = Instant::now();
        loop {
            let found = self
                .call(
                    reqwest::Method::POST,
                    "/element",
                    serde_json::json!({"using": "css selector", "value": css}),
                )
                .await;
            if let Some(id) = found["value"][ELEMENT].as_str() {
                return id.to_string();
            }
            assert!(
                started.elapsed() < deadline,
                "{css} never appeared:\n{}",
                self.source().await
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The text of the element matching `css` once it satisfies `wanted` (or panics after
    /// `deadline`). Element and text are read one after the other, so the page may change in
    /// between: `wanted` must hold of the text alone.
    pub async fn wait_for_text(
        &self,
        css: &str,
        deadline: Duration,
        wanted: impl Fn(&str) -> bool,
    ) -> String {
        let started = Instant::now();
        loop {
            let left = deadline.saturating_sub(started.elapsed());
            let element = self.wait_for(css, left).await;
            let text = self.text(&element).await;
            if wanted(&text) {
                return text;
            }
            assert!(
                started.elapsed() < deadline,
                "{css} still says {text:?}:\n{}",
                self.source().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Presses the mouse on the element matching `from`, moves it onto the one matching `to`,
    /// releases it. The page redraws itself every few seconds, so an element found a moment
    /// ago may be gone (WebDriver's "stale element reference"): then both are found again and
    /// the drag is made again, as a person would after a redraw. Any other refusal fails.
    pub async fn drag(&self, from: &str, to: &str, deadline: Duration) {
        let origin = |id: &str| serde_json::json!({ELEMENT: id});
        let started = Instant::now();
        loop {
            let left = deadline.saturating_sub(started.elapsed());
            let dragged = self.wait_for(from, left).await;
            let target = self.wait_for(to, left).await;
            let actions = serde_json::json!({"actions": [{
                "type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"},
                "actions": [
                    {"type": "pointerMove", "origin": origin(&dragged), "x": 0, "y": 0, "duration": 0},
                    {"type": "pointerDown", "button": 0},
                    {"type": "pointerMove", "origin": origin(&target), "x": 0, "y": 0, "duration": 200},
                    {"type": "pointerUp", "button": 0}
                ]
            }]});
            let answer = self.call(reqwest::Method::POST, "/actions", actions).await;
            // Whatever happened, no button stays pressed for the next attempt or action.
            self.call(reqwest::Method::DELETE, "/actions", serde_json::Value::Null)
                .await;
            match answer["value"]["error"].as_str() {
                None => return,
                Some("stale element reference") if started.elapsed() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Some(error) => panic!("dragging {from} onto {to}: {error}: {answer}"),
            }
        }
    }

    pub async fn click(&self, element: &str) {
        self.call(
            reqwest::Method::POST,
            &format!("/element/{element}/click"),
            serde_json::json!({}),
        )
        .await;
    }

    pub async fn text(&self, element: &str) -> String {
        let answer = self
            .call(
                reqwest::Method::GET,
                &format!("/element/{element}/text"),
                serde_json::Value::Null,
            )
            .await;
        answer["value"].as_str().unwrap_or_default().to_string()
    }

    pub async fn source(&self) -> String {
        let answer = self
            .call(reqwest::Method::GET, "/source", serde_json::Value::Null)
            .await;
        answer["value"].as_str().unwrap_or_default().to_string()
    }

    /// Saves a PNG of the page (decoded with coreutils' base64, to need no crate for it).
    pub async fn screenshot(&self, path: &Path) {
        let answer = self
            .call(reqwest::Method::GET, "/screenshot", serde_json::Value::Null)
            .await;
        let encoded = answer["value"].as_str().unwrap_or_default().to_string();
        let mut decoder = Command::new("base64")
            .arg("-d")
            .stdin(Stdio::piped())
            .stdout(fs::File::create(path).unwrap())
            .spawn()
            .unwrap();
        use std::io::Write;
        decoder
            .stdin
            .take()
            .unwrap()
            .write_all(encoded.as_bytes())
            .unwrap();
        decoder.wait().unwrap();
    }
}

impl Browser {
    /// The page's console messages at level SEVERE (errors, failed requests) since the last
    /// call.
    pub async fn console_errors(&self) -> Vec<String> {
        let answer = self
            .call(
                reqwest::Method::POST,
                "/se/log",
                serde_json::json!({"type": "browser"}),
            )
            .await;
        answer["value"]
            .as_array()
            .expect("chromedriver answers the browser log")
            .iter()
            .filter(|entry| entry["level"] == "SEVERE")
            .map(|entry| entry["message"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// Runs `script` in the page and answers what it returns.
    pub async fn script(&self, script: &str) -> serde_json::Value {
        let answer = self
            .call(
                reqwest::Method::POST,
                "/execute/sync",
                serde_json::json!({"script": script, "args": []}),
            )
            .await;
        answer["value"].clone()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ending the session makes chromedriver stop its Chromium; killing chromedriver alone
        // would leave the browser's processes running. A plain request: Drop cannot await.
        use std::io::{Read, Write};
        let address = self.base.trim_start_matches("http://").to_string();
        if let Ok(mut stream) = std::net::TcpStream::connect(&address) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let _ = write!(
                stream,
                "DELETE /session/{} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n",
                self.session
            );
            let mut answer = Vec::new();
            let _ = stream.read_to_end(&mut answer);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

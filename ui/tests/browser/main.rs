//! The console in a real browser: Debian's chromium, driven over WebDriver by chromedriver.
//! Log in, add an endpoint for a real agent, see the real engine's containers, stop one,
//! watch its state change live and its audit row appear; and a node's and a container's
//! usage charts drawn from the agent's samples, read with the crosshair's tooltip.
//! Screenshots of the main pages go to `target/tmp/ui-screenshots/`.

#[path = "../common/mod.rs"]
mod common;
mod look;
mod netns;

use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use http::{header, Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};

use common::*;
use netns::BrowserNet;

mod alerts;
mod channels;
mod checks;
mod containers;
mod logs;
mod network;
mod sign_in;
mod terminal;
mod tokens;
mod updates;

/// chromedriver in a network namespace of its own ([`BrowserNet`]), stopped when dropped.
pub(crate) struct Driver {
    child: Child,
    net: Arc<BrowserNet>,
}

/// chromedriver's port, in its namespace.
const DRIVER_PORT: u16 = 9515;

/// How long a page just opened may take to show what a test waits for.
const FIRST_LOAD: Duration = Duration::from_secs(30);

impl Driver {
    pub(crate) fn start() -> Self {
        let found = Command::new("chromedriver").arg("--version").output();
        assert!(
            found.is_ok_and(|o| o.status.success()),
            "chromedriver is not installed: scripts/test.sh installs Debian's chromium and chromium-driver"
        );
        let net = Arc::new(BrowserNet::make());
        // A process group of its own, so that chromium goes with it even when a test
        // panics before it ends its session.
        let child = net
            .command("chromedriver")
            .arg(format!("--port={DRIVER_PORT}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start chromedriver");
        Self { child, net }
    }

    /// Lets the browser reach `port` on this machine's loopback (a server the test started
    /// that the browser is sent to without [`Browser::goto`], such as an OpenID provider).
    pub(crate) async fn forward(&self, port: u16) {
        self.net.forward(port).await;
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A WebDriver session: the handful of commands the test needs.
pub(crate) struct Browser {
    net: Arc<BrowserNet>,
    session: String,
}

impl Browser {
    pub(crate) async fn call(
        net: &BrowserNet,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let tcp = net.connect(DRIVER_PORT).await.map_err(|e| e.to_string())?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, format!("127.0.0.1:{DRIVER_PORT}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
        let status = resp.status();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
        if status.is_success() {
            Ok(value["value"].clone())
        } else {
            Err(format!("{status}: {}", value["value"]["message"]))
        }
    }

    pub(crate) async fn start(driver: &Driver) -> Self {
        let start = Instant::now();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "acceptInsecureCerts": true,
            "goog:chromeOptions": {"args": [
                "--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                "--disable-gpu", "--window-size=1366,900", "--ignore-certificate-errors",
                "--force-prefers-reduced-motion",
            ]},
        }}});
        loop {
            match Self::call(&driver.net, Method::POST, "/session", Some(caps.clone())).await {
                Ok(v) => {
                    return Self {
                        net: Arc::clone(&driver.net),
                        session: v["sessionId"].as_str().expect("a session ID").to_owned(),
                    }
                }
                Err(e) if start.elapsed() > Duration::from_secs(30) => {
                    panic!("chromium did not start under chromedriver: {e}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }

    pub(crate) async fn cmd(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        Self::call(
            &self.net,
            method,
            &format!("/session/{}{path}", self.session),
            body,
        )
        .await
    }

    /// Opens `url`, letting the browser reach its port first.
    pub(crate) async fn goto(&self, url: &str) {
        if let Some(port) = netns::port_of(url) {
            self.net.forward(port).await;
        }
        self.cmd(Method::POST, "/url", Some(json!({"url": url})))
            .await
            .unwrap_or_else(|e| panic!("open {url}: {e}"));
        let error = self
            .script(
                "const page = document.querySelector('.neterror, #main-frame-error');\
                 return page && (document.querySelector('.error-code')?.textContent || 'no code');",
            )
            .await;
        if let Some(code) = error.as_str() {
            let page = self.page_state().await;
            panic!("open {url}: the browser's network error page ({code}): {page}");
        }
    }

    /// Opens `url` and waits up to 30 s for `css`.
    pub(crate) async fn open_until(&self, url: &str, css: &str) {
        self.goto(url).await;
        self.wait_up_to(css, FIRST_LOAD).await;
    }

    /// Waits up to 30 s for `css` on a page a redirect landed on (an OpenID provider's,
    /// back to the console).
    pub(crate) async fn wait_landed(&self, css: &str) {
        self.wait_up_to(css, FIRST_LOAD).await;
    }

    /// Opens the console at `base` on a fresh page and signs `user` in with a password;
    /// waits for the home page.
    pub(crate) async fn log_in(&self, base: &str, user: &str, password: &str) {
        self.open_until(&format!("{base}/"), "#login-username")
            .await;
        self.type_into("#login-username", user).await;
        self.type_into("#login-password", password).await;
        self.click("#login-submit").await;
        self.wait("[data-page=home]").await;
    }

    pub(crate) async fn find(&self, css: &str) -> Result<String, String> {
        let v = self
            .cmd(
                Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await?;
        v.as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| format!("no element ID for {css}"))
    }

    /// Waits up to 20 s for an element matching `css`.
    pub(crate) async fn wait(&self, css: &str) -> String {
        self.wait_up_to(css, Duration::from_secs(20)).await
    }

    /// Waits up to `limit` for an element matching `css`; fails with a screenshot and the
    /// page's state.
    async fn wait_up_to(&self, css: &str, limit: Duration) -> String {
        let start = Instant::now();
        loop {
            match self.find(css).await {
                Ok(id) => return id,
                Err(e) if start.elapsed() > limit => {
                    let shot = self.screenshot("failure").await;
                    let page = self.page_state().await;
                    panic!(
                        "{css} did not appear within {limit:?} ({e}); screenshot {}; the page: {page}",
                        shot.display()
                    )
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(150)).await,
            }
        }
    }

    /// What the page is at, for a failure's message: its address, whether it finished
    /// loading, and the resources it fetched with how long each took.
    async fn page_state(&self) -> String {
        let script = "return [location.href, document.readyState, \
             performance.getEntriesByType('resource').map(e => \
             e.name.split('/').pop() + ' ' + Math.round(e.duration) + ' ms').join(', ')].join(' | ')";
        self.cmd(
            Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
        .await
        .map(|v| v.to_string())
        .unwrap_or_else(|e| format!("not readable: {e}"))
    }

    /// Clicks the element matching `css`. A live page may replace it between finding and
    /// clicking (another test's containers come and go): it is found again, a few times.
    pub(crate) async fn click(&self, css: &str) {
        for attempt in 1..=5 {
            let id = self.wait(css).await;
            match self
                .cmd(
                    Method::POST,
                    &format!("/element/{id}/click"),
                    Some(json!({})),
                )
                .await
            {
                Ok(_) => return,
                Err(e) if e.contains("stale element") && attempt < 5 => continue,
                Err(e) => panic!("click {css}: {e}"),
            }
        }
    }

    pub(crate) async fn type_into(&self, css: &str, text: &str) {
        let id = self.wait(css).await;
        let _ = self
            .cmd(
                Method::POST,
                &format!("/element/{id}/clear"),
                Some(json!({})),
            )
            .await;
        self.cmd(
            Method::POST,
            &format!("/element/{id}/value"),
            Some(json!({"text": text})),
        )
        .await
        .unwrap_or_else(|e| panic!("type into {css}: {e}"));
    }

    /// Sets a form field's value by script (long texts such as a PEM), firing `input`.
    pub(crate) async fn set_value(&self, css: &str, text: &str) {
        self.wait(css).await;
        let script = "const el = document.querySelector(arguments[0]); el.value = arguments[1]; \
                      el.dispatchEvent(new Event('input', {bubbles: true})); \
                      el.dispatchEvent(new Event('change', {bubbles: true}));";
        self.cmd(
            Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": [css, text]})),
        )
        .await
        .unwrap_or_else(|e| panic!("set {css}: {e}"));
    }

    pub(crate) async fn attribute(&self, css: &str, name: &str) -> Option<String> {
        let id = self.find(css).await.ok()?;
        self.cmd(
            Method::GET,
            &format!("/element/{id}/attribute/{name}"),
            None,
        )
        .await
        .ok()?
        .as_str()
        .map(str::to_owned)
    }

    /// The rendered text of the element matching `css`. WebDriver reads an element that is
    /// not shown yet (a dialog still fading in from opacity 0) as empty, so an empty read is
    /// tried again, for up to 2 s, before it is taken as the element's text.
    pub(crate) async fn text(&self, css: &str) -> String {
        let start = Instant::now();
        loop {
            let id = self.wait(css).await;
            let text = self
                .cmd(Method::GET, &format!("/element/{id}/text"), None)
                .await
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            if !text.is_empty() || start.elapsed() > Duration::from_secs(2) {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Runs `script` in the page and gives back what it returns.
    pub(crate) async fn script(&self, script: &str) -> Value {
        self.cmd(
            Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
        .await
        .unwrap_or_else(|e| panic!("run {script}: {e}"))
    }

    /// Runs `script` in the page as the body of an async function and gives back the value
    /// it resolves to.
    pub(crate) async fn script_async(&self, script: &str) -> Value {
        let wrapped = format!(
            "const done = arguments[arguments.length - 1];\n\
             (async () => {{ {script} }})().then(done, e => done({{error: String(e)}}));"
        );
        self.cmd(
            Method::POST,
            "/execute/async",
            Some(json!({"script": wrapped, "args": []})),
        )
        .await
        .unwrap_or_else(|e| panic!("run {script}: {e}"))
    }

    /// Moves the mouse over the element matching `css`, `dx` pixels right of its centre.
    pub(crate) async fn hover(&self, css: &str, dx: i64) {
        let id = self.wait(css).await;
        let actions = json!({"actions": [{
            "type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"},
            "actions": [{"type": "pointerMove", "duration": 0, "x": dx, "y": 0,
                         "origin": {"element-6066-11e4-a52e-4f735466cecf": id}}],
        }]});
        self.cmd(Method::POST, "/actions", Some(actions))
            .await
            .unwrap_or_else(|e| panic!("hover {css}: {e}"));
    }

    pub(crate) async fn screenshot(&self, name: &str) -> PathBuf {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ui-screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot directory");
        let path = dir.join(format!("{name}.png"));
        if let Ok(Value::String(b64)) = self.cmd(Method::GET, "/screenshot", None).await {
            if let Ok(png) = base64::engine::general_purpose::STANDARD.decode(b64) {
                let _ = std::fs::write(&path, png);
            }
        }
        path
    }

    pub(crate) async fn quit(&self) {
        let _ = self.cmd(Method::DELETE, "", None).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn log_in_add_an_endpoint_stop_a_container_and_see_it_live_and_audited() {
    let driver = Driver::start();
    let creds = Pki::new();
    let agent = start_agent(&creds, None).await;
    let data = tempfile::tempdir().expect("tempdir");
    let mut args = console_args(data.path(), &creds, agent);
    args.endpoint_url = None;
    let addr = start_console(&args).await;
    let c = container("browser");
    let base = format!("https://localhost:{}", addr.port());

    let browser = Browser::start(&driver).await;
    browser.log_in(&base, ADMIN, ADMIN_PASSWORD).await;
    let user = browser.text("#current-user").await;
    assert!(user.contains(ADMIN), "the top bar names the user: {user:?}");

    // Add the endpoint through the form.
    browser.goto(&format!("{base}/#/endpoints")).await;
    browser.wait("[data-page=endpoints]").await;
    browser.type_into("#endpoint-name", "local").await;
    browser
        .type_into(
            "#endpoint-url",
            &format!("https://localhost:{}", agent.port()),
        )
        .await;
    browser.set_value("#endpoint-ca", &creds.ca_pem()).await;
    browser.set_value("#endpoint-auth", "secret").await;
    browser
        .set_value("#endpoint-secret", &creds.secret_text())
        .await;
    browser.click("#endpoint-submit").await;
    let card = browser.wait("[data-endpoint-name=local]").await;
    assert!(!card.is_empty());
    let id = browser
        .attribute("[data-endpoint-name=local]", "data-endpoint-id")
        .await
        .expect("the endpoint's ID on the page");
    browser.screenshot("endpoints").await;
    browser.goto(&format!("{base}/#/")).await;
    browser
        .wait("[data-page=home] [data-endpoint-name=local]")
        .await;
    browser.screenshot("home").await;

    // The real engine's containers, ours running.
    browser.goto(&format!("{base}/#/e/{id}/containers")).await;
    browser.wait("[data-page=containers]").await;
    let row = format!("tr[data-container-name=\"{}\"]", c.0);
    browser.wait(&format!("{row}[data-state=running]")).await;
    browser.screenshot("containers").await;

    // Stop it from the page; the row changes by itself, with no reload.
    browser
        .cmd(
            Method::POST,
            "/execute/sync",
            Some(json!({"script": "window.__bosunMarker = 1;", "args": []})),
        )
        .await
        .expect("mark the page");
    browser
        .click(&format!("{row} button[data-action=stop]"))
        .await;
    browser.click("#confirm-ok").await;
    browser.wait(&format!("{row}[data-state=exited]")).await;
    let marker = browser
        .cmd(
            Method::POST,
            "/execute/sync",
            Some(json!({"script": "return window.__bosunMarker || 0;", "args": []})),
        )
        .await
        .expect("read the mark");
    assert_eq!(
        marker,
        json!(1),
        "the state changed live, without a page load"
    );
    assert_eq!(c.state(), "exited", "the engine stopped it");
    browser.screenshot("containers-after-stop").await;

    // The container's own page.
    browser
        .goto(&format!("{base}/#/e/{id}/containers/{}", c.0))
        .await;
    browser.wait("[data-page=container]").await;
    browser.screenshot("container").await;
    browser.goto(&format!("{base}/#/e/{id}/nodes")).await;
    browser.wait("[data-page=nodes]").await;
    browser.screenshot("nodes").await;

    // The audit row.
    browser.goto(&format!("{base}/#/audit")).await;
    browser.wait("[data-page=audit]").await;
    browser
        .wait(&format!(
            "tr[data-audit-action=\"container.stop\"][data-audit-target=\"{}\"][data-audit-result=ok]",
            c.0
        ))
        .await;
    browser
        .wait("tr[data-audit-action=\"endpoint.create\"]")
        .await;
    browser.screenshot("audit").await;
    browser.quit().await;
}

/// A chart of `key` on the page, drawn with at least one value.
fn drawn(key: &str) -> String {
    format!("canvas[data-chart={key}][data-points]:not([data-points=\"0\"])")
}

#[tokio::test(flavor = "multi_thread")]
async fn usage_charts_draw_the_agents_samples_and_the_tooltip_reads_them() {
    let driver = Driver::start();
    let creds = Pki::new();
    let every = Duration::from_secs(1);
    let agent = sampling_agent(&creds, "127.0.0.1:0".parse().expect("addr"), every).await;
    let data = tempfile::tempdir().expect("tempdir");
    let mut args = console_args(data.path(), &creds, agent.addr);
    args.usage.usage_interval = every;
    let addr = start_console(&args).await;
    let c = container("browser-usage");
    let node = engine_name();
    let base = format!("https://localhost:{}", addr.port());

    // Samples stored, our container's among them, before the pages are looked at.
    let client = Client::logged_in(addr, ADMIN, ADMIN_PASSWORD).await;
    client.until_sampled(&c.0).await;

    let browser = Browser::start(&driver).await;
    browser.log_in(&base, ADMIN, ADMIN_PASSWORD).await;
    browser
        .wait("[data-endpoint-name=local] [data-usage=cpu] .usage-bar")
        .await;

    // The node's page: every chart drawn from samples.
    browser.goto(&format!("{base}/#/e/1/nodes/{node}")).await;
    browser.wait("[data-page=node]").await;
    browser.click("[data-range=\"1h\"]").await;
    for key in ["cpu", "memory", "disk", "network", "diskio", "load"] {
        browser.wait(&drawn(key)).await;
    }
    // The crosshair's tooltip reads the CPU line where the mouse is.
    browser.hover(&drawn("cpu"), 150).await;
    let tooltip = browser
        .script(
            "const chart = Chart.getChart(document.querySelector('canvas[data-chart=cpu]'));\
             const t = chart.tooltip;\
             return {active: t.getActiveElements().length, title: t.title, \
                     lines: (t.body || []).flatMap(b => b.lines)};",
        )
        .await;
    assert!(
        tooltip["active"].as_u64().is_some_and(|n| n >= 1),
        "the tooltip shows a point: {tooltip}"
    );
    let line = tooltip["lines"][0].as_str().unwrap_or_default();
    assert!(
        line.starts_with("CPU: ") && line.ends_with(" %"),
        "the tooltip reads the CPU: {tooltip}"
    );
    let shot = browser.screenshot("node-usage").await;
    println!("the node's charts: {}", shot.display());

    // The container's stats: live figures and its history.
    browser
        .goto(&format!("{base}/#/e/1/containers/{}/stats", c.0))
        .await;
    browser.wait("[data-page=container]").await;
    for key in ["ct-cpu", "ct-memory", "ct-network", "ct-block"] {
        browser.wait(&drawn(key)).await;
    }
    let shot = browser.screenshot("container-usage").await;
    println!("the container's history: {}", shot.display());

    // The nodes' bars and the top list.
    browser.goto(&format!("{base}/#/e/1/nodes")).await;
    browser
        .wait(&format!("tr[data-node-name=\"{node}\"] .usage-bar"))
        .await;
    browser.goto(&format!("{base}/#/e/1/top")).await;
    browser.wait("#top-memory tr[data-container-id]").await;
    let shot = browser.screenshot("top").await;
    println!("the top list: {}", shot.display());
    browser.quit().await;
    agent.stop().await;
}

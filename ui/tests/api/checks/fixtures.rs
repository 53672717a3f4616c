//! A cluster for the checks' tests: agents in this process gossiping on loopback (one in
//! front of the real engine, the others of fake engines), each trusting the console's key
//! for policies or not, and a console whose key is made before the agents start, so that
//! they can be told to trust it, and which can be stopped and started again on its data.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use bosun_agent::upstream::EngineAddr;
use bosun_fake_engine::{FakeEngine, FakeEngineSpec, SwarmRole};
use bosun_ui::agent::ConsoleKey;
use http::{Method, StatusCode};
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;

use crate::common::*;

/// How one node of the test cluster is made.
pub struct NodeSpec {
    pub name: String,
    /// `None`: the real engine.
    pub fake: Option<Option<SwarmRole>>,
    /// Whether its agent trusts the console's key for policies.
    pub trusts: bool,
    /// `--check-results`, when not the default.
    pub results: Option<usize>,
    /// A stand-in engine's own labels (`k=v`), which its agent gossips.
    pub engine_labels: Vec<String>,
}

impl NodeSpec {
    pub fn real(name: &str) -> Self {
        Self {
            name: name.into(),
            fake: None,
            trusts: true,
            results: None,
            engine_labels: Vec::new(),
        }
    }

    pub fn fake(name: &str, role: Option<SwarmRole>) -> Self {
        Self {
            name: name.into(),
            fake: Some(role),
            trusts: true,
            results: None,
            engine_labels: Vec::new(),
        }
    }

    pub fn untrusting(mut self) -> Self {
        self.trusts = false;
        self
    }

    pub fn engine_labels(mut self, labels: &[&str]) -> Self {
        self.engine_labels = labels.iter().map(|l| (*l).to_owned()).collect();
        self
    }

    pub fn results(mut self, n: usize) -> Self {
        self.results = Some(n);
        self
    }
}

/// The running cluster and its console.
pub struct CheckCluster {
    pub console: Option<Running>,
    pub args: bosun_ui::cli::Args,
    pub nodes: Vec<String>,
    /// The console's public key.
    key: std::path::PathBuf,
    /// The first node's gossip address, which the others join.
    gossip: Option<SocketAddr>,
    pki: Pki,
    _fakes: Vec<FakeEngine>,
    _dirs: Vec<TempDir>,
    _data: TempDir,
    stops: Vec<CancellationToken>,
}

impl Drop for CheckCluster {
    fn drop(&mut self) {
        for stop in &self.stops {
            stop.cancel();
        }
    }
}

/// The console's key, made now and stored where the console will find it.
fn console_key(data: &Path) -> String {
    let der = ConsoleKey::generate().expect("a key");
    let store = bosun_ui::store::Store::open(&data.join("console.db")).expect("the database");
    store
        .setting_or_insert("console_key_pkcs8", &bosun_serve::hex::encode(&der))
        .expect("stored");
    ConsoleKey::from_pkcs8(&der)
        .expect("loads")
        .public_pem()
        .to_owned()
}

/// An agent of `pki`'s cluster for `spec`, joining `join`; its API and gossip addresses.
async fn node_agent(
    pki: &Pki,
    spec: &NodeSpec,
    engine: EngineAddr,
    key: &Path,
    join: Option<SocketAddr>,
    data: &Path,
    stop: CancellationToken,
) -> (SocketAddr, SocketAddr) {
    let mut config = pki.agent_config("127.0.0.1:0".parse().expect("addr"));
    config.engine = engine;
    config.data_dir = data.to_path_buf();
    config.node_name = Some(spec.name.clone());
    config.fanout_deadline = Duration::from_secs(3);
    if spec.trusts {
        config.trusted_keys = vec![bosun_agent::auth::TrustedKey::read(key).expect("the key")];
    }
    if let Some(n) = spec.results {
        config.checks.results = n;
    }
    let (api, gossip) = gossiping_agent(config, join, stop).await;
    (api, gossip)
}

/// Starts the nodes (the first is the console's endpoint) and a console pulling every
/// second.
pub async fn check_cluster(specs: Vec<NodeSpec>) -> CheckCluster {
    let pki = Pki::new();
    let data = tempfile::tempdir().expect("tempdir");
    let key_pem = console_key(data.path());
    let key = data.path().join("console-public.pem");
    std::fs::write(&key, &key_pem).expect("key file");
    let mut args = console_args(data.path(), &pki, "127.0.0.1:1".parse().expect("addr"));
    args.checks.checks_pull_interval = Duration::from_secs(1);
    let mut cluster = CheckCluster {
        console: None,
        args,
        nodes: Vec::new(),
        key,
        gossip: None,
        pki,
        _fakes: Vec::new(),
        _dirs: Vec::new(),
        _data: data,
        stops: Vec::new(),
    };
    for spec in &specs {
        let api = cluster.start_node(spec).await;
        if cluster.console.is_none() {
            cluster.args.endpoint_url = Some(format!("https://localhost:{}", api.port()));
            cluster.console = Some(console_until_stopped(&cluster.args).await);
        }
    }
    cluster.until_members().await;
    cluster
}

impl CheckCluster {
    /// Starts an agent for `spec`, joining the first node; its API address.
    pub async fn start_node(&mut self, spec: &NodeSpec) -> SocketAddr {
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = match spec.fake {
            None => EngineAddr::Unix(bosun_testkit::https::ENGINE_SOCKET.into()),
            Some(role) => {
                let mut fake = FakeEngineSpec::new(&spec.name);
                fake.swarm = role;
                fake.engine_labels = spec.engine_labels.clone();
                let fake = FakeEngine::start(fake).await.expect("the fake engine");
                let addr = EngineAddr::Tcp(fake.addr().to_string());
                self._fakes.push(fake);
                addr
            }
        };
        let stop = CancellationToken::new();
        let (api, gossip) = node_agent(
            &self.pki,
            spec,
            engine,
            &self.key,
            self.gossip,
            dir.path(),
            stop.clone(),
        )
        .await;
        self.stops.push(stop);
        self._dirs.push(dir);
        self.gossip.get_or_insert(gossip);
        self.nodes.push(spec.name.clone());
        api
    }

    pub fn addr(&self) -> SocketAddr {
        self.console.as_ref().expect("the console runs").addr
    }

    pub async fn admin(&self) -> Client {
        Client::logged_in(self.addr(), ADMIN, ADMIN_PASSWORD).await
    }

    /// Waits until the console lists every node of the endpoint.
    pub async fn until_members(&self) {
        let admin = self.admin().await;
        let want = self.nodes.clone();
        eventually("every node in the endpoint's nodes", SETTLE, || async {
            let answer = admin.get(&format!("{E}/nodes")).await;
            let text = answer.text();
            let all = want.iter().all(|n| text.contains(&format!("\"{n}\"")));
            if answer.status == StatusCode::OK && all {
                Ok(())
            } else {
                Err(text)
            }
        })
        .await;
    }

    /// Stops the console, waits `away`, and starts it again on the same data.
    pub async fn console_away(&mut self, away: Duration) {
        if let Some(console) = self.console.take() {
            console.stop().await;
        }
        tokio::time::sleep(away).await;
        self.console = Some(console_until_stopped(&self.args).await);
    }
}

/// The endpoint of the command line: the first one made.
pub const E: &str = "/api/endpoints/1";

/// A tcp check on `port` of loopback, every second, for `target`.
pub fn tcp_check(name: &str, port: u16, target: Value) -> Value {
    json!({"name": name, "interval_secs": 1, "timeout_secs": 1,
           "probe": {"kind": "tcp", "host": "127.0.0.1", "port": port},
           "target": target})
}

/// Creates `check` as `client`; its id.
pub async fn create(client: &Client, check: &Value) -> String {
    let made = client.post(&format!("{E}/checks"), check).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text());
    made.json()["id"].as_str().expect("an id").to_owned()
}

pub async fn put(client: &Client, path: &str, body: &Value) -> Answer {
    client.send(Method::PUT, path, Some(body), true).await
}

/// The status answer.
pub async fn status(client: &Client) -> Value {
    let answer = client.get(&format!("{E}/checks/status")).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    answer.json()
}

/// The status row of `check` on `node`.
pub fn row<'a>(status: &'a Value, check: &str, node: &str) -> Option<&'a Value> {
    status["rows"]
        .as_array()?
        .iter()
        .find(|r| r["check"] == check && r["node"] == node)
}

/// The status of `node`.
pub fn node_status<'a>(status: &'a Value, node: &str) -> Option<&'a Value> {
    status["nodes"]
        .as_array()?
        .iter()
        .find(|n| n["node"] == node)
}

/// Waits until `check` on `node` is in `state`; the row.
pub async fn until_state(client: &Client, check: &str, node: &str, state: &str) -> Value {
    eventually(
        &format!("{check} {state} on {node}"),
        Duration::from_secs(30),
        || async {
            let status = status(client).await;
            match row(&status, check, node) {
                Some(r) if r["state"] == state => Ok(r.clone()),
                _ => Err(status.to_string()),
            }
        },
    )
    .await
}

/// Check `check`'s history on `node` over the last `since` seconds.
pub async fn history(client: &Client, check: &str, node: &str, since: u64) -> Vec<Value> {
    let answer = client
        .get(&format!(
            "{E}/checks/{check}/history?node={node}&since={since}"
        ))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    answer.json()["points"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// A loopback port that accepts every connection and closes it, until closed.
pub struct OpenPort {
    pub port: u16,
    accepting: tokio::task::JoinHandle<()>,
}

impl OpenPort {
    pub async fn open() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let port = listener.local_addr().expect("addr").port();
        let accepting = tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                drop(conn);
            }
        });
        Self { port, accepting }
    }

    /// Stops accepting and closes the port: connecting is refused from now on.
    pub async fn close(self) {
        self.accepting.abort();
        let _ = self.accepting.await;
    }
}

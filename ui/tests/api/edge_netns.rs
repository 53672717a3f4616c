//! An edge agent behind a one-way network, made by the test: a network namespace of its
//! own joined to this one by a veth pair, whose firewall (nftables) drops every connection
//! coming in, as a NAT does. The agent reaches the console; the console cannot reach the
//! agent. Through the console the docker CLI lists, runs, follows logs and runs `exec -i`
//! on the agent's engine, and the console's pages list its containers. Then the path is
//! cut during a followed log: the log ends, and the agent is back within 10 s of the path
//! returning.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bosun_agent::edge::{ConsoleUrl, EdgeConfig};
use http::StatusCode;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::common::netns::{enter, ip};
use crate::common::*;
use crate::docker_api::{endpoint_id, lists_runs_follows_and_execs, personal_token, Cli};
use crate::edge::{agents, console_on, enrol_token, until, until_connected};

/// Two network namespaces joined by a veth pair on a /30 of their own: the console's
/// side (`.1`) and the agent's (`.2`). Nothing changes in the machine's own namespace.
/// Removed when dropped.
struct Netns {
    console_ns: String,
    agent_ns: String,
    outside: String,
    inside: String,
    host_ip: Ipv4Addr,
    ns_ip: Ipv4Addr,
}

impl Netns {
    fn make() -> Self {
        let pid = std::process::id();
        let subnet = (pid % 250) as u8;
        let net = Self {
            console_ns: format!("bosun-edge-c{pid}"),
            agent_ns: format!("bosun-edge-a{pid}"),
            outside: format!("be{pid}o"),
            inside: format!("be{pid}i"),
            host_ip: Ipv4Addr::new(10, 213, subnet, 1),
            ns_ip: Ipv4Addr::new(10, 213, subnet, 2),
        };
        ip(&["netns", "add", &net.console_ns]);
        ip(&["netns", "add", &net.agent_ns]);
        ip(&[
            "-n",
            &net.console_ns,
            "link",
            "add",
            &net.outside,
            "type",
            "veth",
            "peer",
            "name",
            &net.inside,
            "netns",
            &net.agent_ns,
        ]);
        for (ns, dev, addr) in [
            (&net.console_ns, &net.outside, net.host_ip),
            (&net.agent_ns, &net.inside, net.ns_ip),
        ] {
            ip(&["-n", ns, "link", "set", "lo", "up"]);
            ip(&["-n", ns, "addr", "add", &format!("{addr}/30"), "dev", dev]);
            ip(&["-n", ns, "link", "set", dev, "up"]);
        }
        // As behind a NAT: what the agent's namespace opens goes out, nothing opened from
        // outside comes in.
        net.nft(&["add", "table", "inet", "edge"]);
        net.nft(&[
            "add",
            "chain",
            "inet",
            "edge",
            "input",
            "{ type filter hook input priority 0; policy accept; }",
        ]);
        net.nft(&[
            "add",
            "rule",
            "inet",
            "edge",
            "input",
            "iifname",
            &net.inside,
            "ct",
            "state",
            "new",
            "drop",
        ]);
        net
    }

    /// `nft ARGS` in the agent's namespace.
    fn nft(&self, args: &[&str]) {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.agent_ns, "nft"])
            .args(args)
            .output()
            .expect("ip netns exec nft");
        assert!(
            out.status.success(),
            "nft {args:?} in the namespace: {} (scripts/test.sh installs nftables)",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Takes the agent's side of the link down: its path to the console is gone.
    fn cut(&self) {
        ip(&["-n", &self.agent_ns, "link", "set", &self.inside, "down"]);
    }

    fn mend(&self) {
        ip(&["-n", &self.agent_ns, "link", "set", &self.inside, "up"]);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Removing a namespace removes its end of the pair, and so the pair.
        for ns in [&self.agent_ns, &self.console_ns] {
            let _ = Command::new("ip")
                .args(["netns", "del", ns])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// An agent run on a thread of its own that moved into `net`'s namespace first, so that
/// every socket it opens is there (the engine's is a Unix socket, reached all the same).
struct NetnsAgent {
    listen: SocketAddr,
    stop: CancellationToken,
    thread: std::thread::JoinHandle<()>,
}

impl NetnsAgent {
    fn start(net: &Netns, config: bosun_agent::config::AgentConfig) -> Self {
        let name = net.agent_ns.clone();
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            enter(&name).expect("setns into the agent's namespace");
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a runtime in the namespace");
            runtime.block_on(async move {
                let agent = bosun_agent::server::Agent::bind(config)
                    .await
                    .expect("the agent starts in its namespace");
                tx.send(agent.local_addr().expect("its address"))
                    .expect("told");
                agent.run(stopped).await;
            });
        });
        let listen = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the agent bound within 60 s");
        Self {
            listen,
            stop,
            thread,
        }
    }

    async fn stop(self) {
        self.stop.cancel();
        tokio::task::spawn_blocking(move || self.thread.join())
            .await
            .expect("joined")
            .expect("the agent's thread ended cleanly");
    }
}

/// The test runs in the console's namespace: the console, this side's client and the
/// docker CLI are all there (the engine's socket is a Unix one, reached all the same).
#[test]
fn an_agent_behind_a_one_way_network_serves_the_docker_cli_and_returns_after_a_cut() {
    let net = Netns::make();
    let name = net.console_ns.clone();
    let ran = std::thread::spawn(move || {
        enter(&name).expect("setns into the console's namespace");
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime in the console's namespace")
            .block_on(behind_a_one_way_network(&net));
    })
    .join();
    if let Err(panic) = ran {
        std::panic::resume_unwind(panic);
    }
}

async fn behind_a_one_way_network(net: &Netns) {
    let pki = Pki::new();
    let data = tempfile::tempdir().expect("tempdir");
    let stop_console = CancellationToken::new();
    let addr = console_on(
        &pki,
        data.path(),
        SocketAddr::new(net.host_ip.into(), 0),
        stop_console.clone(),
    )
    .await;
    let admin = Client::logged_in(addr, ADMIN, ADMIN_PASSWORD).await;
    let made = enrol_token(&admin, json!({"endpoint": "behind-nat"})).await;

    let agent_data = tempfile::tempdir().expect("tempdir");
    let mut config = pki.agent_config("0.0.0.0:0".parse().unwrap());
    config.data_dir = agent_data.path().to_path_buf();
    config.edge = Some(EdgeConfig {
        console: ConsoleUrl::parse(&format!("https://{addr}")).unwrap(),
        enrol_token: made["token"].as_str().map(str::to_owned),
        console_ca: Some(pki.ca_cert()),
        https_proxy: None,
        no_proxy: None,
    });
    let agent = NetnsAgent::start(net, config);
    until_connected(&admin, 1, SETTLE).await;

    // One way: the agent's port in its namespace cannot be reached from here.
    let dialled = tokio::time::timeout(
        Duration::from_secs(3),
        tokio::net::TcpStream::connect((net.ns_ip, agent.listen.port())),
    )
    .await;
    assert!(
        !matches!(dialled, Ok(Ok(_))),
        "the console's side must not reach the agent"
    );

    // The docker CLI through the console, and the console's own pages.
    let id = endpoint_id(&admin, "behind-nat").await;
    let (token, _) = personal_token(&admin, "ops").await;
    let cli = Cli::new(addr, id, &pki.ca_cert(), Some(&token));
    let waiting = container("netns");
    let _ran = lists_runs_follows_and_execs(&cli, &waiting).await;
    let list = admin.get(&format!("/api/endpoints/{id}/containers")).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text());
    assert!(list.text().contains(&waiting.0), "{}", list.text());

    // The path is cut during a followed log: the log ends once the console gives the
    // tunnel up.
    let mut following = cli.follow(&waiting.0).await;
    net.cut();
    let cut_at = Instant::now();
    tokio::time::timeout(Duration::from_secs(30), following.wait())
        .await
        .expect("the followed log ends once the path is cut")
        .expect("the CLI");
    until("the console sees the agent gone", SETTLE, async || {
        agents(&admin).await[0]["connected"] == json!(false)
    })
    .await;
    // Cut for longer than the agent waits for a sign of its console (15 s).
    let apart = Duration::from_secs(17);
    tokio::time::sleep(apart.saturating_sub(cut_at.elapsed())).await;

    // The path returns: the agent is back within 10 s, and the next request works.
    net.mend();
    let mended_at = Instant::now();
    until_connected(&admin, 1, Duration::from_secs(10)).await;
    let back_in = mended_at.elapsed();
    eprintln!("the edge agent was back {back_in:?} after the path returned");
    let names = cli.ok(&["ps", "--format", "{{.Names}}"]).await;
    assert!(names.lines().any(|n| n == waiting.0), "docker ps: {names}");

    agent.stop().await;
    stop_console.cancel();
}

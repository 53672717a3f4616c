//! The Docker Engine API routes of a fake node and the in-memory state behind them.

use std::cmp::Reverse;
use std::collections::HashMap;
use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{HeaderValue, CONNECTION, CONTENT_TYPE, SERVER, UPGRADE};
use http::{Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::TokioIo;
use serde_json::{json, Map, Value};
use tokio::io::AsyncWriteExt;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;

use crate::{FakeEngineSpec, RecordedRequest, Shared, SwarmRole, SHARED_IMAGE_ID};

pub(crate) type Body = BoxBody<Bytes, io::Error>;
/// Handlers answer errors as `Err`, so `?` can end a request early.
type Reply = Result<Response<Body>, ApiError>;

/// A failure as Docker reports it: a status and `{"message"}`, rendered at the edge.
pub(crate) struct ApiError(StatusCode, String);

const JSON: &str = "application/json";
const RAW_STREAM: &str = "application/vnd.docker.raw-stream";
const VERSION: &str = "20.10.99-fake";
const IMAGE: &str = "fake/shared:latest";
const NOT_IN_SWARM: &str = "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again.";
const NOT_A_MANAGER: &str = "This node is not a swarm manager. Worker nodes can't be used to view or modify cluster state. Please run this command on a manager node or promote the current node to a manager.";
/// Collections a manager keeps and answers for; tasks are listed but never created.
const SWARM_KINDS: [&str; 3] = ["services", "secrets", "configs"];

/// The node as the API shows it; changed by requests and by the test's setters.
pub(crate) struct State {
    pub(crate) latency: Duration,
    pub(crate) failing: bool,
    pub(crate) role: Option<SwarmRole>,
    /// Most recently created first, which is the order Docker lists them in.
    pub(crate) containers: Vec<Container>,
    execs: HashMap<String, Exec>,
    swarm_objects: HashMap<String, Vec<Value>>,
    pub(crate) requests: Vec<RecordedRequest>,
    serial: u64,
}

pub(crate) struct Container {
    pub(crate) id: String,
    pub(crate) name: String,
    index: usize,
    created: i64,
    running: bool,
    exit_code: i64,
    extra_labels: Vec<(String, String)>,
}

struct Exec {
    container_id: String,
    started: bool,
}

impl State {
    pub(crate) fn new(spec: &FakeEngineSpec) -> State {
        // Created an hour ago and a minute apart, so ordering by age is unambiguous.
        let base = now().0 - 3600;
        let containers = (0..spec.containers)
            .map(|index| Container {
                id: hex_id(&format!("container:{}:{index}", spec.name)),
                name: format!("{}-c{index}", spec.name),
                index,
                created: base - 60 * index as i64,
                running: index % 3 != 2,
                exit_code: 0,
                extra_labels: spec.labels.clone(),
            })
            .collect();
        State {
            latency: spec.latency,
            failing: false,
            role: spec.swarm,
            containers,
            execs: HashMap::new(),
            swarm_objects: HashMap::new(),
            requests: Vec::new(),
            serial: 0,
        }
    }

    /// Docker's order: full id, then name, then a unique id prefix.
    fn find(&self, key: &str) -> Option<usize> {
        let key = key.trim_start_matches('/');
        let by = |f: &dyn Fn(&Container) -> bool| self.containers.iter().position(f);
        by(&|c| c.id == key)
            .or_else(|| by(&|c| c.name == key))
            .or_else(|| {
                let mut hits = self.containers.iter().enumerate();
                let mut hits = hits.by_ref().filter(|(_, c)| c.id.starts_with(key));
                match (hits.next(), hits.next()) {
                    (Some((i, _)), None) if !key.is_empty() => Some(i),
                    _ => None,
                }
            })
    }

    fn container(&self, key: &str) -> Result<&Container, ApiError> {
        let found = self.find(key).map(|i| &self.containers[i]);
        found.ok_or_else(|| no_such_container(key))
    }

    /// `None` while the container runs; a removed one counts as exited cleanly.
    fn exit_code(&self, id: &str) -> Option<i64> {
        match self.find(id).map(|i| &self.containers[i]) {
            Some(c) if c.running => None,
            Some(c) => Some(c.exit_code),
            None => Some(0),
        }
    }

    fn next_serial(&mut self) -> u64 {
        self.serial += 1;
        self.serial
    }
}

impl Container {
    fn state(&self) -> &'static str {
        if self.running {
            "running"
        } else {
            "exited"
        }
    }

    fn labels(&self, node: &str) -> Map<String, Value> {
        let mut labels = Map::new();
        labels.insert("node".into(), node.into());
        labels.insert("index".into(), self.index.to_string().into());
        for (k, v) in &self.extra_labels {
            labels.insert(k.clone(), v.clone().into());
        }
        labels
    }

    fn size_rw(&self) -> u64 {
        1024 * (self.index as u64 + 1)
    }

    fn summary(&self, node: &str, size: bool) -> Value {
        let minutes = (now().0 - self.created) / 60;
        let status = if self.running {
            format!("Up {minutes} minutes")
        } else {
            format!("Exited ({}) {minutes} minutes ago", self.exit_code)
        };
        let mut summary = json!({
            "Id": self.id, "Names": [format!("/{}", self.name)], "Image": IMAGE,
            "ImageID": SHARED_IMAGE_ID, "Command": "sleep infinity", "Created": self.created,
            "State": self.state(), "Status": status, "Ports": [], "Labels": self.labels(node),
            "HostConfig": {"NetworkMode": "default"}, "NetworkSettings": {"Networks": {}},
            "Mounts": [],
        });
        if size {
            summary["SizeRw"] = self.size_rw().into();
            summary["SizeRootFs"] = (5_000_000 + self.size_rw()).into();
        }
        summary
    }

    fn inspect(&self, node: &str) -> Value {
        json!({
            "Id": self.id, "Created": rfc3339(self.created), "Path": "sleep", "Args": ["infinity"],
            "State": {
                "Status": self.state(), "Running": self.running, "Paused": false,
                "Restarting": false, "OOMKilled": false, "Dead": false,
                "Pid": if self.running { 1000 + self.index } else { 0 },
                "ExitCode": self.exit_code, "Error": "",
                "StartedAt": rfc3339(self.created), "FinishedAt": "0001-01-01T00:00:00Z",
            },
            "Image": SHARED_IMAGE_ID, "Name": format!("/{}", self.name), "RestartCount": 0,
            "Driver": "overlay2", "Platform": "linux", "HostConfig": {"NetworkMode": "default"},
            // Tty false tells clients to demultiplex logs and exec output.
            "Config": {"Hostname": &self.id[..12], "Image": IMAGE, "Labels": self.labels(node),
                       "Tty": false, "Cmd": ["sleep", "infinity"]},
            "NetworkSettings": {"Networks": {}}, "Mounts": [],
        })
    }

    fn event(&self, action: &str) -> Value {
        let (secs, nanos) = now();
        json!({
            "status": action, "id": self.id, "from": IMAGE, "Type": "container", "Action": action,
            "Actor": {"ID": self.id, "Attributes": {"name": self.name, "image": IMAGE}},
            "scope": "local", "time": secs, "timeNano": nanos,
        })
    }
}

/// Every request enters here: recorded, delayed, failed on demand, then routed.
pub(crate) async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let (latency, failing) = {
        let mut state = shared.state();
        state.requests.push(record(&req));
        (state.latency, state.failing)
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let response = if failing {
        Err(error(StatusCode::INTERNAL_SERVER_ERROR, "injected failure"))
    } else {
        route(&shared, req).await
    };
    let mut response = response.unwrap_or_else(|ApiError(status, message)| {
        json_response(status, &json!({ "message": message }))
    });
    let headers = response.headers_mut();
    headers.insert("api-version", HeaderValue::from_static("1.41"));
    headers.insert("docker-experimental", HeaderValue::from_static("false"));
    headers.insert("ostype", HeaderValue::from_static("linux"));
    headers.insert(
        SERVER,
        HeaderValue::from_static("Docker/20.10.99-fake (linux)"),
    );
    Ok(response)
}

fn record(req: &Request<Incoming>) -> RecordedRequest {
    RecordedRequest {
        method: req.method().to_string(),
        path_and_query: req
            .uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned(),
        headers: req
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
    }
}

async fn route(shared: &Arc<Shared>, req: Request<Incoming>) -> Reply {
    let path = strip_version(req.uri().path()).trim_matches('/').to_owned();
    let query = Query::parse(req.uri().query());
    let segments: Vec<&str> = path.split('/').collect();
    let method = req.method().as_str().to_owned();
    if let ["swarm"] | ["services" | "tasks" | "nodes" | "secrets" | "configs", ..] = segments[..] {
        match shared.state().role {
            None => Err(error(StatusCode::SERVICE_UNAVAILABLE, NOT_IN_SWARM))?,
            Some(SwarmRole::Worker) => Err(error(StatusCode::SERVICE_UNAVAILABLE, NOT_A_MANAGER))?,
            Some(SwarmRole::Manager { .. }) => {}
        }
    }
    match (method.as_str(), &segments[..]) {
        ("GET" | "HEAD", ["_ping"]) => Ok(ping(shared)),
        ("GET", ["version"]) => ok(json!({
            "Version": VERSION, "ApiVersion": "1.41", "MinAPIVersion": "1.12", "Os": "linux",
            "Arch": "amd64", "KernelVersion": "6.1.0-fake", "GitCommit": "fake",
        })),
        ("GET", ["info"]) => ok(info(shared)),
        ("GET", ["swarm"]) => ok(json!({
            "ID": "fake-cluster", "Version": {"Index": 1}, "Spec": {"Name": "default"},
            "CreatedAt": rfc3339(0), "UpdatedAt": rfc3339(0), "RootRotationInProgress": false,
            "JoinTokens": {"Worker": "SWMTKN-1-fake-worker", "Manager": "SWMTKN-1-fake-manager"},
        })),
        ("GET", ["nodes"]) => ok(json!([node(shared)])),
        ("GET", ["nodes", id]) if *id == shared.name || shared.node_id.starts_with(id) => {
            ok(node(shared))
        }
        ("GET", ["nodes", id]) => Err(error(
            StatusCode::NOT_FOUND,
            &format!("node {id} not found"),
        )),
        ("GET", ["tasks"]) => ok(json!([])),
        ("GET", [kind]) if SWARM_KINDS.contains(kind) => {
            let objects = shared.state().swarm_objects.get(*kind).cloned();
            ok(objects.unwrap_or_default().into())
        }
        ("POST", [kind, "create"]) if SWARM_KINDS.contains(kind) => {
            create_swarm_object(shared, kind, req).await
        }
        ("GET", [kind, id]) if SWARM_KINDS.contains(kind) => {
            let state = shared.state();
            let objects = state
                .swarm_objects
                .get(*kind)
                .map_or(&[][..], Vec::as_slice);
            let found = objects.iter().find(|o| {
                let by_id = o["ID"].as_str().is_some_and(|oid| oid.starts_with(id));
                by_id || o["Spec"]["Name"] == *id
            });
            let singular = kind.trim_end_matches('s');
            let missing = || error(StatusCode::NOT_FOUND, &format!("{singular} {id} not found"));
            ok(found.ok_or_else(missing)?.clone())
        }
        ("GET", ["containers", "json"]) => list_containers(shared, &query),
        ("GET", ["containers", id, "json"]) => {
            ok(shared.state().container(id)?.inspect(&shared.name))
        }
        ("GET", ["containers", id, "logs"]) => logs(shared, id, &query),
        ("POST", ["containers", id, action @ ("start" | "stop" | "kill" | "restart")]) => {
            lifecycle(shared, id, action)
        }
        ("POST", ["containers", id, "wait"]) => wait(shared, id),
        ("POST", ["containers", id, "exec"]) => create_exec(shared, id),
        ("DELETE", ["containers", id]) => remove(shared, id, query.flag("force")),
        ("POST", ["exec", id, "start"]) => start_exec(shared, id, req).await,
        ("GET", ["exec", id, "json"]) => {
            let state = shared.state();
            let exec = state.execs.get(*id).ok_or_else(|| no_such_exec(id))?;
            ok(json!({
                "ID": id, "Running": false, "ContainerID": exec.container_id,
                "ExitCode": if exec.started { Some(0) } else { None },
                "OpenStdin": false, "OpenStdout": true, "OpenStderr": true, "Pid": 0,
                "ProcessConfig": {"entrypoint": "sh", "arguments": [], "tty": false},
            }))
        }
        ("GET", ["events"]) => events(shared, &query),
        ("GET", ["images", "json"]) => ok(images(&shared.name, -1).into()),
        ("GET", ["volumes"]) => ok(json!({"Volumes": [volume(&shared.name)], "Warnings": null})),
        ("GET", ["networks"]) => ok(networks(shared).into()),
        ("GET", ["system", "df"]) => ok(system_df(shared)),
        _ => Err(error(StatusCode::NOT_FOUND, "page not found")),
    }
}

fn ping(shared: &Shared) -> Response<Body> {
    let swarm = match shared.state().role {
        None => "inactive",
        Some(SwarmRole::Worker) => "active/worker",
        Some(SwarmRole::Manager { .. }) => "active/manager",
    };
    let mut response = respond(StatusCode::OK, "text/plain; charset=utf-8", full("OK"));
    let headers = response.headers_mut();
    headers.insert("swarm", HeaderValue::from_static(swarm));
    let no_cache = HeaderValue::from_static("no-cache, no-store, must-revalidate");
    headers.insert(http::header::CACHE_CONTROL, no_cache);
    headers.insert(http::header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

fn info(shared: &Shared) -> Value {
    let state = shared.state();
    let total = state.containers.len();
    let running = state.containers.iter().filter(|c| c.running).count();
    let manager = matches!(state.role, Some(SwarmRole::Manager { .. }));
    let mut swarm = match state.role {
        None => json!({"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive",
                       "ControlAvailable": false, "Error": "", "RemoteManagers": null}),
        Some(_) => json!({"NodeID": shared.node_id, "NodeAddr": "127.0.0.1",
                          "LocalNodeState": "active", "ControlAvailable": manager, "Error": "",
                          "RemoteManagers": []}),
    };
    if manager {
        swarm["RemoteManagers"] = json!([{"NodeID": shared.node_id, "Addr": "127.0.0.1:2377"}]);
        swarm["Cluster"] = json!({"ID": "fake-cluster", "Spec": {"Name": "default"}});
        swarm["Nodes"] = 1.into();
        swarm["Managers"] = 1.into();
    }
    json!({
        "ID": shared.engine_id, "Name": shared.name, "ServerVersion": VERSION,
        "Containers": total, "ContainersRunning": running, "ContainersPaused": 0,
        "ContainersStopped": total - running, "Images": 2, "OperatingSystem": "Bosun fake engine",
        "OSType": "linux", "Architecture": "x86_64", "NCPU": 4, "MemTotal": 8u64 << 30,
        "KernelVersion": "6.1.0-fake", "Swarm": swarm, "Labels": shared.engine_labels,
    })
}

fn node(shared: &Shared) -> Value {
    let role = shared.state().role;
    let mut node = json!({
        "ID": shared.node_id, "Version": {"Index": 1},
        "CreatedAt": rfc3339(0), "UpdatedAt": rfc3339(0),
        "Spec": {"Role": "worker", "Availability": "active"},
        "Description": {"Hostname": shared.name,
                        "Platform": {"Architecture": "x86_64", "OS": "linux"},
                        "Engine": {"EngineVersion": VERSION}},
        "Status": {"State": "ready", "Addr": "127.0.0.1"},
    });
    if let Some(SwarmRole::Manager { leader }) = role {
        node["Spec"]["Role"] = "manager".into();
        node["ManagerStatus"] =
            json!({"Leader": leader, "Reachability": "reachable", "Addr": "127.0.0.1:2377"});
    }
    node
}

async fn create_swarm_object(shared: &Shared, kind: &str, req: Request<Incoming>) -> Reply {
    let spec = read_json(req).await?;
    let mut state = shared.state();
    let serial = state.next_serial();
    let objects = state.swarm_objects.entry(kind.to_owned()).or_default();
    if spec["Name"].is_string() && objects.iter().any(|o| o["Spec"]["Name"] == spec["Name"]) {
        let message =
            "rpc error: code = AlreadyExists desc = name conflicts with an existing object";
        Err(error(StatusCode::CONFLICT, message))?;
    }
    let (id, stamp) = (
        short_id(&format!("{}:{kind}:{serial}", shared.name)),
        rfc3339(now().0),
    );
    objects.push(json!({
        "ID": id, "Version": {"Index": serial}, "CreatedAt": stamp, "UpdatedAt": stamp, "Spec": spec,
    }));
    Ok(json_response(StatusCode::CREATED, &json!({"ID": id})))
}

fn list_containers(shared: &Shared, query: &Query) -> Reply {
    let filters = query.filters()?;
    // Docker lists stopped containers too when asked for a status or a limit.
    let limit = query
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|&l| l > 0);
    let all = query.flag("all") || limit.is_some() || filters.contains_key("status");
    let state = shared.state();
    let mut listed: Vec<&Container> = state
        .containers
        .iter()
        .filter(|c| (all || c.running) && container_matches(c, &shared.name, &filters))
        .collect();
    listed.sort_by_key(|c| Reverse(c.created));
    listed.truncate(limit.unwrap_or(usize::MAX));
    let size = query.flag("size");
    ok(listed
        .iter()
        .map(|c| c.summary(&shared.name, size))
        .collect())
}

/// Values of one key are alternatives; keys must all match.
fn container_matches(c: &Container, node: &str, filters: &Filters) -> bool {
    let labels = c.labels(node);
    filters.iter().all(|(key, wanted)| {
        wanted.iter().any(|w| match key.as_str() {
            "name" => c.name.contains(w.trim_start_matches('/')),
            "id" => c.id.starts_with(w.as_str()),
            "status" => c.state() == w,
            "label" => match w.split_once('=') {
                Some((k, v)) => labels.get(k).and_then(Value::as_str) == Some(v),
                None => labels.contains_key(w),
            },
            _ => true,
        })
    })
}

fn logs(shared: &Arc<Shared>, key: &str, query: &Query) -> Reply {
    let (id, name, running, created) = {
        let state = shared.state();
        let c = state.container(key)?;
        (c.id.clone(), c.name.clone(), c.running, c.created)
    };
    let shape = LogShape {
        timestamps: query.flag("timestamps"),
        since: query.get("since").and_then(engine_time),
        until: query.get("until").and_then(engine_time),
    };
    let backlog: Vec<u8> = (1..=3)
        .flat_map(|n| shape.line(&name, n, i128::from(created + n as i64) * 1_000_000_000))
        .collect();
    if !(query.flag("follow") && running) {
        return Ok(respond(StatusCode::OK, RAW_STREAM, full(backlog)));
    }
    let (tx, body) = streamed();
    let mut changes = shared.changes.subscribe();
    let task_shared = shared.clone();
    shared.spawn(async move {
        if tx.send(Chunk::Data(backlog.into())).await.is_err() {
            return;
        }
        let period = Duration::from_millis(200);
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        for n in 4.. {
            let chunk = tokio::select! {
                _ = tick.tick() => Chunk::Data(shape.line(&name, n, i128::from(now().1)).into()),
                changed = changes.changed() => {
                    let stopped = task_shared.state().exit_code(&id).is_some();
                    if changed.is_ok() && !stopped { continue }
                    Chunk::End
                }
            };
            let end = matches!(chunk, Chunk::End);
            if tx.send(chunk).await.is_err() || end {
                return;
            }
        }
    });
    Ok(respond(StatusCode::OK, RAW_STREAM, body))
}

/// How a log's lines are asked for: stamped or not, and the range of time they are in.
struct LogShape {
    timestamps: bool,
    since: Option<i128>,
    until: Option<i128>,
}

impl LogShape {
    /// Line `n` of a container's log, made at `nanos`; nothing when outside the range.
    fn line(&self, name: &str, n: usize, nanos: i128) -> Vec<u8> {
        let outside =
            self.since.is_some_and(|s| nanos < s) || self.until.is_some_and(|u| nanos > u);
        if outside {
            return Vec::new();
        }
        let stamp = if self.timestamps {
            format!("{} ", rfc3339_nanos(nanos))
        } else {
            String::new()
        };
        frame(1, format!("{stamp}log line {n} from {name}\n").as_bytes())
    }
}

/// The engine's `since`/`until`: seconds since the epoch, with a fraction of up to nine
/// digits; as nanoseconds.
fn engine_time(text: &str) -> Option<i128> {
    let (secs, frac) = text.split_once('.').unwrap_or((text, ""));
    let secs: i128 = secs.parse().ok()?;
    let frac: i128 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}").get(..9)?.parse().ok()?
    };
    Some(secs * 1_000_000_000 + frac)
}

fn rfc3339_nanos(nanos: i128) -> String {
    let secs = nanos.div_euclid(1_000_000_000) as i64;
    let frac = nanos.rem_euclid(1_000_000_000);
    let whole = rfc3339(secs);
    format!("{}.{frac:09}Z", whole.trim_end_matches('Z'))
}

fn lifecycle(shared: &Shared, key: &str, action: &str) -> Reply {
    let mut state = shared.state();
    let i = state.find(key).ok_or_else(|| no_such_container(key))?;
    let c = &mut state.containers[i];
    let actions: &[&str] = match (action, c.running) {
        ("start", true) | ("stop", false) => {
            return Ok(respond(StatusCode::NOT_MODIFIED, JSON, empty()))
        }
        ("kill", false) => {
            let message = format!(
                "Cannot kill container: {key}: Container {} is not running",
                c.id
            );
            Err(error(StatusCode::CONFLICT, &message))?
        }
        ("start", false) => &["start"],
        ("stop", true) => &["kill", "die", "stop"],
        ("kill", true) => &["kill", "die"],
        (_, true) => &["kill", "die", "stop", "start", "restart"],
        (_, false) => &["start", "restart"],
    };
    c.running = matches!(action, "start" | "restart");
    c.exit_code = if action == "kill" { 137 } else { 0 };
    let events = actions.iter().map(|a| c.event(a)).collect();
    drop(state);
    Ok(publish(shared, events))
}

fn remove(shared: &Shared, key: &str, force: bool) -> Reply {
    let mut state = shared.state();
    let i = state.find(key).ok_or_else(|| no_such_container(key))?;
    let c = &state.containers[i];
    if c.running && !force {
        let message = format!("You cannot remove a running container {}. Stop the container before attempting removal or force remove", c.id);
        Err(error(StatusCode::CONFLICT, &message))?;
    }
    let c = state.containers.remove(i);
    let actions: &[&str] = if c.running {
        &["kill", "die", "destroy"]
    } else {
        &["destroy"]
    };
    let events = actions.iter().map(|a| c.event(a)).collect();
    drop(state);
    Ok(publish(shared, events))
}

/// Tells `/events` streams, then `wait` and `logs --follow`, that containers changed.
fn publish(shared: &Shared, events: Vec<Value>) -> Response<Body> {
    for event in events {
        let _ = shared.events.send(event);
    }
    shared.changes.send_replace(());
    respond(StatusCode::NO_CONTENT, JSON, empty())
}

/// Sends the head at once and the body when the container stops: `docker run` calls wait
/// before start, so a proxy that holds the head deadlocks, and this makes that visible.
fn wait(shared: &Arc<Shared>, key: &str) -> Reply {
    let id = shared.state().container(key)?.id.clone();
    let (tx, body) = streamed();
    // Subscribed before the first look at the state, so no stop can slip between.
    let mut changes = shared.changes.subscribe();
    let task_shared = shared.clone();
    shared.spawn(async move {
        loop {
            let exit_code = task_shared.state().exit_code(&id);
            if let Some(code) = exit_code {
                let result = format!("{}\n", json!({"StatusCode": code, "Error": null}));
                if tx.send(Chunk::Data(result.into())).await.is_ok() {
                    let _ = tx.send(Chunk::End).await;
                }
                return;
            }
            tokio::select! {
                changed = changes.changed() => if changed.is_err() { return },
                _ = tx.closed() => return,
            }
        }
    });
    Ok(respond(StatusCode::OK, JSON, body))
}

fn create_exec(shared: &Shared, key: &str) -> Reply {
    let mut state = shared.state();
    let c = state.container(key)?;
    if !c.running {
        Err(error(
            StatusCode::CONFLICT,
            &format!("Container {} is not running", c.id),
        ))?;
    }
    let container_id = c.id.clone();
    let id = hex_id(&format!("exec:{}:{}", shared.name, state.next_serial()));
    state.execs.insert(
        id.clone(),
        Exec {
            container_id,
            started: false,
        },
    );
    Ok(json_response(StatusCode::CREATED, &json!({"Id": id})))
}

/// Hijacks like the engine when asked to upgrade; otherwise answers the raw stream in
/// the body, which is what the engine does for clients that do not ask.
async fn start_exec(shared: &Arc<Shared>, id: &str, mut req: Request<Incoming>) -> Reply {
    let name = {
        let mut state = shared.state();
        let exec = state.execs.get_mut(id).ok_or_else(|| no_such_exec(id))?;
        exec.started = true;
        let container_id = exec.container_id.clone();
        state
            .find(&container_id)
            .map_or(container_id, |i| state.containers[i].name.clone())
    };
    let wants_upgrade = req.headers().contains_key(UPGRADE);
    let on_upgrade = hyper::upgrade::on(&mut req);
    let detach = read_json(req).await.is_ok_and(|v| v["Detach"] == true);
    let output = frame(1, format!("fake exec output from {name}\n").as_bytes());
    if detach || !wants_upgrade {
        let output = if detach { Vec::new() } else { output };
        return Ok(respond(StatusCode::OK, RAW_STREAM, full(output)));
    }
    shared.spawn(async move {
        if let Ok(upgraded) = on_upgrade.await {
            let mut io = TokioIo::new(upgraded);
            let _ = io.write_all(&output).await;
            let _ = io.shutdown().await;
        }
    });
    let mut response = respond(StatusCode::SWITCHING_PROTOCOLS, RAW_STREAM, empty());
    let headers = response.headers_mut();
    headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(UPGRADE, HeaderValue::from_static("tcp"));
    Ok(response)
}

fn events(shared: &Arc<Shared>, query: &Query) -> Reply {
    let filters = query.filters()?;
    let mut events = shared.events.subscribe();
    let (tx, body) = streamed();
    shared.spawn(async move {
        loop {
            tokio::select! {
                event = events.recv() => match event {
                    Ok(event) if event_matches(&event, &filters) => {
                        if tx.send(Chunk::Data(format!("{event}\n").into())).await.is_err() {
                            return;
                        }
                    }
                    Ok(_) | Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => return,
                },
                // Events can be hours apart: notice a client that left without one.
                _ = tx.closed() => return,
            }
        }
    });
    Ok(respond(StatusCode::OK, JSON, body))
}

fn event_matches(event: &Value, filters: &Filters) -> bool {
    let actor = &event["Actor"];
    filters.iter().all(|(key, wanted)| {
        wanted.iter().any(|w| match key.as_str() {
            "type" => event["Type"] == *w,
            "event" => event["Action"] == *w || event["status"] == *w,
            "container" => {
                let by_id = actor["ID"]
                    .as_str()
                    .is_some_and(|id| id.starts_with(w.as_str()));
                by_id || actor["Attributes"]["name"] == *w
            }
            _ => true,
        })
    })
}

/// `containers` is -1 in lists, as Docker leaves it uncounted there, and counted in `df`.
fn images(node: &str, containers: i64) -> Vec<Value> {
    let unique = format!("sha256:{}", hex_id(&format!("image:{node}")));
    let image = |id: &str, tag: String, size: u64, used: i64| {
        json!({
            "Id": id, "ParentId": "", "RepoTags": [tag], "RepoDigests": [], "Created": 1_600_000_000,
            "Size": size, "VirtualSize": size, "SharedSize": -1, "Labels": {}, "Containers": used,
        })
    };
    vec![
        image(SHARED_IMAGE_ID, IMAGE.into(), 1_200_000, containers),
        image(
            &unique,
            format!("fake/{node}:latest"),
            800_000,
            containers.min(0),
        ),
    ]
}

fn volume(node: &str) -> Value {
    let name = format!("{node}-vol");
    json!({
        "Name": name, "Driver": "local", "Mountpoint": format!("/var/lib/docker/volumes/{name}/_data"),
        "CreatedAt": rfc3339(1_600_000_000), "Scope": "local", "Labels": {}, "Options": {},
    })
}

fn networks(shared: &Shared) -> Vec<Value> {
    let network = |name: &str, id: String, [driver, scope, subnet]: [&str; 3]| {
        json!({
            "Name": name, "Id": id, "Created": rfc3339(1_600_000_000), "Scope": scope,
            "Driver": driver, "EnableIPv6": false, "Internal": false, "Attachable": false,
            "Ingress": name == "ingress", "ConfigFrom": {"Network": ""}, "ConfigOnly": false,
            "IPAM": {"Driver": "default", "Options": null, "Config": [{"Subnet": subnet}]},
            "Containers": {}, "Options": {}, "Labels": {},
        })
    };
    let bridge_id = hex_id(&format!("bridge:{}", shared.name));
    let mut list = vec![network(
        "bridge",
        bridge_id,
        ["bridge", "local", "172.17.0.0/16"],
    )];
    if shared.state().role.is_some() {
        // One swarm-scoped network seen from every node: the same id everywhere.
        list.push(network(
            "ingress",
            hex_id("ingress"),
            ["overlay", "swarm", "10.0.0.0/24"],
        ));
    }
    list
}

fn system_df(shared: &Shared) -> Value {
    let state = shared.state();
    let images = images(&shared.name, state.containers.len() as i64);
    let layers: u64 = images.iter().filter_map(|i| i["Size"].as_u64()).sum();
    let containers: Vec<Value> = state
        .containers
        .iter()
        .map(|c| c.summary(&shared.name, true))
        .collect();
    let mut volume = volume(&shared.name);
    volume["UsageData"] = json!({"Size": 4096, "RefCount": 0});
    json!({"LayersSize": layers, "Images": images, "Containers": containers,
           "Volumes": [volume], "BuildCache": []})
}

/// A streamed body fed by a task; a feeder that vanishes without `End` (the node was
/// stopped) fails the body, so the client sees a cut stream instead of a clean end.
pub(crate) enum Chunk {
    Data(Bytes),
    End,
}

struct Streamed {
    rx: mpsc::Receiver<Chunk>,
    ended: bool,
}

impl hyper::body::Body for Streamed {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        if self.ended {
            return Poll::Ready(None);
        }
        Poll::Ready(match ready!(self.rx.poll_recv(cx)) {
            Some(Chunk::Data(data)) => Some(Ok(Frame::data(data))),
            Some(Chunk::End) => {
                self.ended = true;
                None
            }
            None => Some(Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "engine stopped",
            ))),
        })
    }
}

fn streamed() -> (mpsc::Sender<Chunk>, Body) {
    let (tx, rx) = mpsc::channel(16);
    (tx, BoxBody::new(Streamed { rx, ended: false }))
}

fn full(data: impl Into<Bytes>) -> Body {
    Full::new(data.into())
        .map_err(|never| match never {})
        .boxed()
}

fn empty() -> Body {
    full(Bytes::new())
}

fn respond(status: StatusCode, content_type: &'static str, body: Body) -> Response<Body> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    if !matches!(status, StatusCode::NO_CONTENT | StatusCode::NOT_MODIFIED) {
        let value = HeaderValue::from_static(content_type);
        response.headers_mut().insert(CONTENT_TYPE, value);
    }
    response
}

/// Docker's encoder ends every JSON document with a newline.
fn json_response(status: StatusCode, value: &Value) -> Response<Body> {
    respond(status, JSON, full(format!("{value}\n")))
}

fn ok(value: Value) -> Reply {
    Ok(json_response(StatusCode::OK, &value))
}

fn error(status: StatusCode, message: &str) -> ApiError {
    ApiError(status, message.to_owned())
}

fn no_such_container(key: &str) -> ApiError {
    error(StatusCode::NOT_FOUND, &format!("No such container: {key}"))
}

fn no_such_exec(id: &str) -> ApiError {
    error(
        StatusCode::NOT_FOUND,
        &format!("No such exec instance: {id}"),
    )
}

async fn read_json(req: Request<Incoming>) -> Result<Value, ApiError> {
    let bad = |message: String| error(StatusCode::BAD_REQUEST, &message);
    let body = req
        .into_body()
        .collect()
        .await
        .map_err(|e| bad(e.to_string()))?;
    serde_json::from_slice(&body.to_bytes()).map_err(|e| bad(format!("invalid JSON: {e}")))
}

/// Docker's multiplexed framing: stream byte, three zeros, big-endian length, payload.
fn frame(stream: u8, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(8 + payload.len());
    out.extend_from_slice(&[stream, 0, 0, 0]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// `/v1.41/containers/json` → `/containers/json`; only a leading version is a version.
fn strip_version(path: &str) -> &str {
    let Some(rest) = path.strip_prefix("/v") else {
        return path;
    };
    let end = rest.find('/').unwrap_or(rest.len());
    let version = &rest[..end];
    let numeric = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    match version.split_once('.') {
        Some((major, minor)) if numeric(major) && numeric(minor) => &rest[end..],
        _ => path,
    }
}

type Filters = HashMap<String, Vec<String>>;

struct Query(Vec<(String, String)>);

impl Query {
    fn parse(raw: Option<&str>) -> Query {
        let pairs = raw.unwrap_or("").split('&').filter(|p| !p.is_empty());
        Query(
            pairs
                .map(|p| p.split_once('=').unwrap_or((p, "")))
                .map(|(k, v)| (percent_decode(k), percent_decode(v)))
                .collect(),
        )
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Docker's reading of a boolean parameter: anything but empty, 0, no, false, none.
    fn flag(&self, key: &str) -> bool {
        let value = self.get(key).unwrap_or("").trim().to_ascii_lowercase();
        !matches!(value.as_str(), "" | "0" | "no" | "false" | "none")
    }

    /// Both shapes clients send: `{"k":["v"]}` and the older `{"k":{"v":true}}`.
    fn filters(&self) -> Result<Filters, ApiError> {
        let bad = |message: String| error(StatusCode::BAD_REQUEST, &message);
        let raw = self
            .get("filters")
            .filter(|raw| !raw.is_empty())
            .unwrap_or("{}");
        let parsed: Value =
            serde_json::from_str(raw).map_err(|e| bad(format!("invalid filter: {e}")))?;
        let object = parsed
            .as_object()
            .ok_or_else(|| bad("invalid filter".into()))?;
        let values = |values: &Value| match values {
            Value::Array(list) => list
                .iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect(),
            Value::Object(set) => set.keys().cloned().collect(),
            _ => Vec::new(),
        };
        Ok(object
            .iter()
            .map(|(key, v)| (key.clone(), values(v)))
            .collect())
    }
}

fn percent_decode(input: &str) -> String {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
                continue;
            }
            (b'+', _) => out.push(b' '),
            (byte, _) => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// (unix seconds, unix nanoseconds)
fn now() -> (i64, i64) {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    (since.as_secs() as i64, since.as_nanos() as i64)
}

fn rfc3339(secs: i64) -> String {
    // Days to civil date, after Howard Hinnant's algorithm; no date crate for one format.
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let (era, doe) = (z.div_euclid(146_097), z.rem_euclid(146_097));
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z")
}

/// FNV-1a then a splitmix64 finaliser: stable across runs, so ids are reproducible.
fn hash(seed: &str, salt: u64) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64 ^ salt;
    for byte in seed.bytes() {
        h = (h ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// A 64-hex id like the engine's container, image and exec ids.
pub(crate) fn hex_id(seed: &str) -> String {
    (0..4)
        .map(|salt| format!("{:016x}", hash(seed, salt)))
        .collect()
}

/// A 25-character id like swarmkit's node, service and secret ids.
pub(crate) fn short_id(seed: &str) -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    (0..25)
        .map(|i| ALPHABET[(hash(seed, i) % 36) as usize] as char)
        .collect()
}

pub(crate) fn uuid_like(seed: &str) -> String {
    let hex = hex_id(seed);
    let (a, b, c, d, e) = (
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32],
    );
    format!("{a}-{b}-{c}-{d}-{e}")
}

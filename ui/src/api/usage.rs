//! Usage from the console's history: a node's and a container's charts over a range, each
//! node's figures now, the busiest containers now, and every cluster's summary for Home.
//! Any signed-in user may read them. Where the endpoint maps the user to an agent
//! profile, they see only the nodes and containers the agent shows that profile, asked
//! with the user's own token. With `--prometheus-url`, the two charts' points come from
//! Prometheus instead (`crate::usage::prometheus`), in the same shape.

use std::collections::HashSet;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::cluster::{Cluster, AGENT_TIMEOUT, STATUS_TIMEOUT};
use super::{ApiError, ApiResult, App, Authed, Shared, CLUSTER};
use crate::agent::Call;
use crate::store::{now_secs, Endpoint, StoreError};
use crate::usage::now;
use crate::usage::prometheus::{Prometheus, Window};
use crate::usage::range::{plan, Plan, Range};
use crate::usage::sample::ClusterAnswer;
use crate::usage::series::Kind;
use crate::usage::store::SeriesInfo;

/// The most containers a top list shows.
const MAX_TOP: usize = 100;

pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route("/api/usage/summary", get(summary))
        .route(&format!("{CLUSTER}/usage/nodes"), get(nodes_now))
        .route(
            &format!("{CLUSTER}/usage/nodes/{{node}}"),
            get(node_history),
        )
        .route(
            &format!("{CLUSTER}/usage/containers/{{cid}}"),
            get(container_history),
        )
        .route(&format!("{CLUSTER}/usage/top"), get(top))
}

#[derive(Deserialize)]
struct RangeQuery {
    range: Option<String>,
}

#[derive(Deserialize)]
struct TopQuery {
    limit: Option<String>,
}

fn range_of(q: &RangeQuery) -> ApiResult<Range> {
    let text = q.range.as_deref().unwrap_or("1h");
    Range::parse(text)
        .ok_or_else(|| ApiError::bad(format!("range {text:?}: it is one of {}", Range::NAMES)))
}

async fn endpoint(app: &App, id: i64) -> ApiResult<Endpoint> {
    Ok(app.db.run(move |s| s.endpoint(id)).await?)
}

/// Whether the endpoint maps the user to an agent profile, which may narrow what they see.
fn profiled(endpoint: &Endpoint, who: &Authed) -> bool {
    endpoint.profiles.pick(&who.username, who.role).is_some()
}

/// The nodes and containers a profile-mapped user sees of a cluster's usage.
struct Visible {
    nodes: HashSet<String>,
    containers: HashSet<String>,
}

/// What the user may see, as the agent answers their own token for the newest samples (it
/// keeps to the profile's nodes and label scope); `None` when the endpoint maps the user
/// to no profile, so that their token, `read` or `admin`, sees everything.
async fn visible(app: &App, endpoint: Endpoint, who: &Authed) -> ApiResult<Option<Visible>> {
    if !profiled(&endpoint, who) {
        return Ok(None);
    }
    let cluster = Cluster::of(app, endpoint, who)?;
    let (_, body) = cluster
        .call(Call::get("/agent/v1/metrics?scope=cluster"), AGENT_TIMEOUT)
        .await?;
    let answer: ClusterAnswer = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!("the agent's usage answer: {e}"),
        )
    })?;
    let containers = answer
        .nodes
        .iter()
        .flat_map(|n| &n.samples)
        .flat_map(|s| &s.containers)
        .map(|c| c.id.clone())
        .collect();
    let nodes = answer
        .nodes
        .into_iter()
        .map(|n| n.node)
        .chain(answer.missing.into_iter().map(|m| m.node))
        .collect();
    Ok(Some(Visible { nodes, containers }))
}

fn no_node(node: &str) -> StoreError {
    StoreError::NotFound(format!("no usage stored for a node {node:?}"))
}

fn plan_json(range: Range, p: &Plan) -> Value {
    json!({
        "range": range.name(),
        "tier": p.tier.suffix(),
        "bucket": p.bucket,
        "spacing": p.spacing,
        "from": p.from,
        "to": p.to,
    })
}

fn merge(mut into: Value, from: Value) -> Value {
    if let (Some(a), Value::Object(b)) = (into.as_object_mut(), from) {
        a.extend(b);
    }
    into
}

async fn node_history(
    State(app): State<Shared>,
    who: Authed,
    Path((id, node)): Path<(i64, String)>,
    Query(q): Query<RangeQuery>,
) -> ApiResult<Json<Value>> {
    let range = range_of(&q)?;
    let endpoint = endpoint(&app, id).await?;
    if let Some(seen) = visible(&app, endpoint, &who).await? {
        if !seen.nodes.contains(&node) {
            return Err(no_node(&node).into());
        }
    }
    if let Some(prometheus) = app.usage.prometheus.clone() {
        return Ok(Json(
            node_from_prometheus(&app, &prometheus, id, node, range).await?,
        ));
    }
    let fallback = app.usage.config.interval.as_secs() as i64;
    let keep = app.usage.config.retention;
    let fresh_after = app.usage.fresh_after(now_secs());
    let answer = app
        .usage
        .db
        .run(move |s| {
            let host = s
                .series(id, Kind::Host, Some(&node))?
                .into_iter()
                .next()
                .ok_or_else(|| no_node(&node))?;
            let p = plan(
                range,
                now_secs(),
                host.interval().unwrap_or(fallback),
                &keep,
            );
            let points = s.points(Kind::Host, host.id, &p)?;
            let mut filesystems = Vec::new();
            for fs in s.series(id, Kind::Filesystem, Some(&node))? {
                if fs.last_time < p.from {
                    continue;
                }
                filesystems.push(json!({
                    "mount": fs.key,
                    "device": fs.name,
                    "fstype": fs.info["fstype"],
                    "points": s.points(Kind::Filesystem, fs.id, &p)?.to_json(),
                }));
            }
            filesystems.sort_by(|a, b| a["mount"].as_str().cmp(&b["mount"].as_str()));
            let current = s
                .nodes_now(id, fresh_after)?
                .into_iter()
                .find(|n| n.host.node == node)
                .map(|n| now::node_json(&n));
            Ok(merge(
                json!({
                    "node": node,
                    "cores": host.info["cores"],
                    "interval": host.interval(),
                    "last_time": host.last_time,
                    "host": points.to_json(),
                    "filesystems": filesystems,
                    "now": current,
                }),
                plan_json(range, &p),
            ))
        })
        .await?;
    Ok(Json(answer))
}

async fn container_history(
    State(app): State<Shared>,
    who: Authed,
    Path((id, cid)): Path<(i64, String)>,
    Query(q): Query<RangeQuery>,
) -> ApiResult<Json<Value>> {
    let range = range_of(&q)?;
    let endpoint = endpoint(&app, id).await?;
    let mut wanted = cid.to_ascii_lowercase();
    if profiled(&endpoint, &who) {
        // The agent decides whether this user may see the container at all.
        let (cluster, reference) = Cluster::for_object(&app, id, &cid, &who).await?;
        let (_, found) = cluster.inspect(reference, STATUS_TIMEOUT).await?;
        wanted = found.id;
    }
    if let Some(prometheus) = app.usage.prometheus.clone() {
        return Ok(Json(
            container_from_prometheus(&app, &prometheus, id, wanted, range).await?,
        ));
    }
    let fallback = app.usage.config.interval.as_secs() as i64;
    let keep = app.usage.config.retention;
    let answer = app
        .usage
        .db
        .run(move |s| {
            let ct = s.container(id, &wanted)?;
            let interval = s
                .series(id, Kind::Host, Some(&ct.node))?
                .first()
                .and_then(|h| h.interval())
                .unwrap_or(fallback);
            let p = plan(range, now_secs(), interval, &keep);
            let points = s.points(Kind::Container, ct.id, &p)?;
            Ok(merge(
                json!({
                    "id": ct.key,
                    "name": ct.name,
                    "node": ct.node,
                    "image": ct.info["image"],
                    "interval": interval,
                    "last_time": ct.last_time,
                    "points": points.to_json(),
                }),
                plan_json(range, &p),
            ))
        })
        .await?;
    Ok(Json(answer))
}

/// [`node_history`] from Prometheus: the points from there; the node's details and its
/// figures now from the store, when the puller has them. A node neither knows is a 404.
async fn node_from_prometheus(
    app: &App,
    prometheus: &Prometheus,
    id: i64,
    node: String,
    range: Range,
) -> ApiResult<Value> {
    let fresh_after = app.usage.fresh_after(now_secs());
    let name = node.clone();
    let (host, current) = app
        .usage
        .db
        .run(move |s| {
            let host = s.series(id, Kind::Host, Some(&name))?.into_iter().next();
            let current = s
                .nodes_now(id, fresh_after)?
                .into_iter()
                .find(|n| n.host.node == name)
                .map(|n| now::node_json(&n));
            Ok((host, current))
        })
        .await?;
    let window = Window::new(range, now_secs(), prometheus.scrape);
    let (points, any) = prometheus.points(Kind::Host, &node, "", &window).await?;
    if host.is_none() && !any {
        return Err(no_node(&node).into());
    }
    let filesystems: Vec<Value> = prometheus
        .filesystems(&node, &window)
        .await?
        .into_iter()
        .map(|(mount, device, fstype, points)| {
            json!({
                "mount": mount,
                "device": device,
                "fstype": fstype,
                "points": points.to_json(),
            })
        })
        .collect();
    Ok(merge(
        json!({
            "node": node,
            "cores": host.as_ref().map(|h| h.info["cores"].clone()),
            "interval": host.as_ref().and_then(SeriesInfo::interval),
            "last_time": host.as_ref().map(|h| h.last_time),
            "host": points.to_json(),
            "filesystems": filesystems,
            "now": current,
        }),
        window.plan_json(range),
    ))
}

/// [`container_history`] from Prometheus: the store finds the container (by a prefix of
/// its ID too) and its node, whose series the queries are restricted to.
async fn container_from_prometheus(
    app: &App,
    prometheus: &Prometheus,
    id: i64,
    wanted: String,
    range: Range,
) -> ApiResult<Value> {
    let (ct, interval) = app
        .usage
        .db
        .run(move |s| {
            let ct = s.container(id, &wanted)?;
            let interval = s
                .series(id, Kind::Host, Some(&ct.node))?
                .first()
                .and_then(SeriesInfo::interval);
            Ok((ct, interval))
        })
        .await?;
    let window = Window::new(range, now_secs(), prometheus.scrape);
    let (points, _) = prometheus
        .points(Kind::Container, &ct.node, &ct.key, &window)
        .await?;
    Ok(merge(
        json!({
            "id": ct.key,
            "name": ct.name,
            "node": ct.node,
            "image": ct.info["image"],
            "interval": interval,
            "last_time": ct.last_time,
            "points": points.to_json(),
        }),
        window.plan_json(range),
    ))
}

async fn nodes_now(
    State(app): State<Shared>,
    who: Authed,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    let endpoint = endpoint(&app, id).await?;
    let seen = visible(&app, endpoint, &who).await?;
    let fresh_after = app.usage.fresh_after(now_secs());
    let mut nodes = app
        .usage
        .db
        .run(move |s| s.nodes_now(id, fresh_after))
        .await?;
    if let Some(seen) = seen {
        nodes.retain(|n| seen.nodes.contains(&n.host.node));
    }
    Ok(Json(json!({
        "items": nodes.iter().map(now::node_json).collect::<Vec<_>>(),
        "summary": now::summary(&nodes),
    })))
}

async fn top(
    State(app): State<Shared>,
    who: Authed,
    Path(id): Path<i64>,
    Query(q): Query<TopQuery>,
) -> ApiResult<Json<Value>> {
    let limit = match q.limit.as_deref() {
        None => 10,
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=MAX_TOP).contains(&n) => n,
            _ => {
                return Err(ApiError::bad(format!(
                    "limit {text:?}: a number from 1 to {MAX_TOP}"
                )))
            }
        },
    };
    let endpoint = endpoint(&app, id).await?;
    let seen = visible(&app, endpoint, &who).await?;
    let fresh_after = app.usage.fresh_after(now_secs());
    let mut containers = app
        .usage
        .db
        .run(move |s| s.containers_now(id, fresh_after))
        .await?;
    if let Some(seen) = seen {
        containers.retain(|c| seen.containers.contains(&c.series.key));
    }
    Ok(Json(json!({
        "time": containers.iter().map(|c| c.series.last_time).max(),
        "containers": containers.len(),
        "cpu": now::top(&containers, "cpu", limit),
        "memory": now::top(&containers, "mem_used", limit),
    })))
}

async fn summary(State(app): State<Shared>, who: Authed) -> ApiResult<Json<Value>> {
    let endpoints = app.db.run(|s| s.endpoints()).await?;
    let fresh_after = app.usage.fresh_after(now_secs());
    let mut items = Vec::new();
    for endpoint in endpoints {
        let (id, name) = (endpoint.id, endpoint.name.clone());
        // A cluster whose agent cannot say what this user may see shows no figures.
        let Ok(seen) = visible(&app, endpoint, &who).await else {
            items.push(json!({"id": id, "name": name, "usage": null}));
            continue;
        };
        let mut nodes = app
            .usage
            .db
            .run(move |s| s.nodes_now(id, fresh_after))
            .await?;
        if let Some(seen) = seen {
            nodes.retain(|n| seen.nodes.contains(&n.host.node));
        }
        items.push(json!({"id": id, "name": name, "usage": now::summary(&nodes)}));
    }
    Ok(Json(json!({ "items": items })))
}

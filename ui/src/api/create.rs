//! Creating a container from the console's form: the form's plain fields checked and turned
//! into the engine's create body, sent to the chosen node, and the container optionally
//! started.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::action::Action;
use super::cluster::{container_ref, served_by, Cluster, ACTION_TIMEOUT};
use super::{ApiError, ApiResult, Authed, JsonBody, Shared, CLUSTER};
use crate::agent::Call;
use crate::auth::Role;

pub(super) fn routes() -> Router<Shared> {
    Router::new().route(&format!("{CLUSTER}/containers"), post(create))
}

/// The form, as the page sends it.
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct CreateForm {
    image: String,
    name: String,
    /// The command's words; empty keeps the image's.
    cmd: Vec<String>,
    /// `KEY=value` each.
    env: Vec<String>,
    /// `[IP:]HOST:CONTAINER[/PROTO]` or `CONTAINER[/PROTO]` each.
    ports: Vec<String>,
    /// `VOLUME:/path[:ro]` or `/host/path:/path[:ro]` each.
    volumes: Vec<String>,
    network: String,
    /// `no`, `always`, `unless-stopped` or `on-failure`.
    restart: String,
    labels: BTreeMap<String, String>,
    /// The node to create it on; empty: where the agent places it.
    node: String,
    start: bool,
}

async fn create(
    State(app): State<Shared>,
    who: Authed,
    Path(id): Path<i64>,
    form: JsonBody<CreateForm>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let act = Action::start(&who, Role::Operator, "container.create")?;
    let JsonBody(form) = form;
    let body = engine_body(&form)?;
    let name = form.name.trim();
    if !name.is_empty() {
        container_ref(name)?;
    }
    let node = form.node.trim();
    let cluster = Cluster::open(&app, id, &who).await?;
    let path = if name.is_empty() {
        "/containers/create".to_owned()
    } else {
        format!("/containers/create?name={name}")
    };
    let call = Call::new(Method::POST, path).json(body).on(node);
    let made = cluster.json(call, ACTION_TIMEOUT).await;
    let shown = if name.is_empty() {
        form.image.trim()
    } else {
        name
    };
    let target = if form.start {
        format!("{shown} from {} (and start)", form.image.trim())
    } else {
        format!("{shown} from {}", form.image.trim())
    };
    let made_on = match &made {
        Ok((headers, _)) => served_by(headers).unwrap_or(node).to_owned(),
        Err(_) => node.to_owned(),
    };
    let started = async {
        let (_, value) = made?;
        let cid = value["Id"].as_str().unwrap_or_default().to_owned();
        if form.start {
            let start = Call::new(Method::POST, format!("/containers/{cid}/start")).on(&made_on);
            cluster.call(start, ACTION_TIMEOUT).await?;
        }
        Ok::<_, crate::agent::AgentError>(json!({
            "Id": cid,
            "Warnings": value["Warnings"].clone(),
            "node": made_on,
            "started": form.start,
        }))
    }
    .await;
    let answer = act
        .at(&cluster.endpoint.name, &made_on)
        .on(target)
        .finish(&app, started)
        .await?;
    Ok((StatusCode::CREATED, Json(answer)))
}

/// The engine's create body for `form`; a field that is not well formed is a 400 naming it.
fn engine_body(form: &CreateForm) -> ApiResult<Value> {
    let image = form.image.trim();
    if image.is_empty() || image.chars().any(char::is_whitespace) {
        return Err(ApiError::bad("image: name the image, such as nginx:1.27"));
    }
    for e in &form.env {
        if !e.contains('=') || e.starts_with('=') {
            return Err(ApiError::bad(format!("env: {e:?} is not KEY=value")));
        }
    }
    let mut exposed = Map::new();
    let mut bindings: Map<String, Value> = Map::new();
    for p in form
        .ports
        .iter()
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
    {
        let port = parse_port(p)?;
        exposed.insert(port.container.clone(), json!({}));
        if let Some(host_port) = port.host_port {
            let list = bindings
                .entry(port.container)
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(list) = list {
                list.push(json!({"HostIp": port.host_ip, "HostPort": host_port}));
            }
        }
    }
    let mut binds = Vec::new();
    for v in form
        .volumes
        .iter()
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
    {
        binds.push(parse_volume(v)?);
    }
    let restart = match form.restart.trim() {
        "" | "no" => "no",
        r @ ("always" | "unless-stopped" | "on-failure") => r,
        other => {
            return Err(ApiError::bad(format!(
                "restart: {other:?} is not no, always, unless-stopped or on-failure"
            )))
        }
    };
    let network = form.network.trim();
    let mut host = json!({
        "PortBindings": bindings,
        "Binds": binds,
        "RestartPolicy": {"Name": restart},
    });
    if !network.is_empty() {
        host["NetworkMode"] = json!(network);
    }
    let mut body = json!({
        "Image": image,
        "Env": form.env,
        "Labels": form.labels,
        "ExposedPorts": exposed,
        "HostConfig": host,
    });
    if !form.cmd.is_empty() {
        body["Cmd"] = json!(form.cmd);
    }
    Ok(body)
}

/// One published or exposed port.
#[derive(Debug, PartialEq)]
struct PortSpec {
    /// `80/tcp`
    container: String,
    host_ip: String,
    host_port: Option<String>,
}

/// `[IP:]HOST:CONTAINER[/PROTO]` or `CONTAINER[/PROTO]`.
fn parse_port(text: &str) -> ApiResult<PortSpec> {
    let bad = || {
        ApiError::bad(format!(
            "ports: {text:?} is not [IP:]HOST:CONTAINER[/tcp|udp] or CONTAINER[/tcp|udp]"
        ))
    };
    let (spec, proto) = match text.rsplit_once('/') {
        Some((spec, proto @ ("tcp" | "udp" | "sctp"))) => (spec, proto),
        Some(_) => return Err(bad()),
        None => (text, "tcp"),
    };
    let is_port = |p: &str| p.parse::<u16>().is_ok_and(|n| n > 0);
    let parts: Vec<&str> = spec.rsplitn(3, ':').collect();
    let (container, host_port, host_ip) = match parts.as_slice() {
        [c] => (*c, None, ""),
        [c, h] => (*c, Some(*h), ""),
        [c, h, ip] => (*c, Some(*h), *ip),
        _ => return Err(bad()),
    };
    if !is_port(container) || host_port.is_some_and(|h| !h.is_empty() && !is_port(h)) {
        return Err(bad());
    }
    if !host_ip.is_empty()
        && host_ip
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_err()
    {
        return Err(bad());
    }
    Ok(PortSpec {
        container: format!("{container}/{proto}"),
        host_ip: host_ip.trim_matches(['[', ']']).to_owned(),
        host_port: host_port.map(str::to_owned),
    })
}

/// `SOURCE:/path[:ro|rw]`, where the source is a volume name or a host path.
fn parse_volume(text: &str) -> ApiResult<String> {
    let bad = || {
        ApiError::bad(format!(
            "volumes: {text:?} is not VOLUME:/path or /host/path:/path, with :ro for read-only"
        ))
    };
    let parts: Vec<&str> = text.split(':').collect();
    let (source, dest) = match parts.as_slice() {
        [s, d] | [s, d, "ro" | "rw"] => (*s, *d),
        _ => return Err(bad()),
    };
    let named = source
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        && source.starts_with(|c: char| c.is_ascii_alphanumeric());
    if source.is_empty() || !(named || source.starts_with('/')) || !dest.starts_with('/') {
        return Err(bad());
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_published_or_exposed() {
        assert_eq!(
            parse_port("8080:80").expect("ok"),
            PortSpec {
                container: "80/tcp".into(),
                host_ip: String::new(),
                host_port: Some("8080".into())
            }
        );
        let udp = parse_port("127.0.0.1:53:53/udp").expect("ok");
        assert_eq!(
            (udp.container.as_str(), udp.host_ip.as_str()),
            ("53/udp", "127.0.0.1")
        );
        assert_eq!(parse_port("443").expect("ok").host_port, None);
        for bad in ["x:80", "80/icmp", "1.2.3:80:80", "0", "70000:80", ""] {
            assert!(parse_port(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn volumes_are_a_name_or_a_host_path_then_a_path() {
        assert!(parse_volume("data:/data").is_ok());
        assert!(parse_volume("/srv/x:/x:ro").is_ok());
        for bad in ["data", "data:rel", "../x:/x", "a:/b:rx", ":/x"] {
            assert!(parse_volume(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_form_becomes_the_engines_body() {
        let form = CreateForm {
            image: "nginx:1".into(),
            cmd: vec!["sleep".into(), "1".into()],
            env: vec!["A=1".into()],
            ports: vec!["8080:80".into()],
            restart: "always".into(),
            network: "bridge".into(),
            ..Default::default()
        };
        let body = engine_body(&form).expect("ok");
        assert_eq!(body["Cmd"], json!(["sleep", "1"]));
        assert_eq!(
            body["HostConfig"]["PortBindings"]["80/tcp"][0]["HostPort"],
            "8080"
        );
        assert_eq!(body["HostConfig"]["RestartPolicy"]["Name"], "always");
        assert_eq!(body["HostConfig"]["NetworkMode"], "bridge");
        let bad_env = CreateForm {
            image: "x".into(),
            env: vec!["NOEQUALS".into()],
            ..Default::default()
        };
        assert!(engine_body(&bad_env).is_err());
        assert!(engine_body(&CreateForm::default()).is_err());
    }
}

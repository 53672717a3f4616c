//! Headers between client and engine: hop-by-hop ones stay on their hop, credentials and
//! the agent's own routing headers never reach the engine, everything else passes as is.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// Routing headers the agent reads itself.
pub const TARGET: HeaderName = HeaderName::from_static("x-agent-target");
pub const TARGET_ALIAS: HeaderName = HeaderName::from_static("x-portaineragent-target");
pub const STRICT: HeaderName = HeaderName::from_static("x-agent-strict");
pub const MANAGER_OPERATION: HeaderName = HeaderName::from_static("x-agent-manager-operation");
/// Set on every answer one node's engine gave: the name of that node.
pub const NODE: HeaderName = HeaderName::from_static("x-agent-node");

/// Headers that stay on their hop. `Upgrade` is among them: the caller sets it again
/// where a switch is wanted.
fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
    )
}

/// What a client sends that is for the agent alone: its credentials and its routing.
static FOR_THE_AGENT: [HeaderName; 6] = [
    header::AUTHORIZATION,
    TARGET,
    TARGET_ALIAS,
    STRICT,
    MANAGER_OPERATION,
    crate::cluster::token::HEADER,
];

fn is_for_the_agent(name: &HeaderName) -> bool {
    FOR_THE_AGENT.contains(name)
}

/// Removes the hop-by-hop headers, those the `Connection` header names included, and
/// those `also` picks (it is shown every name). One look over the names there are: most
/// requests and answers carry none of them, and are left as they are.
fn strip(headers: &mut HeaderMap, mut also: impl FnMut(&HeaderName) -> bool) {
    let mut doomed: Vec<HeaderName> = headers
        .keys()
        .filter(|name| also(name) | is_hop_by_hop(name))
        .cloned()
        .collect();
    if doomed.contains(&header::CONNECTION) {
        doomed.extend(
            headers
                .get_all(header::CONNECTION)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok()),
        );
    }
    for name in doomed {
        headers.remove(name);
    }
}

/// Makes a client's request headers fit for the engine. `upgrade` is the protocol to ask
/// the engine to switch to, for hijacks and upgrades.
pub fn for_engine(headers: &mut HeaderMap, upgrade: Option<HeaderValue>) {
    let mut host = false;
    strip(headers, |name| {
        host |= name == header::HOST;
        is_for_the_agent(name)
    });
    // Go's server refuses an HTTP/1.1 request without a Host header; an empty one (as
    // BuildKit sends) is fine and kept.
    if !host {
        headers.insert(header::HOST, HeaderValue::from_static("docker"));
    }
    if let Some(protocol) = upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        headers.insert(header::UPGRADE, protocol);
    }
}

/// The engine's response headers, fit for the client. `Content-Type` and every custom
/// header are kept exactly.
pub fn for_client(headers: &mut HeaderMap) {
    strip(headers, |_| false);
}

/// The first value of each of `names` that `headers` holds, found in one look over the
/// names it has (a few, for most requests) rather than a look-up by name each. Inlined, so
/// that each caller's comparisons are with names known when it is compiled (a call costs
/// about 90 instructions more per request otherwise).
#[inline(always)]
pub fn first_of<'h, const N: usize>(
    headers: &'h HeaderMap,
    names: [&HeaderName; N],
) -> [Option<&'h HeaderValue>; N] {
    let mut found = [None; N];
    for (name, value) in headers {
        if let Some(at) = names.iter().position(|n| *n == name) {
            found[at].get_or_insert(value);
        }
    }
    found
}

/// What the agent asks of every request's headers to know who sent it.
#[derive(Debug)]
pub struct Asked<'a> {
    /// The agent token of a request another agent forwarded.
    pub agent_token: Option<&'a HeaderValue>,
    pub authorization: Option<&'a HeaderValue>,
    /// Whether it has a `Connection` header: without one, it asks for no upgrade.
    pub connection: bool,
}

pub fn asked(headers: &HeaderMap) -> Asked<'_> {
    let [agent_token, authorization, connection] = first_of(
        headers,
        [
            &crate::cluster::token::HEADER,
            &header::AUTHORIZATION,
            &header::CONNECTION,
        ],
    );
    Asked {
        agent_token,
        authorization,
        connection: connection.is_some(),
    }
}

/// The protocol a client asked to switch to, if it asked.
pub fn requested_upgrade(headers: &HeaderMap) -> Option<HeaderValue> {
    let asks = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("upgrade"));
    if asks {
        headers.get(header::UPGRADE).cloned()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).expect("name"),
                HeaderValue::from_str(v).expect("value"),
            );
        }
        h
    }

    #[test]
    fn asked_finds_what_every_request_is_asked_in_one_look() {
        let none = map(&[
            ("host", "docker"),
            ("user-agent", "curl"),
            ("accept", "*/*"),
        ]);
        let found = asked(&none);
        assert!(found.agent_token.is_none() && found.authorization.is_none());
        assert!(!found.connection);
        let all = map(&[
            ("Authorization", "Bearer a"),
            ("authorization", "Bearer b"),
            ("X-Bosun-Agent-Token", "t"),
            ("connection", "Upgrade"),
            ("host", "docker"),
        ]);
        let found = asked(&all);
        assert_eq!(
            found.authorization,
            Some(&HeaderValue::from_static("Bearer a"))
        );
        assert_eq!(found.agent_token, Some(&HeaderValue::from_static("t")));
        assert!(found.connection);
    }

    #[test]
    fn hop_by_hop_and_credentials_stay_behind() {
        let mut h = map(&[
            ("connection", "keep-alive, x-private"),
            ("keep-alive", "timeout=5"),
            ("x-private", "1"),
            ("transfer-encoding", "chunked"),
            ("authorization", "Bearer abc"),
            ("x-agent-target", "node-2"),
            ("x-portaineragent-target", "node-2"),
            ("x-registry-auth", "eyJ9"),
            ("content-type", "application/x-tar"),
            ("host", "example:9001"),
        ]);
        for_engine(&mut h, None);
        let names: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
        assert_eq!(names.len(), 3, "{names:?}");
        assert_eq!(h["x-registry-auth"], "eyJ9");
        assert_eq!(h["content-type"], "application/x-tar");
        assert_eq!(h["host"], "example:9001");
    }

    #[test]
    fn the_agents_own_headers_are_known_as_its_own() {
        for name in [
            header::AUTHORIZATION,
            TARGET,
            TARGET_ALIAS,
            STRICT,
            MANAGER_OPERATION,
            crate::cluster::token::HEADER,
        ] {
            assert!(is_for_the_agent(&name), "{name}");
        }
        assert!(!is_for_the_agent(&NODE));
        assert!(!is_for_the_agent(&header::HOST));
    }

    #[test]
    fn upgrades_are_asked_for_explicitly() {
        let mut h = map(&[("content-type", "application/json")]);
        for_engine(&mut h, Some(HeaderValue::from_static("tcp")));
        assert_eq!(h["connection"], "Upgrade");
        assert_eq!(h["upgrade"], "tcp");
        assert_eq!(h["host"], "docker");
    }

    #[test]
    fn an_empty_host_is_kept() {
        let mut h = map(&[("host", "")]);
        for_engine(&mut h, None);
        assert_eq!(h["host"], "");
    }

    #[test]
    fn response_headers_keep_content_type_and_custom_ones() {
        let mut h = map(&[
            ("content-type", "application/vnd.docker.multiplexed-stream"),
            ("x-docker-container-path-stat", "eyJ9"),
            ("connection", "Upgrade"),
            ("upgrade", "tcp"),
        ]);
        for_client(&mut h);
        assert_eq!(h.len(), 2);
        assert_eq!(
            h["content-type"],
            "application/vnd.docker.multiplexed-stream"
        );
    }

    #[test]
    fn upgrade_requests_are_recognised() {
        assert_eq!(
            requested_upgrade(&map(&[("connection", "Upgrade"), ("upgrade", "tcp")])),
            Some(HeaderValue::from_static("tcp"))
        );
        assert_eq!(
            requested_upgrade(&map(&[
                ("connection", "keep-alive, upgrade"),
                ("upgrade", "h2c")
            ])),
            Some(HeaderValue::from_static("h2c"))
        );
        assert_eq!(requested_upgrade(&map(&[("upgrade", "tcp")])), None);
    }
}

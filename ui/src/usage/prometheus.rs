//! The usage history read from Prometheus instead of `usage.db` (`--prometheus-url`): each
//! chart figure as PromQL over the series the agents export (`bosun_*`, labelled `node`, a
//! container's also `id`), asked with `GET /api/v1/query_range`, and laid out as
//! [`Points`] on the query's own grid of times, so that the charts read either source
//! alike. A time Prometheus has no value for is a `null`, which breaks the chart's line.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use serde::Deserialize;
use serde_json::{json, Value};

use super::range::{self, Range, MAX_POINTS};
use super::series::{Kind, VIRTUAL_DISKS, VIRTUAL_INTERFACES};
use super::store::{Line, Points};
use crate::connector::{describe, Connector};

/// How long one query may take, sent to Prometheus too so that it gives up as well.
const QUERY_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest answer read: a chart's queries give at most about a thousand points per
/// series, far less than this; more is a wrong server, not a history.
const MAX_ANSWER: usize = 16 << 20;
/// Connections kept open between queries: a chart asks a dozen figures in a row.
const POOL_MAX_IDLE: usize = 4;
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum PrometheusError {
    #[error("cannot reach Prometheus at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("Prometheus at {url} gave no answer within {timeout:?}")]
    Timeout { url: String, timeout: Duration },
    #[error("Prometheus at {url} refused the query ({status}): {message}")]
    Refused {
        url: String,
        status: StatusCode,
        message: String,
    },
    #[error("Prometheus at {url} gave an answer that is not a range query's: {reason}")]
    Bad { url: String, reason: String },
}

/// The times a chart's range is read at: `from`, `from + step`, ... up to `to`, each
/// point folding the samples of the `window` seconds before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: i64,
    pub to: i64,
    pub step: i64,
    /// The range of `rate()` and `avg_over_time()`: a step, and at least two scrapes, so
    /// that a rate always has two samples and no point falls between scrapes.
    pub window: i64,
}

impl Window {
    /// The points of `range` up to `now` for series scraped every `scrape`: every scrape
    /// while that is at most [`MAX_POINTS`] points, else the round steps the store's
    /// buckets use.
    pub fn new(range: Range, now: i64, scrape: Duration) -> Self {
        let scrape = i64::try_from(scrape.as_secs()).unwrap_or(i64::MAX).max(1);
        let span = range.secs();
        let step = if span / scrape <= MAX_POINTS {
            scrape
        } else {
            range::step(span, scrape)
        };
        let from = now - span;
        Self {
            // On the step, so that the times are round and stay put from one reload to the next.
            from: from - from.rem_euclid(step),
            to: now,
            step,
            window: step.max(scrape.saturating_mul(2)),
        }
    }

    pub fn times(&self) -> Vec<i64> {
        (0..)
            .map(|i| self.from + i * self.step)
            .take_while(|t| *t <= self.to)
            .collect()
    }

    /// Where time `t` (seconds, as Prometheus gives it) is in [`Self::times`].
    fn index(&self, t: f64, len: usize) -> Option<usize> {
        let i = ((t - self.from as f64) / self.step as f64).round();
        (i >= 0.0 && i < len as f64).then_some(i as usize)
    }

    /// The answer's `Plan` fields, as the store's plans give them: every point is an
    /// average over its window, hence a bucket.
    pub fn plan_json(&self, range: Range) -> Value {
        json!({
            "range": range.name(),
            "tier": "prometheus",
            "bucket": self.step,
            "spacing": self.step,
            "from": self.from,
            "to": self.to,
        })
    }
}

/// A string as a PromQL string literal.
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A regular expression matching names that start with any of `prefixes`, as a PromQL
/// string literal: the same rule as the store's sums.
fn starting_with(prefixes: &[&str]) -> String {
    let escaped: Vec<String> = prefixes
        .iter()
        .map(|p| {
            p.chars()
                .flat_map(|c| {
                    let special = r"\.+*?()|[]{}^$".contains(c);
                    special.then_some('\\').into_iter().chain([c])
                })
                .collect()
        })
        .collect();
    quoted(&format!("({}).*", escaped.join("|")))
}

/// The PromQL of figure `figure` of a `kind` series on `node` (a container's: with ID
/// `id`), over `window` seconds; `None` for a figure Prometheus has no series for.
///
/// Every expression folds to one series (`max`): a node scraped twice (by two jobs, or
/// itself and through another agent's `?scope=cluster`) has its series twice, with other
/// `job` or `instance` labels, and a renamed container has two for a moment. A
/// filesystem's figures keep one series per mount, device and type.
pub fn expr(kind: Kind, figure: &str, node: &str, id: &str, window: i64) -> Option<String> {
    let on = match kind {
        Kind::Container => format!("node={},id={}", quoted(node), quoted(id)),
        Kind::Host | Kind::Filesystem => format!("node={}", quoted(node)),
    };
    let w = format!("[{window}s]");
    let used =
        |metric: &str, more: &str| format!("max(avg_over_time(bosun_{metric}{{{on}{more}}}{w}))");
    let capacity =
        |metric: &str, more: &str| format!("max(max_over_time(bosun_{metric}{{{on}{more}}}{w}))");
    let rate = |metric: &str| format!("max(rate(bosun_{metric}{{{on}}}{w}))");
    // The host's traffic: the real devices' rates added up, each device once.
    let summed = |metric: &str, label: &str, left_out: &[&str]| {
        format!(
            "sum(max by ({label}) (rate(bosun_{metric}{{{on},{label}!~{}}}{w})))",
            starting_with(left_out)
        )
    };
    let per_mount = |fold: &str, metric: &str| {
        format!("max by (mount, device, fstype) ({fold}(bosun_{metric}{{{on}}}{w}))")
    };
    Some(match (kind, figure) {
        (Kind::Host, "cpu") => used("host_cpu_percent", r#",mode="all""#),
        (Kind::Host, "load1") => used("host_load", r#",window="1m""#),
        (Kind::Host, "load5") => used("host_load", r#",window="5m""#),
        (Kind::Host, "load15") => used("host_load", r#",window="15m""#),
        (Kind::Host, "mem_used") => used("host_memory_bytes", r#",kind="used""#),
        (Kind::Host, "mem_total") => capacity("host_memory_bytes", r#",kind="total""#),
        (Kind::Host, "swap_used") => used("host_memory_bytes", r#",kind="swap_used""#),
        (Kind::Host, "swap_total") => capacity("host_memory_bytes", r#",kind="swap_total""#),
        (Kind::Host, "net_rx") => summed(
            "host_network_received_bytes_total",
            "interface",
            VIRTUAL_INTERFACES,
        ),
        (Kind::Host, "net_tx") => summed(
            "host_network_transmitted_bytes_total",
            "interface",
            VIRTUAL_INTERFACES,
        ),
        (Kind::Host, "disk_read") => summed("host_disk_read_bytes_total", "device", VIRTUAL_DISKS),
        (Kind::Host, "disk_write") => {
            summed("host_disk_written_bytes_total", "device", VIRTUAL_DISKS)
        }
        (Kind::Filesystem, "used") => per_mount("avg_over_time", "host_filesystem_used_bytes"),
        (Kind::Filesystem, "total") => per_mount("max_over_time", "host_filesystem_size_bytes"),
        (Kind::Container, "cpu") => used("container_cpu_percent", ""),
        (Kind::Container, "mem_used") => used("container_memory_used_bytes", ""),
        (Kind::Container, "mem_limit") => capacity("container_memory_limit_bytes", ""),
        (Kind::Container, "net_rx") => rate("container_network_received_bytes_total"),
        (Kind::Container, "net_tx") => rate("container_network_transmitted_bytes_total"),
        (Kind::Container, "blk_read") => rate("container_block_read_bytes_total"),
        (Kind::Container, "blk_write") => rate("container_block_written_bytes_total"),
        // Every figure the store keeps has a series today; one added to the store without
        // one here charts as nulls rather than failing the whole chart.
        _ => return None,
    })
}

/// One series of a range query's answer, on the window's grid.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub labels: BTreeMap<String, String>,
    pub values: Vec<Option<f64>>,
}

/// A Prometheus server's HTTP API, as `--prometheus-url` and its companions say.
pub struct Prometheus {
    /// As given, for messages.
    url: String,
    /// `scheme://authority` and the path the API is under (a reverse proxy's prefix).
    base: String,
    /// `Bearer ...`, from `--prometheus-token-file`.
    authorization: Option<HeaderValue>,
    /// How often Prometheus scrapes the agents, which no query can tell.
    pub scrape: Duration,
    http: Client<Connector, Full<Bytes>>,
}

impl std::fmt::Debug for Prometheus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the token.
        f.debug_struct("Prometheus")
            .field("url", &self.url)
            .finish()
    }
}

#[derive(Deserialize)]
struct Answer {
    status: String,
    data: Option<Data>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(rename = "resultType")]
    result_type: String,
    result: Vec<Matrix>,
}

#[derive(Deserialize)]
struct Matrix {
    metric: BTreeMap<String, String>,
    /// `[unix seconds, "value"]`: values are strings so that `NaN` and `+Inf` fit.
    values: Vec<(f64, String)>,
}

impl Prometheus {
    /// A client of the Prometheus at `url` (`http://` or `https://`, maybe with a path),
    /// verified against `ca_pem` (required for `https://`), sending `token` as a bearer
    /// token.
    pub fn new(
        url: &str,
        token: Option<&str>,
        ca_pem: Option<&[u8]>,
        scrape: Duration,
    ) -> Result<Self, String> {
        let uri: Uri = url
            .parse()
            .map_err(|e| format!("not a URL ({e}): like http://prometheus:9090"))?;
        let tls = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => return Err("the scheme is http or https".into()),
        };
        if uri.query().is_some() {
            return Err("a query (?...) has no place in it".into());
        }
        let host = uri
            .host()
            .ok_or("no host in it")?
            .trim_matches(['[', ']'])
            .to_owned();
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let authority = uri.authority().ok_or("no host in it")?.as_str();
        let connector = match (tls, ca_pem) {
            (true, Some(pem)) => Connector::tls(&host, port, roots(pem)?)?,
            (true, None) => {
                return Err(
                    "an https URL needs --prometheus-ca (the CA file of the server's certificate, or the system's bundle)"
                        .into(),
                )
            }
            (false, Some(_)) => return Err("--prometheus-ca is for an https URL".into()),
            (false, None) => Connector::plain(&host, port),
        };
        let authorization = token
            .map(|t| HeaderValue::from_str(&format!("Bearer {t}")))
            .transpose()
            .map_err(|_| "the token has characters a header cannot carry".to_owned())?
            .map(|mut v| {
                v.set_sensitive(true);
                v
            });
        let scheme = if tls { "https" } else { "http" };
        let http = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .pool_max_idle_per_host(POOL_MAX_IDLE)
            .build(connector);
        Ok(Self {
            url: url.to_owned(),
            base: format!("{scheme}://{authority}{}", uri.path().trim_end_matches('/')),
            authorization,
            scrape,
            http,
        })
    }

    /// `query` at every time of `window`: each series Prometheus gives, on the window's
    /// grid, with `None` where it has no value or the value is not a number.
    pub async fn query_range(
        &self,
        query: &str,
        window: &Window,
    ) -> Result<Vec<Found>, PrometheusError> {
        let path = format!(
            "{}/api/v1/query_range?query={}&start={}&end={}&step={}&timeout={}s",
            self.base,
            utf8_percent_encode(query, NON_ALPHANUMERIC),
            window.from,
            window.to,
            window.step,
            QUERY_TIMEOUT.as_secs()
        );
        let (status, body) = tokio::time::timeout(QUERY_TIMEOUT, self.get(&path))
            .await
            .map_err(|_| PrometheusError::Timeout {
                url: self.url.clone(),
                timeout: QUERY_TIMEOUT,
            })??;
        let answer: Result<Answer, _> = serde_json::from_slice(&body);
        if !status.is_success() {
            let message = match answer {
                Ok(Answer { error: Some(e), .. }) => e,
                // A proxy in front of it, say, refusing the token.
                _ => String::from_utf8_lossy(&body).chars().take(200).collect(),
            };
            return Err(PrometheusError::Refused {
                url: self.url.clone(),
                status,
                message,
            });
        }
        let bad = |reason: String| PrometheusError::Bad {
            url: self.url.clone(),
            reason,
        };
        let answer = answer.map_err(|e| bad(e.to_string()))?;
        if answer.status != "success" {
            let status = answer.status;
            return Err(bad(answer
                .error
                .unwrap_or_else(|| format!("status {status:?}"))));
        }
        let data = answer.data.ok_or_else(|| bad("no data".into()))?;
        if data.result_type != "matrix" {
            return Err(bad(format!("a {:?}, not a matrix", data.result_type)));
        }
        let len = window.times().len();
        Ok(data
            .result
            .into_iter()
            .map(|m| {
                let mut values = vec![None; len];
                for (t, v) in m.values {
                    if let (Some(i), Ok(v)) = (window.index(t, len), v.parse::<f64>()) {
                        values[i] = v.is_finite().then_some(v);
                    }
                }
                Found {
                    labels: m.metric,
                    values,
                }
            })
            .collect())
    }

    async fn get(&self, uri: &str) -> Result<(StatusCode, Bytes), PrometheusError> {
        let unreachable = |reason: String| PrometheusError::Unreachable {
            url: self.url.clone(),
            reason,
        };
        let mut req = Request::get(uri).header(header::ACCEPT, "application/json");
        if let Some(auth) = &self.authorization {
            req = req.header(header::AUTHORIZATION, auth.clone());
        }
        let req = req
            .body(Full::new(Bytes::new()))
            .map_err(|e| unreachable(e.to_string()))?;
        // The pool's own error names only its kind ("client error (Connect)"): its causes
        // say what happened.
        let resp = self
            .http
            .request(req)
            .await
            .map_err(|e| unreachable(describe(&e)))?;
        let status = resp.status();
        let body = Limited::new(resp.into_body(), MAX_ANSWER)
            .collect()
            .await
            .map_err(|e| unreachable(format!("reading the answer: {e}")))?
            .to_bytes();
        Ok((status, body))
    }

    /// A series' points over `window`: each figure of `kind` from its query, in the
    /// kind's order, with no peaks (a point is already an average over its window).
    /// `id` is a container's ID. Also whether Prometheus had any value at all.
    pub async fn points(
        &self,
        kind: Kind,
        node: &str,
        id: &str,
        window: &Window,
    ) -> Result<(Points, bool), PrometheusError> {
        let times = window.times();
        let mut lines = Vec::new();
        let mut any = false;
        for figure in kind.figures() {
            let value = match expr(kind, figure.name, node, id, window.window) {
                Some(q) => {
                    let found = self.query_range(&q, window).await?;
                    // One series, or none; see [`expr`].
                    match found.into_iter().next() {
                        Some(f) => f.values,
                        None => vec![None; times.len()],
                    }
                }
                None => vec![None; times.len()],
            };
            any |= value.iter().any(Option::is_some);
            lines.push(Line {
                value: value
                    .into_iter()
                    .map(|v| v.map(|v| figure.round(v)))
                    .collect(),
                peak: None,
            });
        }
        Ok((Points { kind, times, lines }, any))
    }

    /// A node's filesystems over `window`: `(mount, device, fstype, points)`, by mount.
    pub async fn filesystems(
        &self,
        node: &str,
        window: &Window,
    ) -> Result<Vec<(String, String, String, Points)>, PrometheusError> {
        let kind = Kind::Filesystem;
        let times = window.times();
        let mut by_mount: BTreeMap<String, (String, String, Points)> = BTreeMap::new();
        for (i, figure) in kind.figures().iter().enumerate() {
            let Some(q) = expr(kind, figure.name, node, "", window.window) else {
                continue;
            };
            for found in self.query_range(&q, window).await? {
                let label = |name: &str| found.labels.get(name).cloned().unwrap_or_default();
                let mount = label("mount");
                if mount.is_empty() {
                    continue;
                }
                let (_, _, points) = by_mount.entry(mount).or_insert_with(|| {
                    let lines = kind
                        .figures()
                        .iter()
                        .map(|_| Line {
                            value: vec![None; times.len()],
                            peak: None,
                        })
                        .collect();
                    (
                        label("device"),
                        label("fstype"),
                        Points {
                            kind,
                            times: times.clone(),
                            lines,
                        },
                    )
                });
                // A mount whose device changed has a series for each: they take turns.
                for (slot, v) in points.lines[i].value.iter_mut().zip(found.values) {
                    if let Some(v) = v {
                        *slot = Some(figure.round(v));
                    }
                }
            }
        }
        Ok(by_mount
            .into_iter()
            .map(|(mount, (device, fstype, points))| (mount, device, fstype, points))
            .collect())
    }
}

/// The roots that verify Prometheus's certificate: the certificates of `ca_pem`.
fn roots(ca_pem: &[u8]) -> Result<rustls::RootCertStore, String> {
    let certs = CertificateDer::pem_slice_iter(ca_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("--prometheus-ca: {e}"))?;
    let mut roots = rustls::RootCertStore::empty();
    // A system bundle holds a few certificates rustls cannot use; the rest still count.
    let (added, _) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err("--prometheus-ca: no usable certificate in it".into());
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nodes_promql() {
        let q = |figure| expr(Kind::Host, figure, "web-1", "", 10);
        assert_eq!(
            q("cpu").as_deref(),
            Some(r#"max(avg_over_time(bosun_host_cpu_percent{node="web-1",mode="all"}[10s]))"#)
        );
        assert_eq!(
            q("mem_used").as_deref(),
            Some(r#"max(avg_over_time(bosun_host_memory_bytes{node="web-1",kind="used"}[10s]))"#)
        );
        assert_eq!(
            q("mem_total").as_deref(),
            Some(r#"max(max_over_time(bosun_host_memory_bytes{node="web-1",kind="total"}[10s]))"#)
        );
        assert_eq!(
            q("load15").as_deref(),
            Some(r#"max(avg_over_time(bosun_host_load{node="web-1",window="15m"}[10s]))"#)
        );
        assert_eq!(
            q("net_rx").as_deref(),
            Some(
                r#"sum(max by (interface) (rate(bosun_host_network_received_bytes_total{node="web-1",interface!~"(lo|veth|docker|br-|virbr|vxlan|flannel|cni|cali|tunl|weave|kube-|tap|tun|vnet).*"}[10s])))"#
            )
        );
        assert_eq!(
            q("disk_write").as_deref(),
            Some(
                r#"sum(max by (device) (rate(bosun_host_disk_written_bytes_total{node="web-1",device!~"(dm-|md|sr|zram|loop|ram|nbd).*"}[10s])))"#
            )
        );
        assert_eq!(
            expr(Kind::Filesystem, "used", "web-1", "", 120).as_deref(),
            Some(
                r#"max by (mount, device, fstype) (avg_over_time(bosun_host_filesystem_used_bytes{node="web-1"}[120s]))"#
            )
        );
        for f in Kind::Host
            .figures()
            .iter()
            .chain(Kind::Filesystem.figures())
        {
            assert!(q(f.name).is_some() || expr(Kind::Filesystem, f.name, "n", "", 10).is_some());
        }
        // A node name is outside data: it cannot end the string.
        assert_eq!(
            expr(Kind::Host, "cpu", "a\"b\\c", "", 10).as_deref(),
            Some(r#"max(avg_over_time(bosun_host_cpu_percent{node="a\"b\\c",mode="all"}[10s]))"#)
        );
    }

    #[test]
    fn a_containers_promql() {
        let id = "3f2a9c";
        let q = |figure| expr(Kind::Container, figure, "web-1", id, 30);
        assert_eq!(
            q("cpu").as_deref(),
            Some(
                r#"max(avg_over_time(bosun_container_cpu_percent{node="web-1",id="3f2a9c"}[30s]))"#
            )
        );
        assert_eq!(
            q("mem_limit").as_deref(),
            Some(
                r#"max(max_over_time(bosun_container_memory_limit_bytes{node="web-1",id="3f2a9c"}[30s]))"#
            )
        );
        assert_eq!(
            q("blk_write").as_deref(),
            Some(
                r#"max(rate(bosun_container_block_written_bytes_total{node="web-1",id="3f2a9c"}[30s]))"#
            )
        );
        assert_eq!(
            q("net_rx").as_deref(),
            Some(
                r#"max(rate(bosun_container_network_received_bytes_total{node="web-1",id="3f2a9c"}[30s]))"#
            )
        );
        assert!(Kind::Container
            .figures()
            .iter()
            .all(|f| q(f.name).is_some()));
        assert_eq!(q("pids"), None);
    }

    #[test]
    fn a_range_is_at_most_a_thousand_points_on_round_times() {
        let now = 1_764_712_345;
        let hour = Window::new(Range::Hour, now, Duration::from_secs(1));
        assert_eq!((hour.step, hour.window), (10, 10));
        assert_eq!(hour.from % 10, 0);
        assert!(hour.from <= now - 3600);
        let slow = Window::new(Range::Hour, now, Duration::from_secs(60));
        assert_eq!(
            (slow.step, slow.window),
            (60, 120),
            "a rate needs two scrapes"
        );
        for range in [Range::Day, Range::Week, Range::Month, Range::Year] {
            let w = Window::new(range, now, Duration::from_secs(15));
            let n = w.times().len() as i64;
            assert!(n <= MAX_POINTS + 2, "{range:?}: {n}");
            assert_eq!(
                w.times().last().copied(),
                Some(w.to - (w.to - w.from) % w.step)
            );
        }
        assert_eq!(hour.index(hour.from as f64 + 20.0, 400), Some(2));
        assert_eq!(hour.index(hour.from as f64 - 20.0, 400), None);
    }

    #[test]
    fn the_url_and_its_companions_are_checked() {
        let scrape = Duration::from_secs(15);
        let p = Prometheus::new("http://127.0.0.1:9090/prom/", Some("t0k"), None, scrape)
            .expect("valid");
        assert_eq!(p.base, "http://127.0.0.1:9090/prom");
        assert!(format!("{p:?}").contains("9090") && !format!("{p:?}").contains("t0k"));
        assert!(Prometheus::new("https://prom:9090", None, None, scrape)
            .unwrap_err()
            .contains("--prometheus-ca"));
        assert!(Prometheus::new("ftp://prom", None, None, scrape).is_err());
        assert!(Prometheus::new("http://prom?x=1", None, None, scrape).is_err());
        assert!(Prometheus::new("http://prom", Some("a\nb"), None, scrape).is_err());
        assert!(Prometheus::new("https://prom", None, Some(b"nothing"), scrape).is_err());
    }
}

//! `GET /metrics`: this node's series for Prometheus, or every node's in one scrape
//! (`scope=cluster`) for a Prometheus outside the cluster's network.

use http::{header, HeaderValue, StatusCode};

use crate::body::{self, Body};
use crate::error::json_error;
use crate::metrics::{merge, CONTENT_TYPE};

use super::{asked, Context};

pub async fn answer(cx: &Context<'_>, query: &str) -> http::Response<Body> {
    let asked = match asked(query) {
        Ok(a) => a,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, &e),
    };
    let here = cx.metrics.encode(&cx.profile.labels);
    if !asked.cluster {
        return text(here, &[]);
    }
    let mut texts = vec![here];
    let mut failures = Vec::new();
    for (node, answer) in super::ask_peers(cx, "/metrics").await {
        match answer.map(|b| String::from_utf8(b.to_vec())) {
            Ok(Ok(t)) => texts.push(t),
            Ok(Err(_)) => failures.push((node, "not text".into())),
            Err(reason) => failures.push((node, reason)),
        }
    }
    text(merge::merge(texts.iter().map(String::as_str)), &failures)
}

fn text(body: String, failures: &[(String, String)]) -> http::Response<Body> {
    let mut resp = http::Response::new(body::full(body));
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    crate::aggregate::mark_partial(&mut resp, failures);
    resp
}

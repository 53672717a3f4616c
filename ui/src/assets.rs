//! The front end, embedded in the binary: plain HTML, CSS and JavaScript modules.

use axum::http::{header, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// Path, content type, bytes.
const FILES: &[(&str, &str, &[u8])] = &[
    (
        "/assets/style.css",
        "text/css; charset=utf-8",
        include_bytes!("../assets/style.css"),
    ),
    (
        "/assets/js/app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/js/app.js"),
    ),
    (
        "/assets/js/api.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/js/api.js"),
    ),
    (
        "/assets/js/ui.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/js/ui.js"),
    ),
    (
        "/assets/js/pages.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/js/pages.js"),
    ),
];

const INDEX: &[u8] = include_bytes!("../assets/index.html");

/// Serves an asset, or the page shell for any other path (the pages route by hash).
pub async fn serve(method: Method, uri: Uri) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    let path = uri.path();
    if let Some((_, content_type, bytes)) = FILES.iter().find(|(p, _, _)| *p == path) {
        return (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            ],
            *bytes,
        )
            .into_response();
    }
    if path.starts_with("/assets/") {
        return StatusCode::NOT_FOUND.into_response();
    }
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        INDEX,
    )
        .into_response()
}

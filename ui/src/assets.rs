//! The front end, embedded in the binary: plain HTML, CSS and JavaScript modules.

use axum::http::{header, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

// `FILES`: (URL path, content type, bytes) of every file under `ui/assets/` but the page
// shell, written by `ui/build.rs`.
include!(concat!(env!("OUT_DIR"), "/assets.rs"));

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::{Path, PathBuf};

    /// Status, content type and body of what `serve` answers to `method path`.
    async fn call(method: Method, path: &str) -> (StatusCode, String, Vec<u8>) {
        let response = serve(method, path.parse().expect("a URI")).await;
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().expect("ASCII").to_owned())
            .unwrap_or_default();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("the body");
        (status, content_type, body.to_vec())
    }

    /// The `.js` files under `dir`, recursively, by their URL path below `url`.
    fn scripts(dir: &Path, url: &str, out: &mut BTreeMap<String, PathBuf>) {
        let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            let name = path.file_name().unwrap().to_str().expect("UTF-8 name");
            if path.is_dir() {
                scripts(&path, &format!("{url}/{name}"), out);
            } else if name.ends_with(".js") {
                out.insert(format!("{url}/{name}"), path);
            }
        }
    }

    /// Every script of the front end on disk: `/assets/js/...` → file.
    fn all_scripts() -> BTreeMap<String, PathBuf> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/js");
        let mut out = BTreeMap::new();
        scripts(&dir, "/assets/js", &mut out);
        assert!(
            out.contains_key("/assets/js/app.js"),
            "no app.js among {out:?}"
        );
        out
    }

    /// The quoted text after `keyword` (and an optional `(`), for each use of the keyword
    /// as a word: `from './x.js'`, `import './x.js'`, `import('./x.js')`.
    fn specifiers<'a>(src: &'a str, keyword: &str) -> Vec<&'a str> {
        let word = |c: char| c.is_alphanumeric() || c == '_' || c == '$';
        let mut out = Vec::new();
        for (at, _) in src.match_indices(keyword) {
            if src[..at].chars().next_back().is_some_and(word) {
                continue;
            }
            let rest = &src[at + keyword.len()..];
            if rest.chars().next().is_some_and(word) {
                continue;
            }
            let rest = rest.trim_start();
            let rest = rest.strip_prefix('(').map_or(rest, str::trim_start);
            let Some(quote) = rest
                .chars()
                .next()
                .filter(|c| matches!(c, '\'' | '"' | '`'))
            else {
                continue;
            };
            if let Some(end) = rest[1..].find(quote) {
                out.push(&rest[1..1 + end]);
            }
        }
        out
    }

    /// The relative module specifiers (`./…`, `../…`) a script imports or re-exports.
    fn relative_imports(src: &str) -> Vec<&str> {
        let mut out = specifiers(src, "from");
        out.extend(specifiers(src, "import"));
        out.retain(|s| s.starts_with("./") || s.starts_with("../"));
        out
    }

    /// A relative specifier resolved against the URL path of the module that has it.
    fn resolve(url: &str, spec: &str) -> String {
        let mut parts: Vec<&str> = url.split('/').filter(|p| !p.is_empty()).collect();
        parts.pop(); // the module's own file name
        for part in spec.split('/') {
            match part {
                "." | "" => {}
                ".." => {
                    assert!(parts.pop().is_some(), "{spec} in {url} leaves the site");
                }
                _ => parts.push(part),
            }
        }
        format!("/{}", parts.join("/"))
    }

    #[tokio::test]
    async fn every_script_is_served_as_javascript_and_every_relative_import_resolves() {
        let scripts = all_scripts();
        let mut imports = 0;
        for (url, file) in &scripts {
            let (status, content_type, body) = call(Method::GET, url).await;
            assert_eq!(
                status,
                StatusCode::OK,
                "{url} ({}) is not served: build.rs did not embed it",
                file.display()
            );
            assert!(
                content_type.starts_with("text/javascript"),
                "{url} is served as {content_type:?}, not JavaScript"
            );
            let src = std::fs::read_to_string(file).expect("the script");
            assert_eq!(body, src.as_bytes(), "{url}: the embedded copy is stale");
            for spec in relative_imports(&src) {
                imports += 1;
                let target = resolve(url, spec);
                let (status, content_type, _) = call(Method::GET, &target).await;
                assert_eq!(
                    status,
                    StatusCode::OK,
                    "{url} imports {spec:?}, but {target} is not served"
                );
                assert!(
                    content_type.starts_with("text/javascript"),
                    "{url} imports {spec:?}, served as {content_type:?}, not JavaScript"
                );
            }
        }
        assert!(imports > 0, "no relative import found: the scan is broken");
    }

    #[test]
    fn every_script_is_loaded_by_the_page_shell_or_a_module_it_imports() {
        let scripts = all_scripts();
        let shell = std::str::from_utf8(INDEX).expect("UTF-8 index.html");
        let mut todo: Vec<String> = specifiers(shell, "src=")
            .into_iter()
            .filter(|s| s.ends_with(".js"))
            .map(str::to_owned)
            .collect();
        assert!(!todo.is_empty(), "index.html loads no script");
        let mut seen = BTreeSet::new();
        while let Some(url) = todo.pop() {
            if !seen.insert(url.clone()) {
                continue;
            }
            let file = scripts
                .get(&url)
                .unwrap_or_else(|| panic!("{url} is loaded but is no file under ui/assets/js"));
            let src = std::fs::read_to_string(file).expect("the script");
            todo.extend(relative_imports(&src).into_iter().map(|s| resolve(&url, s)));
        }
        let orphans: Vec<&String> = scripts.keys().filter(|u| !seen.contains(*u)).collect();
        assert!(
            orphans.is_empty(),
            "no page loads these scripts (import them from app.js or a module it imports): {orphans:?}"
        );
    }

    #[tokio::test]
    async fn chart_js_and_its_licence_are_served_from_debians_package() {
        let (status, content_type, body) = call(Method::GET, "/assets/vendor/chart.umd.js").await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            content_type.starts_with("text/javascript"),
            "{content_type}"
        );
        let head = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        assert!(head.contains("Chart.js v3."), "{head}");
        let (status, content_type, body) =
            call(Method::GET, "/assets/vendor/chart.js-LICENSE.txt").await;
        assert_eq!(status, StatusCode::OK);
        assert!(content_type.starts_with("text/plain"), "{content_type}");
        let licence = String::from_utf8_lossy(&body);
        assert!(
            licence.contains("Permission is hereby granted"),
            "the MIT licence"
        );
    }

    #[tokio::test]
    async fn other_paths_get_the_page_shell_and_missing_assets_a_404() {
        for path in ["/", "/users", "/e/1/containers?x=1"] {
            let (status, content_type, body) = call(Method::GET, path).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            assert_eq!(content_type, "text/html; charset=utf-8", "{path}");
            assert_eq!(body, INDEX, "{path}");
        }
        let (status, _, body) = call(Method::HEAD, "/").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            body, INDEX,
            "serve leaves dropping a HEAD body to the server"
        );
        for path in ["/assets/missing.js", "/assets/index.html", "/assets/js"] {
            let (status, _, _) = call(Method::GET, path).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        }
        let (status, content_type, _) = call(Method::HEAD, "/assets/style.css").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(content_type, "text/css; charset=utf-8");
        for method in [Method::POST, Method::PUT, Method::DELETE] {
            let (status, _, _) = call(method.clone(), "/").await;
            assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
            let (status, _, _) = call(method.clone(), "/assets/js/app.js").await;
            assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
        }
    }
}

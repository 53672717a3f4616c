//! Embeds the front end: every file under `assets/` becomes a row of the table that
//! `src/assets.rs` serves, so adding, renaming or removing an asset needs no Rust change.
//!
//! Writes `$OUT_DIR/assets.rs`: `const FILES: &[(&str, &str, &[u8])]` of (URL path
//! `/assets/...`, content type, `include_bytes!` of the file), sorted by path. The content
//! type comes from the extension; any other extension fails the build. `assets/index.html`
//! is the page shell `src/assets.rs` serves for every other path, so it is not in the table.
//! Hidden files (a name starting with `.`) are left out.
//!
//! Third-party front-end files are never in the repository: they come from Debian
//! packages installed on the build machine (`VENDOR`), and go into the same table under
//! `/assets/vendor/`, each with its licence. A missing one fails the build with the
//! package to install.
//!
//! xterm.js comes as Debian's `node-xterm`: CommonJS modules (bookworm's `libjs-xterm`
//! browser file is a stub that `require`s them). `XTERM` bundles them into one browser
//! script: each module wrapped in a function of a small registry that resolves relative
//! `require` paths, with `window.Terminal` (and its fit addon applied) as the result.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process;

/// Extension → content type.
const TYPES: &[(&str, &str)] = &[
    ("css", "text/css; charset=utf-8"),
    ("js", "text/javascript; charset=utf-8"),
    ("html", "text/html; charset=utf-8"),
    ("svg", "image/svg+xml"),
    ("png", "image/png"),
    ("json", "application/json"),
    ("woff2", "font/woff2"),
    ("txt", "text/plain; charset=utf-8"),
];

/// The page shell, relative to `assets/`: served by `src/assets.rs` for other paths.
const SHELL: &str = "index.html";

/// A file embedded from a Debian package.
struct Vendored {
    url: &'static str,
    content_type: &'static str,
    file: &'static str,
    package: &'static str,
}

/// Chart.js 3.9.1's UMD build (it sets `window.Chart` when loaded by a `<script>`), from
/// `node-chart.js` (the file itself is in `libjs-chart.js`, which it depends on), and
/// the package's copyright file, which holds the MIT licence.
const VENDOR: &[Vendored] = &[
    Vendored {
        url: "/assets/vendor/chart.umd.js",
        content_type: "text/javascript; charset=utf-8",
        file: "/usr/share/nodejs/chart.js/dist/chart.min.js",
        package: "node-chart.js",
    },
    Vendored {
        url: "/assets/vendor/chart.js-LICENSE.txt",
        content_type: "text/plain; charset=utf-8",
        file: "/usr/share/doc/node-chart.js/copyright",
        package: "node-chart.js",
    },
];

/// Debian's xterm.js: its CommonJS modules, the fit addon among them (a link into
/// `libjs-xterm`), its style sheet and licence.
const XTERM_LIB: &str = "/usr/share/nodejs/xterm/lib";
const XTERM_PACKAGE: &str = "node-xterm";
/// The bundle's URL, and the module that is its entry point, relative to `XTERM_LIB`.
const XTERM_URL: &str = "/assets/vendor/xterm.js";
const XTERM_ENTRY: &str = "public/Terminal";
const XTERM_FIT: &str = "addons/fit/fit";
const XTERM_EXTRA: &[Vendored] = &[
    Vendored {
        url: "/assets/vendor/xterm.css",
        content_type: "text/css; charset=utf-8",
        file: "/usr/share/nodejs/xterm/lib/xterm.css",
        package: XTERM_PACKAGE,
    },
    Vendored {
        url: "/assets/vendor/xterm-LICENSE.txt",
        content_type: "text/plain; charset=utf-8",
        file: "/usr/share/doc/node-xterm/copyright",
        package: XTERM_PACKAGE,
    },
];

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let manifest = env::var_os("CARGO_MANIFEST_DIR").ok_or("CARGO_MANIFEST_DIR is not set")?;
    let root = PathBuf::from(manifest).join("assets");
    println!("cargo:rerun-if-changed=build.rs");

    let mut files = Vec::new();
    walk(&root, &root, &mut files)?;
    files.sort();

    let mut rows: Vec<(String, &str, PathBuf)> = Vec::new();
    for (url, file) in files {
        let ext = file.extension().and_then(|e| e.to_str()).unwrap_or("");
        let Some((_, content_type)) = TYPES.iter().find(|(e, _)| *e == ext) else {
            let known: Vec<&str> = TYPES.iter().map(|(e, _)| *e).collect();
            return Err(format!(
                "ui/build.rs: no content type for the asset {} (extension {:?}); \
                 add it to TYPES in ui/build.rs or use one of: {}",
                file.display(),
                ext,
                known.join(", ")
            ));
        };
        rows.push((url, content_type, file));
    }
    for v in VENDOR.iter().chain(XTERM_EXTRA) {
        println!("cargo:rerun-if-changed={}", v.file);
        // The real file, so that the table does not name a symbolic link that may change.
        let real = fs::canonicalize(v.file).map_err(|e| {
            format!(
                "ui/build.rs: {} ({e}): install Debian's {} package \
                 (apt-get install {}; scripts/test.sh and scripts/start-console.sh do)",
                v.file, v.package, v.package
            )
        })?;
        println!("cargo:rerun-if-changed={}", real.display());
        rows.push((v.url.to_owned(), v.content_type, real));
    }
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").ok_or("OUT_DIR is not set")?);
    let bundle = out_dir.join("xterm.js");
    write_if_changed(&bundle, &xterm_bundle()?)?;
    rows.push((
        XTERM_URL.to_owned(),
        "text/javascript; charset=utf-8",
        bundle,
    ));
    rows.sort();

    let mut out = String::from(
        "// Generated by ui/build.rs from ui/assets/ and Debian's packages: (URL path, content type, bytes).\n\
         const FILES: &[(&str, &str, &[u8])] = &[\n",
    );
    for (url, content_type, file) in &rows {
        let path = file
            .to_str()
            .ok_or_else(|| format!("ui/build.rs: the path {} is not UTF-8", file.display()))?;
        writeln!(
            out,
            "    ({url:?}, {content_type:?}, include_bytes!({path:?})),"
        )
        .expect("write to a String");
    }
    out.push_str("];\n");

    write_if_changed(&out_dir.join("assets.rs"), &out)
}

/// Written only when it changed, so an unchanged file does not rebuild the crate.
fn write_if_changed(dest: &Path, text: &str) -> Result<(), String> {
    if fs::read_to_string(dest).ok().as_deref() != Some(text) {
        fs::write(dest, text).map_err(|e| format!("ui/build.rs: write {}: {e}", dest.display()))?;
    }
    Ok(())
}

/// xterm.js's modules as one browser script that sets `window.Terminal`.
fn xterm_bundle() -> Result<String, String> {
    let lib = Path::new(XTERM_LIB);
    let missing = |what: &Path, e: std::io::Error| {
        format!(
            "ui/build.rs: {} ({e}): install Debian's {XTERM_PACKAGE} package (apt-get install \
             {XTERM_PACKAGE} libjs-xterm; scripts/test.sh and scripts/start-console.sh do)",
            what.display()
        )
    };
    println!("cargo:rerun-if-changed={XTERM_LIB}");
    let mut modules = Vec::new();
    collect_modules(lib, lib, &mut modules).map_err(|e| missing(lib, e))?;
    let fit = lib.join(format!("{XTERM_FIT}.js"));
    let fit_source = fs::read_to_string(&fit).map_err(|e| missing(&fit, e))?;
    modules.push((XTERM_FIT.to_owned(), fit_source));
    modules.sort();
    if !modules.iter().any(|(name, _)| name == XTERM_ENTRY) {
        return Err(format!(
            "ui/build.rs: no {XTERM_ENTRY}.js under {XTERM_LIB}: is {XTERM_PACKAGE} xterm.js 3?"
        ));
    }
    let mut out = String::from(
        "/* xterm.js from Debian's node-xterm (MIT: /assets/vendor/xterm-LICENSE.txt), its \
         CommonJS modules wrapped for the browser by ui/build.rs. */\n(function () {\nvar defs = {\n",
    );
    for (name, source) in &modules {
        let body: String = source
            .lines()
            .filter(|l| !l.starts_with("//# sourceMappingURL="))
            .map(|l| format!("{l}\n"))
            .collect();
        writeln!(
            out,
            "{name:?}: function (exports, require, module) {{\n{body}}},"
        )
        .expect("write to a String");
    }
    out.push_str(&format!(
        r#"}};
var cache = {{}};
function resolve(from, path) {{
  var parts = from.split('/');
  parts.pop();
  path.split('/').forEach(function (p) {{
    if (p === '..') parts.pop(); else if (p !== '.') parts.push(p);
  }});
  return parts.join('/').replace(/\.js$/, '');
}}
function load(name) {{
  if (cache[name]) return cache[name].exports;
  var define = defs[name];
  if (!define) throw new Error('xterm.js: no module ' + name);
  var module = {{ exports: {{}} }};
  cache[name] = module;
  define.call(module.exports, module.exports, function (path) {{ return load(resolve(name, path)); }}, module);
  return module.exports;
}}
var Terminal = load({XTERM_ENTRY:?}).Terminal;
Terminal.applyAddon(load({XTERM_FIT:?}));
window.Terminal = Terminal;
}})();
"#
    ));
    Ok(out)
}

/// The modules under `dir` as (name relative to `root` without `.js`, source); tests,
/// and the addons (a link to another package's files, of which only fit is taken), left
/// out.
fn collect_modules(
    root: &Path,
    dir: &Path,
    modules: &mut Vec<(String, String)>,
) -> std::io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if dir == root && name == "addons" {
            continue;
        }
        if path.is_dir() {
            collect_modules(root, &path, modules)?;
            continue;
        }
        let Some(stem) = name.strip_suffix(".js") else {
            continue;
        };
        if stem.ends_with(".test") {
            continue;
        }
        let rel = path.strip_prefix(root).unwrap_or(&path);
        let rel = rel.to_string_lossy().replace('\\', "/");
        let module = rel.strip_suffix(".js").unwrap_or(&rel).to_owned();
        println!("cargo:rerun-if-changed={}", path.display());
        modules.push((module, fs::read_to_string(&path)?));
    }
    Ok(())
}

/// Collects (URL path, absolute file path) of the files under `dir`, recursively.
fn walk(root: &Path, dir: &Path, files: &mut Vec<(String, PathBuf)>) -> Result<(), String> {
    println!("cargo:rerun-if-changed={}", dir.display());
    let entries =
        fs::read_dir(dir).map_err(|e| format!("ui/build.rs: read {}: {e}", dir.display()))?;
    let mut paths = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| format!("ui/build.rs: read {}: {e}", dir.display()))?;
        paths.push(entry.path());
    }
    paths.sort();
    for path in paths {
        let name = path.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
            format!(
                "ui/build.rs: the asset name {} is not UTF-8",
                path.display()
            )
        })?;
        if name.starts_with('.') {
            continue;
        }
        if !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        {
            return Err(format!(
                "ui/build.rs: the asset name {name:?} ({}) has characters other than ASCII \
                 letters, digits, '.', '_' and '-', which a URL path would have to escape",
                path.display()
            ));
        }
        let meta =
            fs::metadata(&path).map_err(|e| format!("ui/build.rs: {}: {e}", path.display()))?;
        if meta.is_dir() {
            walk(root, &path, files)?;
            continue;
        }
        let rel = path.strip_prefix(root).expect("under the assets folder");
        let rel: Vec<&str> = rel
            .iter()
            .map(|c| c.to_str().expect("checked UTF-8"))
            .collect();
        let rel = rel.join("/");
        println!("cargo:rerun-if-changed={}", path.display());
        if rel == SHELL {
            continue;
        }
        files.push((format!("/assets/{rel}"), path));
    }
    Ok(())
}

//! `bosun-ui`'s command line: flags with environment twins, parsed once.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use bosun_serve::hex;
use bosun_serve::usage::{self, UsageError};
use clap::Parser;

use crate::agent::ConsoleKey;
use crate::api::App;
use crate::auth::{self, LoginLimiter};
use crate::server::Console;
use crate::store::Store;

/// The Bosun console: a web UI for clusters of Bosun agents.
#[derive(Parser, Debug)]
#[command(name = "bosun-ui", version)]
pub struct Args {
    /// Address to serve HTTPS on.
    #[arg(long, env = "BOSUN_UI_LISTEN", default_value = "0.0.0.0:9443")]
    pub listen: SocketAddr,
    /// Directory for the database and the console's keys.
    #[arg(long, env = "BOSUN_UI_DATA_DIR", default_value = "/var/lib/bosun-ui")]
    pub data_dir: PathBuf,
    /// File holding the first admin's password; without it, the first visit shows a
    /// set-up page until an admin exists.
    #[arg(long, env = "BOSUN_UI_ADMIN_PASSWORD_FILE")]
    pub admin_password_file: Option<PathBuf>,
    /// The first admin's user name, with --admin-password-file.
    #[arg(long, env = "BOSUN_UI_ADMIN_USER", default_value = "admin")]
    pub admin_user: String,
    /// Certificate chain (PEM) to serve instead of a self-signed one.
    #[arg(long, env = "BOSUN_UI_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// Private key of --tls-cert.
    #[arg(long, env = "BOSUN_UI_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// An endpoint to add at start unless one of that name exists: an agent's URL.
    #[arg(long, env = "BOSUN_UI_ENDPOINT_URL", requires_all = ["endpoint_ca", "endpoint_secret_file"])]
    pub endpoint_url: Option<String>,
    /// Its name.
    #[arg(long, env = "BOSUN_UI_ENDPOINT_NAME", default_value = "local")]
    pub endpoint_name: String,
    /// Its cluster CA certificate (ca.pem).
    #[arg(long, env = "BOSUN_UI_ENDPOINT_CA")]
    pub endpoint_ca: Option<PathBuf>,
    /// Its cluster secret file.
    #[arg(long, env = "BOSUN_UI_ENDPOINT_SECRET_FILE")]
    pub endpoint_secret_file: Option<PathBuf>,
    /// Log level or filter.
    #[arg(long, env = "LOG_LEVEL", default_value = "info")]
    pub log_level: String,
}

pub fn main() -> ExitCode {
    let args = Args::parse();
    usage::exit("bosun-ui", run(args))
}

/// Opens the database, applies the start-up settings, and makes the shared state.
pub fn prepare(args: &Args) -> Result<App, String> {
    std::fs::create_dir_all(&args.data_dir)
        .map_err(|e| format!("--data-dir {}: {e}", args.data_dir.display()))?;
    let store = Store::open(&args.data_dir.join("console.db"))
        .map_err(|e| format!("--data-dir {}: {e}", args.data_dir.display()))?;
    // The console's signing key, made once.
    let fresh = ConsoleKey::generate()?;
    let kept = store
        .setting_or_insert("console_key_pkcs8", &hex::encode(&fresh))
        .map_err(|e| e.to_string())?;
    let key =
        ConsoleKey::from_pkcs8(&hex::decode(&kept).ok_or("the stored console key is corrupt")?)?;
    if let Some(path) = &args.admin_password_file {
        let password = std::fs::read_to_string(path)
            .map_err(|e| format!("--admin-password-file {}: {e}", path.display()))?;
        let password = password.trim_end_matches(['\n', '\r']);
        if password.chars().count() < auth::MIN_PASSWORD {
            return Err(format!(
                "--admin-password-file {}: a password has at least {} characters",
                path.display(),
                auth::MIN_PASSWORD
            ));
        }
        if store.has_admin().map_err(|e| e.to_string())? {
            tracing::info!("an admin exists; --admin-password-file is not used");
        } else {
            let hash = auth::hash_password(password)?;
            store
                .create_first_admin(&args.admin_user, &hash)
                .map_err(|e| e.to_string())?;
            tracing::info!(user = %args.admin_user, "created the first admin");
        }
    }
    if let (Some(url), Some(ca), Some(secret)) = (
        &args.endpoint_url,
        &args.endpoint_ca,
        &args.endpoint_secret_file,
    ) {
        crate::agent::parse_url(url).map_err(|e| format!("--endpoint-url {url:?}: {e}"))?;
        let ca_pem = std::fs::read_to_string(ca)
            .map_err(|e| format!("--endpoint-ca {}: {e}", ca.display()))?;
        crate::agent::trust(&ca_pem).map_err(|e| format!("--endpoint-ca {}: {e}", ca.display()))?;
        let secret_text = std::fs::read_to_string(secret)
            .map_err(|e| format!("--endpoint-secret-file {}: {e}", secret.display()))?;
        bosun_serve::secret::Secret::from_text(secret_text.trim())
            .map_err(|e| format!("--endpoint-secret-file {}: {e}", secret.display()))?;
        let exists = store
            .endpoints()
            .map_err(|e| e.to_string())?
            .iter()
            .any(|e| e.name == args.endpoint_name);
        if !exists {
            store
                .create_endpoint(
                    &args.endpoint_name,
                    url.trim_end_matches('/'),
                    &ca_pem,
                    "secret",
                    Some(secret_text.trim()),
                    &crate::profiles::ProfileMap::default(),
                )
                .map_err(|e| e.to_string())?;
            tracing::info!(name = %args.endpoint_name, url = %url, "added the endpoint");
        }
    }
    Ok(App::new(
        store,
        key,
        LoginLimiter::new(5, Duration::from_secs(300)),
    ))
}

fn run(args: Args) -> Result<(), UsageError> {
    bosun_serve::telemetry::init(&args.log_level, bosun_serve::telemetry::LogFormat::Pretty)?;
    let app = prepare(&args).map_err(UsageError)?;
    let given = match (&args.tls_cert, &args.tls_key) {
        (Some(c), Some(k)) => Some((c.as_path(), k.as_path())),
        _ => None,
    };
    let (chain, key) = crate::server::certificate(given, &args.data_dir)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let console = Console::bind(args.listen, chain, key, Arc::new(app)).await?;
        tracing::info!(addr = %console.local_addr()?, version = env!("CARGO_PKG_VERSION"), "listening");
        console.run().await;
        Ok::<(), UsageError>(())
    })
}

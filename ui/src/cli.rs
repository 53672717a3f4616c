//! `bosun-ui`'s command line: flags with environment twins, parsed once.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use bosun_serve::duration::parse as parse_duration;
use bosun_serve::hex;
use bosun_serve::signal;
use bosun_serve::usage::{self, UsageError};
use clap::Parser;
use ipnet::IpNet;
use tokio_util::sync::CancellationToken;

use crate::agent::ConsoleKey;
use crate::app::{Access, App};
use crate::auth::oidc::{Oidc, OidcSettings, RoleMap};
use crate::auth::proxy::{parse_proxy, TrustedProxies};
use crate::auth::{self, LoginLimiter, LoginLimits};
use crate::server::Console;
use crate::store::Store;
use crate::usage::prometheus::Prometheus;
use crate::usage::{Retention, Usage, UsageConfig, UsageStore};

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
    #[command(flatten)]
    pub usage: UsageArgs,
    #[command(flatten)]
    pub access: AccessArgs,
    #[command(flatten)]
    pub updates: crate::updates::UpdateArgs,
    #[command(flatten)]
    pub checks: crate::checks::CheckArgs,
}

/// Sign-in and what viewers are shown: login limits' proxies, environment masking, and
/// OpenID Connect.
#[derive(clap::Args, Debug, Clone, PartialEq, Eq)]
pub struct AccessArgs {
    /// A reverse proxy (an address or a CIDR; repeat, or comma-separate) whose
    /// X-Forwarded-For names the client. From any other peer the header is ignored.
    #[arg(long = "trusted-proxy", env = "BOSUN_UI_TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_proxy)]
    pub trusted_proxies: Vec<IpNet>,
    /// Show viewers containers' environment values as NAME=<masked>.
    #[arg(long, env = "BOSUN_UI_MASK_ENV", value_parser = clap::builder::BoolishValueParser::new())]
    pub mask_env_for_viewers: bool,
    /// Offer sign-in through this OpenID provider (its issuer URL).
    #[arg(long, env = "BOSUN_UI_OIDC_ISSUER", requires_all = ["oidc_client_id", "oidc_public_url", "oidc_role_map"])]
    pub oidc_issuer: Option<String>,
    /// The console's client ID at the provider.
    #[arg(long, env = "BOSUN_UI_OIDC_CLIENT_ID", requires = "oidc_issuer")]
    pub oidc_client_id: Option<String>,
    /// File holding the client secret (none: a public client, PKCE only).
    #[arg(
        long,
        env = "BOSUN_UI_OIDC_CLIENT_SECRET_FILE",
        requires = "oidc_issuer"
    )]
    pub oidc_client_secret_file: Option<PathBuf>,
    /// The console's URL as browsers reach it; the provider sends them back to
    /// <this>/api/oidc/callback.
    #[arg(long, env = "BOSUN_UI_OIDC_PUBLIC_URL", requires = "oidc_issuer")]
    pub oidc_public_url: Option<String>,
    /// Scopes asked for beside openid.
    #[arg(long, env = "BOSUN_UI_OIDC_SCOPES", default_value = "profile,email")]
    pub oidc_scopes: String,
    /// The ID token's claim holding the user's groups; a dotted path reaches into
    /// objects (realm_access.roles).
    #[arg(long, env = "BOSUN_UI_OIDC_CLAIM", default_value = "groups")]
    pub oidc_claim: String,
    /// Groups to roles: admins=admin,ops=operator,*=viewer. The highest match wins; `*`
    /// is everyone else; without it, users in no listed group are refused.
    #[arg(long, env = "BOSUN_UI_OIDC_ROLE_MAP", requires = "oidc_issuer")]
    pub oidc_role_map: Option<String>,
    /// The provider's name on the sign-in button ("Sign in with ...").
    #[arg(long, env = "BOSUN_UI_OIDC_LABEL", default_value = "single sign-on")]
    pub oidc_label: String,
}

impl Default for AccessArgs {
    fn default() -> Self {
        Self {
            trusted_proxies: Vec::new(),
            mask_env_for_viewers: false,
            oidc_issuer: None,
            oidc_client_id: None,
            oidc_client_secret_file: None,
            oidc_public_url: None,
            oidc_scopes: "profile,email".into(),
            oidc_claim: "groups".into(),
            oidc_role_map: None,
            oidc_label: "single sign-on".into(),
        }
    }
}

impl AccessArgs {
    /// The OpenID Connect settings, when an issuer is given: files read, map checked.
    pub fn oidc(&self) -> Result<Option<OidcSettings>, String> {
        let Some(issuer) = &self.oidc_issuer else {
            return Ok(None);
        };
        let needed = |value: &Option<String>, flag: &str| {
            value
                .clone()
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| format!("--oidc-issuer needs {flag}"))
        };
        let client_secret = match &self.oidc_client_secret_file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("--oidc-client-secret-file {}: {e}", path.display()))?;
                Some(text.trim().to_owned()).filter(|t| !t.is_empty())
            }
            None => None,
        };
        let roles = RoleMap::parse(&needed(&self.oidc_role_map, "--oidc-role-map")?)
            .map_err(|e| format!("--oidc-role-map: {e}"))?;
        let public_url = needed(&self.oidc_public_url, "--oidc-public-url")?;
        if !public_url.starts_with("https://") && !public_url.starts_with("http://") {
            return Err(format!("--oidc-public-url {public_url:?}: an http(s) URL"));
        }
        Ok(Some(OidcSettings {
            // Exactly as given: the provider's discovery must name the same issuer, and
            // some (Authentik) end theirs with a slash.
            issuer: issuer.clone(),
            client_id: needed(&self.oidc_client_id, "--oidc-client-id")?,
            client_secret,
            public_url,
            scopes: self
                .oidc_scopes
                .split([',', ' '])
                .filter(|s| !s.is_empty() && *s != "openid")
                .map(str::to_owned)
                .collect(),
            claim: self.oidc_claim.clone(),
            roles,
            label: self.oidc_label.clone(),
        }))
    }

    /// Everything about access the handlers share.
    pub fn access(&self) -> Result<Access, String> {
        let oidc = match self.oidc()? {
            Some(settings) => Some(Oidc::new(settings).map_err(|e| format!("--oidc-issuer: {e}"))?),
            None => None,
        };
        Ok(Access {
            limiter: LoginLimiter::new(LoginLimits::default()),
            proxies: TrustedProxies::new(self.trusted_proxies.clone()),
            mask_env: self.mask_env_for_viewers,
            oidc,
        })
    }
}

/// How usage history is pulled and kept. Durations: `90s`, `30m`, `24h`, `14d`.
#[derive(clap::Args, Debug, Clone, PartialEq, Eq)]
pub struct UsageArgs {
    /// How often each cluster's agent is asked for its nodes' new usage samples.
    #[arg(long, env = "BOSUN_UI_USAGE_INTERVAL", default_value = "10s", value_parser = parse_duration)]
    pub usage_interval: Duration,
    /// How long every sample is kept (at least 2h: hour buckets are made from samples).
    #[arg(long, env = "BOSUN_UI_USAGE_RAW_RETENTION", default_value = "24h", value_parser = parse_duration)]
    pub usage_raw_retention: Duration,
    /// How long the 1-minute averages and peaks are kept.
    #[arg(long, env = "BOSUN_UI_USAGE_MINUTE_RETENTION", default_value = "14d", value_parser = parse_duration)]
    pub usage_minute_retention: Duration,
    /// How long the 1-hour averages and peaks are kept.
    #[arg(long, env = "BOSUN_UI_USAGE_HOUR_RETENTION", default_value = "365d", value_parser = parse_duration)]
    pub usage_hour_retention: Duration,
    /// Read the charts' history from this Prometheus (`http://` or `https://`, maybe with
    /// a path prefix) instead of the console's own store; the agents' `/metrics` are to be
    /// scraped by it.
    #[arg(long, env = "BOSUN_UI_PROMETHEUS_URL")]
    pub prometheus_url: Option<String>,
    /// File holding a bearer token sent to --prometheus-url.
    #[arg(
        long,
        env = "BOSUN_UI_PROMETHEUS_TOKEN_FILE",
        requires = "prometheus_url"
    )]
    pub prometheus_token_file: Option<PathBuf>,
    /// CA certificates (PEM) that verify an https --prometheus-url.
    #[arg(long, env = "BOSUN_UI_PROMETHEUS_CA", requires = "prometheus_url")]
    pub prometheus_ca: Option<PathBuf>,
    /// How often that Prometheus scrapes the agents: the finest step a chart asks for,
    /// and half the shortest window of a rate.
    #[arg(long, env = "BOSUN_UI_PROMETHEUS_SCRAPE_INTERVAL", default_value = "1m", value_parser = parse_duration)]
    pub prometheus_scrape_interval: Duration,
}

impl Default for UsageArgs {
    fn default() -> Self {
        let config = UsageConfig::default();
        let secs = |s: i64| Duration::from_secs(s.unsigned_abs());
        Self {
            usage_interval: config.interval,
            usage_raw_retention: secs(config.retention.raw),
            usage_minute_retention: secs(config.retention.minute),
            usage_hour_retention: secs(config.retention.hour),
            prometheus_url: None,
            prometheus_token_file: None,
            prometheus_ca: None,
            prometheus_scrape_interval: Duration::from_secs(60),
        }
    }
}

impl UsageArgs {
    /// The settings, checked.
    pub fn config(&self) -> Result<UsageConfig, String> {
        let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        if self.usage_raw_retention < Duration::from_secs(2 * 3600) {
            return Err(
                "--usage-raw-retention: at least 2h, since hour buckets are made from the samples"
                    .into(),
            );
        }
        if self.usage_interval > Duration::from_secs(3000) {
            return Err(
                "--usage-interval: at most 50m, since the agents keep an hour of samples".into(),
            );
        }
        Ok(UsageConfig {
            interval: self.usage_interval,
            retention: Retention {
                raw: secs(self.usage_raw_retention),
                minute: secs(self.usage_minute_retention),
                hour: secs(self.usage_hour_retention),
            },
        })
    }
}

impl UsageArgs {
    /// The Prometheus the charts read, when --prometheus-url is given: its files read and
    /// checked.
    pub fn prometheus(&self) -> Result<Option<Prometheus>, String> {
        let Some(url) = &self.prometheus_url else {
            return Ok(None);
        };
        if self.prometheus_scrape_interval > Duration::from_secs(3600) {
            return Err("--prometheus-scrape-interval: at most 1h".into());
        }
        let token = match &self.prometheus_token_file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("--prometheus-token-file {}: {e}", path.display()))?;
                let token = text.trim().to_owned();
                if token.is_empty() {
                    return Err(format!(
                        "--prometheus-token-file {}: it is empty",
                        path.display()
                    ));
                }
                Some(token)
            }
            None => None,
        };
        let ca = match &self.prometheus_ca {
            Some(path) => Some(
                std::fs::read(path)
                    .map_err(|e| format!("--prometheus-ca {}: {e}", path.display()))?,
            ),
            None => None,
        };
        Prometheus::new(
            url,
            token.as_deref(),
            ca.as_deref(),
            self.prometheus_scrape_interval,
        )
        .map(Some)
        .map_err(|e| format!("--prometheus-url {url:?}: {e}"))
    }
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
    for schema in [
        crate::updates::store::SCHEMA,
        crate::alerts::store::SCHEMA,
        crate::notify::store::SCHEMA,
        crate::checks::store::SCHEMA,
        crate::edge::store::SCHEMA,
    ] {
        store
            .add_tables(schema)
            .map_err(|e| format!("--data-dir {}: {e}", args.data_dir.display()))?;
    }
    store
        .add_columns(crate::edge::store::ADDED_COLUMNS)
        .map_err(|e| format!("--data-dir {}: {e}", args.data_dir.display()))?;
    let usage_config = args.usage.config()?;
    let usage_store = UsageStore::open(&args.data_dir.join("usage.db"))
        .map_err(|e| format!("--data-dir {}: usage.db: {e}", args.data_dir.display()))?;
    let mut usage = Usage::new(usage_store, usage_config);
    if let Some(prometheus) = args.usage.prometheus()? {
        tracing::info!(url = ?args.usage.prometheus_url, "the charts' history is read from Prometheus");
        usage = usage.with_prometheus(prometheus);
    }
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
    let access = args.access.access()?;
    let sealer = crate::sealed::Sealer::load_or_create(&args.data_dir.join("sealing.key"))
        .map_err(|e| format!("--data-dir {}: {e}", args.data_dir.display()))?;
    let mut app = App::new(store, key, access, usage, sealer);
    app.update_pull_interval = args.updates.settings()?.pull_interval;
    app.checks.pull_interval = args.checks.pull_interval()?;
    Ok(app)
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
        // Handled before the console says it listens: a stop from then on is graceful.
        let stop = CancellationToken::new();
        tokio::spawn(signal::cancel_on_stop_signal(stop.clone()));
        tracing::info!(addr = %console.local_addr()?, version = env!("CARGO_PKG_VERSION"), "listening");
        console.run_until(stop).await;
        Ok::<(), UsageError>(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("14d"), Ok(Duration::from_secs(14 * 86_400)));
        assert_eq!(parse_duration("15"), Ok(Duration::from_secs(15)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("1w").is_err());
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
    }

    #[test]
    fn the_usage_defaults_are_the_flags_defaults_and_are_checked() {
        let args = Args::try_parse_from(["bosun-ui"]).expect("no flag is required");
        assert_eq!(args.usage, UsageArgs::default());
        assert_eq!(args.access, AccessArgs::default());
        assert_eq!(args.usage.config(), Ok(UsageConfig::default()));
        let short =
            Args::try_parse_from(["bosun-ui", "--usage-raw-retention", "1h"]).expect("parses");
        assert!(short.usage.config().is_err(), "too short for hour buckets");
        let set = Args::try_parse_from([
            "bosun-ui",
            "--usage-interval",
            "30s",
            "--usage-minute-retention",
            "7d",
        ])
        .expect("parses");
        let config = set.usage.config().expect("valid");
        assert_eq!(config.interval, Duration::from_secs(30));
        assert_eq!(config.retention.minute, 7 * 86_400);
        assert_eq!(config.retention.raw, 86_400);
    }

    #[test]
    fn access_flags_are_read_and_checked() {
        let args = Args::try_parse_from([
            "bosun-ui",
            "--trusted-proxy",
            "10.0.0.0/8,192.168.1.5",
            "--mask-env-for-viewers",
        ])
        .expect("parses");
        assert_eq!(args.access.trusted_proxies.len(), 2);
        assert!(args.access.mask_env_for_viewers);
        assert!(Args::try_parse_from(["bosun-ui", "--trusted-proxy", "proxy"]).is_err());
        assert!(
            Args::try_parse_from(["bosun-ui", "--oidc-issuer", "https://id.example"]).is_err(),
            "an issuer needs a client ID, a public URL and a role map"
        );
        let oidc = Args::try_parse_from([
            "bosun-ui",
            "--oidc-issuer",
            "https://id.example/",
            "--oidc-client-id",
            "bosun",
            "--oidc-public-url",
            "https://console.example",
            "--oidc-role-map",
            "admins=root",
        ])
        .expect("parses");
        assert!(oidc.access.oidc().unwrap_err().contains("--oidc-role-map"));
    }

    #[test]
    fn prometheus_flags_are_read_and_checked() {
        let none = Args::try_parse_from(["bosun-ui"]).expect("parses");
        assert!(matches!(none.usage.prometheus(), Ok(None)));
        assert!(
            Args::try_parse_from(["bosun-ui", "--prometheus-ca", "/ca.pem"]).is_err(),
            "a CA without a URL"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let token = dir.path().join("token");
        std::fs::write(&token, "s3cret\n").expect("token file");
        let args = Args::try_parse_from([
            "bosun-ui",
            "--prometheus-url",
            "http://127.0.0.1:9090",
            "--prometheus-token-file",
            token.to_str().expect("UTF-8 path"),
            "--prometheus-scrape-interval",
            "15s",
        ])
        .expect("parses");
        let p = args.usage.prometheus().expect("valid").expect("set");
        assert_eq!(p.scrape, Duration::from_secs(15));
        let missing = Args::try_parse_from([
            "bosun-ui",
            "--prometheus-url",
            "http://127.0.0.1:9090",
            "--prometheus-token-file",
            "/no/such/token",
        ])
        .expect("parses");
        assert!(missing
            .usage
            .prometheus()
            .unwrap_err()
            .contains("--prometheus-token-file"));
        let https = Args::try_parse_from(["bosun-ui", "--prometheus-url", "https://prom:9090"])
            .expect("parses");
        assert!(https
            .usage
            .prometheus()
            .unwrap_err()
            .contains("--prometheus-ca"));
    }
}

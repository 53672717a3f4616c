//! A real OpenID provider for the sign-in tests: `oidc-provider-mock` from PyPI (real
//! discovery, JWKS, token endpoint and PKCE; an authorization form that takes the
//! subject), run on a free port and stopped when dropped; and a console that offers it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use super::*;

/// The provider's groups to roles in the consoles made here.
pub const ROLE_MAP: &str = "admins=admin,ops=operator";

/// Where the provider's command is: `$OIDC_PROVIDER_MOCK`, the venv `scripts/test.sh`
/// makes under the target directory, or the `PATH`.
fn provider_command() -> PathBuf {
    if let Some(path) = std::env::var_os("OIDC_PROVIDER_MOCK") {
        return PathBuf::from(path);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"));
    let venv = target.join("oidc-venv/bin/oidc-provider-mock");
    if venv.exists() {
        return venv;
    }
    PathBuf::from("oidc-provider-mock")
}

/// `oidc-provider-mock`, stopped when dropped.
pub struct Provider {
    /// The issuer URL: `http://127.0.0.1:PORT`.
    pub url: String,
    child: Child,
    http: reqwest::Client,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Provider {
    pub async fn start() -> Self {
        // Everything that may panic comes before the spawn, or the child would outlive
        // the test.
        bosun_serve::tls::install_crypto_provider();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(ANSWER)
            .build()
            .expect("an HTTP client");
        let command = provider_command();
        let port = free_port("127.0.0.1");
        let child = Command::new(&command)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run {} ({e}): the OpenID tests need oidc-provider-mock from PyPI; \
                     scripts/test.sh installs it (python3 -m venv target/oidc-venv && \
                     target/oidc-venv/bin/pip install oidc-provider-mock), or set OIDC_PROVIDER_MOCK",
                    command.display()
                )
            });
        let provider = Self {
            url: format!("http://127.0.0.1:{port}"),
            child,
            http,
        };
        let discovery = format!("{}/.well-known/openid-configuration", provider.url);
        eventually("the OpenID provider answers", SETTLE, || async {
            match provider.http.get(&discovery).send().await {
                Ok(resp) if resp.status().is_success() => Ok(()),
                Ok(resp) => Err(format!("status {}", resp.status())),
                Err(e) => Err(e.to_string()),
            }
        })
        .await;
        provider
    }

    /// Makes or replaces the provider's user `sub` with these claims.
    pub async fn set_user(&self, sub: &str, claims: &Value) {
        let resp = self
            .http
            .put(format!("{}/users/{sub}", self.url))
            .header("content-type", "application/json")
            .body(claims.to_string())
            .send()
            .await
            .expect("the provider answers");
        assert!(resp.status().is_success(), "set user: {}", resp.status());
    }

    /// Submits the provider's authorization form at `authorize_url` as `sub`; where the
    /// provider sends the browser back (the console's callback, with code and state).
    pub async fn authorize(&self, authorize_url: &str, sub: &str) -> String {
        let resp = self
            .http
            .post(authorize_url)
            .form(&[("sub", sub)])
            .send()
            .await
            .expect("the provider answers");
        assert!(
            resp.status().is_redirection(),
            "the provider redirects back: {}",
            resp.status()
        );
        resp.headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .expect("a Location")
            .to_owned()
    }
}

/// An agent and a console that offers sign-in through `provider` with [`ROLE_MAP`].
pub async fn oidc_stack(provider: &Provider) -> (SocketAddr, ConsoleUnderTest) {
    let creds = Pki::new();
    let agent = start_agent(&creds, None).await;
    let data = tempfile::tempdir().expect("tempdir");
    let mut args = console_args(data.path(), &creds, agent);
    // The redirect URI names the console's port, so the port is chosen first.
    let port = free_port("127.0.0.1");
    args.listen = SocketAddr::from(([127, 0, 0, 1], port));
    args.access.oidc_issuer = Some(provider.url.clone());
    args.access.oidc_client_id = Some("bosun-console".into());
    args.access.oidc_public_url = Some(format!("https://127.0.0.1:{port}"));
    args.access.oidc_role_map = Some(ROLE_MAP.into());
    args.access.oidc_label = "Test ID".into();
    let secret = data.path().join("oidc-secret");
    std::fs::write(&secret, "client-secret\n").expect("secret file");
    args.access.oidc_client_secret_file = Some(secret);
    let addr = start_console(&args).await;
    (agent, ConsoleUnderTest { addr, data })
}

//! A cluster's credentials in a temporary directory, laid out as the agent's commands lay
//! them out: the CA (`certs init`), the secret (`secret`), a client bundle (`certs client`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bosun_agent::config::{AgentConfig, CaFiles};
use bosun_agent::secret::Secret;
use bosun_agent::tls::pki::{self, Ca};
use bosun_agent::upstream::EngineAddr;
use tempfile::TempDir;

use crate::https::{self, ENGINE_SOCKET};

/// A cluster's credentials.
pub struct Pki {
    pub dir: TempDir,
    /// The CA: `ca.pem` and `ca-key.pem`.
    pub ca_dir: PathBuf,
    /// The cluster secret's file.
    pub secret: PathBuf,
    /// A client bundle (`ca.pem`, `cert.pem`, `key.pem`) for `DOCKER_CERT_PATH`: `tester`,
    /// profile `admin`.
    pub client: PathBuf,
    /// Just `ca.pem`: a client that verifies the agent but has no certificate.
    pub ca_only: PathBuf,
}

impl Default for Pki {
    fn default() -> Self {
        Self::new()
    }
}

impl Pki {
    /// Credentials made in this process with the agent's library.
    pub fn new() -> Self {
        Self::made_by(|pki| {
            let ca = Ca::init_dir(&pki.ca_dir).expect("the CA");
            Secret::generate()
                .expect("a secret")
                .write_new(&pki.secret)
                .expect("the secret's file");
            let client = ca
                .issue_client("tester", "admin", Duration::from_secs(30 * 86_400))
                .expect("a client certificate");
            pki::write_client_bundle(&pki.client, &ca, &client).expect("the client bundle");
        })
    }

    /// Credentials made by `make`, which writes the CA into [`Pki::ca_dir`], the secret to
    /// [`Pki::secret`] and a client bundle into [`Pki::client`] (the agent's own commands,
    /// say); [`Pki::ca_only`] is then made from the bundle.
    pub fn made_by(make: impl FnOnce(&Self)) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let pki = Self {
            ca_dir: dir.path().join("ca"),
            secret: dir.path().join("secret"),
            client: dir.path().join("client"),
            ca_only: dir.path().join("ca-only"),
            dir,
        };
        make(&pki);
        std::fs::create_dir_all(&pki.ca_only).expect("mkdir");
        std::fs::copy(pki.client.join("ca.pem"), pki.ca_only.join("ca.pem")).expect("copy ca");
        pki
    }

    /// The CA certificate's file.
    pub fn ca_cert(&self) -> PathBuf {
        self.ca_dir.join(pki::CA_CERT_FILE)
    }

    /// The CA certificate, PEM.
    pub fn ca_pem(&self) -> String {
        std::fs::read_to_string(self.ca_cert()).expect("read the CA certificate")
    }

    /// The cluster secret as its file holds it, without the final newline.
    pub fn secret_text(&self) -> String {
        std::fs::read_to_string(&self.secret)
            .expect("read the secret")
            .trim()
            .to_owned()
    }

    /// The data directory of an agent of this cluster.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The standard `bosun-agent run` flags for an agent of this cluster.
    pub fn run_args(&self) -> Vec<String> {
        vec![
            "--tls-dir".into(),
            self.ca_dir.display().to_string(),
            "--secret-file".into(),
            self.secret.display().to_string(),
            "--data-dir".into(),
            self.data_dir().display().to_string(),
        ]
    }

    /// The same for an agent started in this process: listening on `listen`, in front of
    /// the machine's engine.
    pub fn agent_config(&self, listen: SocketAddr) -> AgentConfig {
        let mut config = AgentConfig::new(
            listen,
            EngineAddr::Unix(ENGINE_SOCKET.into()),
            self.data_dir(),
        );
        config.ca = Some(CaFiles::in_dir(&self.ca_dir));
        config.secret = Some(Secret::read(&self.secret).expect("the secret"));
        config
    }

    /// A client of an agent of this cluster: verifies the agent with the CA, and shows the
    /// client bundle's certificate when `with_cert`.
    pub fn client_tls(&self, with_cert: bool) -> Arc<rustls::ClientConfig> {
        let identity = with_cert.then(|| {
            let read = |name: &str| read(&self.client.join(name));
            (read("cert.pem"), read("key.pem"))
        });
        https::verifying(
            &read(&self.client.join("ca.pem")),
            identity.as_ref().map(|(c, k)| (c.as_slice(), k.as_slice())),
        )
    }
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

//! Reaching the console from inside a network that only lets connections out: TCP to the
//! console, or to the `HTTPS_PROXY` with an HTTP `CONNECT` (unless `NO_PROXY` names the
//! console), then TLS verified against the console's CA, then `GET /api/edge/connect` with
//! `Upgrade: bosun-tunnel/1`. What the console answers other than `101` is an error that
//! quotes its message.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bosun_serve::tunnel;
use http::{header, Request, StatusCode};
use http_body_util::BodyExt;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::EdgeConfig;
use crate::body;

/// Each step of dialling (TCP, the proxy, TLS, the upgrade) within this.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// `https://HOST[:PORT]`, the console's address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleUrl {
    pub host: String,
    pub port: u16,
}

impl ConsoleUrl {
    pub fn parse(url: &str) -> Result<Self, String> {
        let rest = url
            .strip_prefix("https://")
            .ok_or_else(|| format!("{url}: the console's URL starts with https://"))?
            .trim_end_matches('/');
        if rest.is_empty() || rest.contains('/') || rest.contains('@') {
            return Err(format!("{url}: expected https://HOST[:PORT]"));
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) if !p.contains(']') => (
                h,
                p.parse::<u16>()
                    .map_err(|_| format!("{url}: bad port {p:?}"))?,
            ),
            _ => (rest, 443),
        };
        Ok(Self {
            host: host.trim_matches(['[', ']']).to_owned(),
            port,
        })
    }
}

impl std::fmt::Display for ConsoleUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "https://{}:{}", self.host, self.port)
    }
}

/// What the agent says when it dials.
pub struct Hello {
    pub agent_id: String,
    pub node: String,
    pub proof: String,
    /// The enrol token and the agent's public key, until enrolled.
    pub enrol: Option<(String, String)>,
}

/// An open tunnel, not yet multiplexed.
pub struct Open {
    pub io: TokioIo<Upgraded>,
    /// The console's address as dialled.
    pub peer: SocketAddr,
    /// The console's key, which it sends on every connect.
    pub console_key: Option<String>,
    /// Whether this connection enrolled the agent.
    pub enrolled: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum DialError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("{0} took longer than 10 s")]
    Timeout(String),
    #[error("the proxy {proxy} refused CONNECT: {line}")]
    Proxy { proxy: String, line: String },
    #[error("the console answered {status}: {message}")]
    Refused { status: u16, message: String },
    #[error("the console's answer: {0}")]
    Http(String),
    #[error("{0}")]
    Config(String),
}

/// Dials the console, again and again.
pub struct Connector {
    console: ConsoleUrl,
    tls: TlsConnector,
    server_name: ServerName<'static>,
    /// `HOST:PORT` of the proxy, and its basic credentials, when one is in the way.
    proxy: Option<(String, Option<String>)>,
}

impl Connector {
    pub fn new(config: &EdgeConfig) -> Result<Self, DialError> {
        let roots = match &config.console_ca {
            Some(path) => {
                let mut roots = rustls::RootCertStore::empty();
                let certs = CertificateDer::pem_file_iter(path)
                    .and_then(|i| i.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| {
                        DialError::Config(format!("--console-ca {}: {e}", path.display()))
                    })?;
                let (added, _) = roots.add_parsable_certificates(certs);
                if added == 0 {
                    return Err(DialError::Config(format!(
                        "--console-ca {}: no certificate in it",
                        path.display()
                    )));
                }
                Arc::new(roots)
            }
            None => Arc::clone(&crate::tls::node_roots().0),
        };
        let mut tls = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let server_name = ServerName::try_from(config.console.host.clone()).map_err(|_| {
            DialError::Config(format!("--console-url: bad host {:?}", config.console.host))
        })?;
        Ok(Self {
            console: config.console.clone(),
            tls: TlsConnector::from(Arc::new(tls)),
            server_name,
            proxy: proxy_for(config)?,
        })
    }

    /// Dials, and asks for a tunnel.
    pub async fn open(&self, hello: Hello) -> Result<Open, DialError> {
        let target = format!("{}:{}", self.console.host, self.console.port);
        let (tcp, peer) = match &self.proxy {
            None => connect(&target).await?,
            Some((proxy, auth)) => {
                let (mut tcp, peer) = connect(proxy).await?;
                step(
                    "the proxy's CONNECT",
                    through_proxy(&mut tcp, proxy, auth.as_deref(), &target),
                )
                .await??;
                (tcp, peer)
            }
        };
        let tls = step(
            "the TLS handshake with the console",
            self.tls.connect(self.server_name.clone(), tcp),
        )
        .await?
        .map_err(|source| DialError::Io {
            what: format!("TLS with {}", self.console),
            source,
        })?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| DialError::Http(e.to_string()))?;
        tokio::spawn(async move {
            let _ = conn.with_upgrades().await;
        });
        let enrolling = hello.enrol.is_some();
        let mut req = Request::get(tunnel::PATH)
            .header(header::HOST, target.as_str())
            .header(header::CONNECTION, "Upgrade")
            .header(header::UPGRADE, tunnel::PROTOCOL)
            .header(tunnel::AGENT_ID, hello.agent_id.as_str())
            .header(tunnel::NODE, hello.node.as_str())
            .header(tunnel::VERSION, crate::VERSION)
            .header(tunnel::PROOF, hello.proof.as_str());
        if let Some((token, key)) = &hello.enrol {
            req = req
                .header(tunnel::ENROL_TOKEN, token.as_str())
                .header(tunnel::AGENT_KEY, key.as_str());
        }
        let req = req
            .body(body::empty())
            .map_err(|e| DialError::Http(e.to_string()))?;
        let mut resp = step("the console's answer", sender.send_request(req))
            .await?
            .map_err(|e| DialError::Http(e.to_string()))?;
        if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
            let status = resp.status().as_u16();
            let bytes = step("the console's answer", resp.into_body().collect())
                .await?
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            return Err(DialError::Refused {
                status,
                message: crate::upstream::error_message(&bytes),
            });
        }
        let console_key = resp
            .headers()
            .get(tunnel::CONSOLE_KEY)
            .and_then(|v| {
                base64::engine::general_purpose::STANDARD
                    .decode(v.as_bytes())
                    .ok()
            })
            .and_then(|pem| String::from_utf8(pem).ok());
        let upgraded = step("the upgrade", hyper::upgrade::on(&mut resp))
            .await?
            .map_err(|e| DialError::Http(e.to_string()))?;
        Ok(Open {
            io: TokioIo::new(upgraded),
            peer,
            console_key,
            enrolled: enrolling,
        })
    }
}

async fn step<F: std::future::Future>(what: &str, f: F) -> Result<F::Output, DialError> {
    tokio::time::timeout(STEP_TIMEOUT, f)
        .await
        .map_err(|_| DialError::Timeout(what.to_owned()))
}

async fn connect(hostport: &str) -> Result<(TcpStream, SocketAddr), DialError> {
    let tcp = step(
        &format!("connecting to {hostport}"),
        TcpStream::connect(hostport),
    )
    .await?
    .map_err(|source| DialError::Io {
        what: format!("connecting to {hostport}"),
        source,
    })?;
    let _ = tcp.set_nodelay(true);
    let peer = tcp.peer_addr().map_err(|source| DialError::Io {
        what: format!("connecting to {hostport}"),
        source,
    })?;
    Ok((tcp, peer))
}

/// Asks an HTTP proxy for a tunnel to `target`.
async fn through_proxy(
    tcp: &mut TcpStream,
    proxy: &str,
    auth: Option<&str>,
    target: &str,
) -> Result<(), DialError> {
    let io = |source| DialError::Io {
        what: format!("the proxy {proxy}"),
        source,
    };
    let mut ask = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if let Some(auth) = auth {
        let basic = base64::engine::general_purpose::STANDARD.encode(auth);
        ask.push_str(&format!("Proxy-Authorization: Basic {basic}\r\n"));
    }
    ask.push_str("\r\n");
    tcp.write_all(ask.as_bytes()).await.map_err(io)?;
    // The proxy's answer ends with an empty line; nothing follows until the TLS starts.
    let mut head = Vec::with_capacity(256);
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 8192 || tcp.read(&mut byte).await.map_err(io)? == 0 {
            return Err(DialError::Proxy {
                proxy: proxy.to_owned(),
                line: "closed before answering".into(),
            });
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    let line = head.lines().next().unwrap_or_default().to_owned();
    match line.split_whitespace().nth(1) {
        Some(code) if code.starts_with('2') => Ok(()),
        _ => Err(DialError::Proxy {
            proxy: proxy.to_owned(),
            line,
        }),
    }
}

/// The proxy to go through for the console: `HTTPS_PROXY`, unless `NO_PROXY` names the
/// console's host, a domain it is in, or `*`.
fn proxy_for(config: &EdgeConfig) -> Result<Option<(String, Option<String>)>, DialError> {
    let Some(url) = config.https_proxy.as_deref().filter(|u| !u.is_empty()) else {
        return Ok(None);
    };
    if let Some(no_proxy) = &config.no_proxy {
        if bypasses(no_proxy, &config.console.host) {
            return Ok(None);
        }
    }
    parse_proxy(url).map(Some).map_err(DialError::Config)
}

fn bypasses(no_proxy: &str, host: &str) -> bool {
    no_proxy.split(',').map(str::trim).any(|entry| {
        let entry = entry.trim_start_matches('.');
        entry == "*"
            || (!entry.is_empty() && (host == entry || host.ends_with(&format!(".{entry}"))))
    })
}

/// `http://[USER:PASS@]HOST:PORT` → `HOST:PORT` and the credentials.
fn parse_proxy(url: &str) -> Result<(String, Option<String>), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("HTTPS_PROXY {url}: only http:// proxies are supported"))?
        .trim_end_matches('/');
    let (auth, hostport) = match rest.rsplit_once('@') {
        Some((auth, hp)) => (Some(auth.to_owned()), hp),
        None => (None, rest),
    };
    let hostport = if hostport
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        hostport.to_owned()
    } else {
        format!("{hostport}:80")
    };
    Ok((hostport, auth))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_urls_parse() {
        assert_eq!(
            ConsoleUrl::parse("https://console:9443").unwrap(),
            ConsoleUrl {
                host: "console".into(),
                port: 9443
            }
        );
        assert_eq!(ConsoleUrl::parse("https://console/").unwrap().port, 443);
        assert!(ConsoleUrl::parse("http://console").is_err());
        assert!(ConsoleUrl::parse("https://console/x").is_err());
    }

    #[test]
    fn no_proxy_and_proxy_urls() {
        assert!(bypasses("localhost, .example.com", "a.example.com"));
        assert!(bypasses("*", "anything"));
        assert!(!bypasses("example.com", "notexample.com"));
        assert_eq!(
            parse_proxy("http://u:p@proxy:3128").unwrap(),
            ("proxy:3128".into(), Some("u:p".into()))
        );
        assert_eq!(parse_proxy("http://proxy").unwrap().0, "proxy:80");
        assert!(parse_proxy("socks5://proxy:1080").is_err());
    }
}

//! Names to addresses with hickory, never cached: the release binary is static, and a
//! static glibc cannot load the NSS modules `getaddrinfo` needs.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::TokioResolver;

#[derive(Debug, thiserror::Error)]
#[error("DNS resolver: {0}")]
pub struct ResolverError(String);

/// A resolver that never caches: Docker's DNS answers with a TTL of 600 s, and a task that
/// appears must be seen at the next look-up.
pub fn resolver(dns_server: Option<SocketAddr>) -> Result<TokioResolver, ResolverError> {
    let mut opts = ResolverOpts::default();
    opts.cache_size = 0;
    opts.timeout = Duration::from_secs(2);
    opts.attempts = 1;
    let builder = match dns_server {
        Some(server) => {
            let mut udp = ConnectionConfig::udp();
            udp.port = server.port();
            let ns = NameServerConfig::new(server.ip(), true, vec![udp]);
            TokioResolver::builder_with_config(
                ResolverConfig::from_name_servers(vec![ns]),
                TokioRuntimeProvider::default(),
            )
        }
        None => TokioResolver::builder_tokio().map_err(|e| ResolverError(e.to_string()))?,
    };
    builder
        .with_options(opts)
        .build()
        .map_err(|e| ResolverError(e.to_string()))
}

/// The system's resolver, made once, for names that are not the cluster's.
pub fn system_resolver() -> Result<&'static TokioResolver, ResolverError> {
    static RESOLVER: std::sync::OnceLock<TokioResolver> = std::sync::OnceLock::new();
    if let Some(r) = RESOLVER.get() {
        return Ok(r);
    }
    let made = resolver(None)?;
    Ok(RESOLVER.get_or_init(|| made))
}

/// Resolves a name to its addresses (an IP literal is itself; `localhost` is loopback).
pub async fn lookup(resolver: &TokioResolver, host: &str) -> Vec<IpAddr> {
    if let Ok(ip) = host.trim_matches(['[', ']']).parse::<IpAddr>() {
        return vec![ip];
    }
    if host.eq_ignore_ascii_case("localhost") {
        return vec![IpAddr::from([127, 0, 0, 1])];
    }
    let fqdn = if host.ends_with('.') {
        host.to_owned()
    } else {
        format!("{host}.")
    };
    match resolver.lookup_ip(fqdn.as_str()).await {
        Ok(found) => found.iter().collect(),
        Err(e) => {
            tracing::debug!(name = host, error = %e, "DNS look-up found nothing");
            Vec::new()
        }
    }
}

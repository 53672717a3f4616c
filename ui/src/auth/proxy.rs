//! The client's address: the connection's peer, or, behind reverse proxies named trusted,
//! the right-most hop of `X-Forwarded-For` that is not one of them.

use std::net::IpAddr;

use http::HeaderMap;
use ipnet::IpNet;

/// The reverse proxies whose `X-Forwarded-For` the console believes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

/// A `--trusted-proxy` value: a CIDR (`10.0.0.0/8`) or one address.
pub fn parse_proxy(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{text:?} is neither an address nor a CIDR"))
}

impl TrustedProxies {
    pub fn new(nets: Vec<IpNet>) -> Self {
        Self(nets)
    }

    fn trusts(&self, addr: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&addr))
    }

    /// Who sent the request: `peer` itself unless it is a trusted proxy; then the
    /// right-most address of `X-Forwarded-For` that is not a trusted proxy (the left-most
    /// when all are), since hops to its left were written by whoever the client is and
    /// may be forged.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.trusts(peer) {
            return peer;
        }
        let hops: Vec<Option<IpAddr>> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|hop| hop.trim().parse::<IpAddr>().ok().map(|a| a.to_canonical()))
            .collect();
        match hops
            .iter()
            .rev()
            .find(|hop| !hop.is_some_and(|a| self.trusts(a)))
        {
            Some(Some(client)) => *client,
            // An unreadable hop ends what can be believed: the last proxy is all we know.
            Some(None) => peer,
            None => hops.first().copied().flatten().unwrap_or(peer),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forwarded(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", value.parse().expect("a header value"));
        headers
    }

    #[test]
    fn the_header_counts_only_from_a_trusted_peer_and_its_right_most_untrusted_hop_wins() {
        let proxies = TrustedProxies::new(vec![
            parse_proxy("10.0.0.0/8").expect("CIDR"),
            parse_proxy("192.168.1.5").expect("address"),
        ]);
        let ip = |s: &str| s.parse::<IpAddr>().expect("address");
        let h = forwarded("6.6.6.6, 203.0.113.7, 10.1.1.1");
        assert_eq!(proxies.client(ip("198.51.100.1"), &h), ip("198.51.100.1"));
        assert_eq!(proxies.client(ip("10.2.2.2"), &h), ip("203.0.113.7"));
        assert_eq!(proxies.client(ip("192.168.1.5"), &h), ip("203.0.113.7"));
        assert_eq!(
            proxies.client(ip("10.2.2.2"), &forwarded("10.3.3.3")),
            ip("10.3.3.3"),
            "all hops trusted: the left-most"
        );
        assert_eq!(
            proxies.client(ip("10.2.2.2"), &HeaderMap::new()),
            ip("10.2.2.2")
        );
        assert_eq!(
            proxies.client(ip("::ffff:10.2.2.2"), &forwarded("garbage")),
            ip("10.2.2.2"),
            "an unreadable header is no address"
        );
        assert!(parse_proxy("not an address").is_err());
        assert_eq!(
            proxies.client(ip("10.2.2.2"), &forwarded("6.6.6.6, junk, 10.1.1.1")),
            ip("10.2.2.2"),
            "nothing left of an unreadable hop is believed"
        );
        assert!(TrustedProxies::default()
            .client(ip("10.2.2.2"), &h)
            .eq(&ip("10.2.2.2")));
    }
}

//! The `tcp` kind: a connect to a host's port, closed at once.

use bosun_serve::checks::TcpProbe;

use super::Outcome;

pub(super) async fn run(p: &TcpProbe) -> Outcome {
    match super::connect(&p.host, p.port).await {
        Ok(stream) => {
            let peer = stream
                .peer_addr()
                .map(|a| format!(" ({a})"))
                .unwrap_or_default();
            Outcome::ok(format!("connected to {}:{}{peer}", p.host, p.port))
        }
        Err(e) => Outcome::critical(e),
    }
}

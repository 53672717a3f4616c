//! Relaying an upgraded connection (attach, exec, BuildKit h2c) both ways, keeping
//! half-close: when the client is done writing (the CLI closes its write side at once when
//! there is no stdin), the engine learns it and its output keeps flowing.

use hyper::upgrade::OnUpgrade;

use crate::body::Keep;
use hyper_util::rt::TokioIo;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Relays until either side closes; `keep` lives as long as the relay.
pub fn spawn(
    tracker: &TaskTracker,
    hard_stop: CancellationToken,
    client: OnUpgrade,
    engine: OnUpgrade,
    keep: Option<Keep>,
) {
    tracker.spawn(async move {
        let _keep = keep;
        let (client, engine) = match tokio::try_join!(client, engine) {
            Ok(pair) => pair,
            Err(e) => {
                tracing::debug!(error = %e, "upgrade did not complete");
                return;
            }
        };
        let mut client = TokioIo::new(client);
        let mut engine = TokioIo::new(engine);
        tokio::select! {
            result = tokio::io::copy_bidirectional(&mut client, &mut engine) => match result {
                Ok((up, down)) => tracing::debug!(up, down, "stream closed"),
                Err(e) => tracing::debug!(error = %e, "stream broken off"),
            },
            _ = hard_stop.cancelled() => tracing::debug!("stream closed by shutdown"),
        }
    });
}

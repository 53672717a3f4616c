//! Relaying an upgraded connection (attach, exec, BuildKit h2c) both ways, keeping
//! half-close: when the client is done writing (the CLI closes its write side at once when
//! there is no stdin), the engine learns it and its output keeps flowing.

use bosun_serve::listen::Lingering;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::body::Keep;

/// The relayed streams: they outlive their HTTP exchange, so shutdown waits for them here,
/// and closes them when its grace period is over. A clone is a handle on the same relays.
#[derive(Default, Clone)]
pub struct Relays {
    tracker: TaskTracker,
    hard_stop: CancellationToken,
}

impl Relays {
    /// Relays until either side closes; `keep` lives as long as the relay.
    pub fn spawn(&self, client: OnUpgrade, engine: OnUpgrade, keep: Option<Keep>) {
        let hard_stop = self.hard_stop.clone();
        self.tracker.spawn(async move {
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
}

impl Lingering for Relays {
    fn close(&self) {
        self.tracker.close();
    }

    async fn wait(&self) {
        self.tracker.wait().await;
    }

    fn stop(&self) {
        self.hard_stop.cancel();
    }
}

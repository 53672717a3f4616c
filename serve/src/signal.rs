//! The signals that ask a server to stop.

use std::future::Future;

use tokio_util::sync::CancellationToken;

/// Installs the SIGTERM and SIGINT handlers now, and returns what cancels `stop` when one
/// arrives. Called before a server says it is listening, a signal sent from then on stops
/// it gracefully rather than ending the process at once. Without signal handlers (they
/// cannot be installed), it warns and never cancels. Must be called within a runtime.
pub fn cancel_on_stop_signal(stop: CancellationToken) -> impl Future<Output = ()> + Send {
    use tokio::signal::unix::{signal, SignalKind};
    let handlers = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    );
    async move {
        let (Ok(mut term), Ok(mut int)) = handlers else {
            tracing::warn!("cannot listen for signals; stop the process with SIGKILL");
            return;
        };
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM"),
            _ = int.recv() => tracing::info!("SIGINT"),
        }
        stop.cancel();
    }
}

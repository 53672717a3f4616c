//! The signals that ask a server to stop.

use tokio_util::sync::CancellationToken;

/// Cancels `stop` on SIGTERM or SIGINT. Without signal handlers (they cannot be
/// installed), it warns and never cancels.
pub async fn cancel_on_stop_signal(stop: CancellationToken) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::warn!("cannot listen for signals; stop the process with SIGKILL");
        return;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM"),
        _ = int.recv() => tracing::info!("SIGINT"),
    }
    stop.cancel();
}

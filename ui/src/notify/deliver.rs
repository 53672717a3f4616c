//! One delivery to one channel: its attempts, each recorded in the delivery log, with
//! the retries' backoff in between, until one succeeds or the retries are used up.

use std::future::Future;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::channels::{SendError, Sent};
use super::retry;
use super::store::Attempt;
use crate::app::App;
use crate::store::Db;

/// What the delivery log says a delivery carried.
#[derive(Debug, Clone)]
pub struct Carried {
    pub channel_id: i64,
    pub channel: String,
    pub alert_ids: Vec<i64>,
    pub notices: i64,
    pub test: bool,
}

/// A fresh ID for a delivery, which its attempts share in the log.
pub fn delivery_id() -> String {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        return format!("d{}", now_ms());
    }
    hex::encode(bytes)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// One attempt: `send` run once, timed, and recorded.
pub async fn attempt<F>(
    db: &Db,
    carried: &Carried,
    delivery: &str,
    number: u32,
    send: F,
) -> Result<Sent, SendError>
where
    F: Future<Output = Result<Sent, SendError>>,
{
    let at_ms = now_ms();
    let started = std::time::Instant::now();
    let result = send.await;
    let row = Attempt {
        id: 0,
        channel_id: carried.channel_id,
        delivery: delivery.to_owned(),
        alert_ids: carried.alert_ids.clone(),
        notices: carried.notices,
        test: carried.test,
        attempt: number,
        at_ms,
        ok: result.is_ok(),
        outcome: match &result {
            Ok(sent) => sent.clone(),
            Err(e) => e.to_string(),
        },
        duration_ms: started.elapsed().as_millis() as i64,
    };
    match &result {
        Ok(_) => tracing::debug!(channel = carried.channel, number, "delivered"),
        Err(e) => {
            tracing::warn!(channel = carried.channel, number, error = %e, "a delivery attempt failed")
        }
    }
    if let Err(e) = db.run(move |s| s.record_attempt(&row)).await {
        tracing::error!(error = %e, "cannot write the delivery log");
    }
    result
}

/// Attempts until one succeeds, waiting the backoff between them; gives up after the
/// last retry or when the console stops.
pub async fn with_retries<F, Fut>(app: Arc<App>, carried: Carried, stop: CancellationToken, send: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<Sent, SendError>>,
{
    let delivery = delivery_id();
    let mut number = 1;
    loop {
        if attempt(&app.db, &carried, &delivery, number, send())
            .await
            .is_ok()
        {
            return;
        }
        number += 1;
        let Some(wait) = retry::wait_before(number) else {
            tracing::error!(
                channel = carried.channel,
                attempts = number - 1,
                "a delivery was given up"
            );
            return;
        };
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

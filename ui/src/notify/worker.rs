//! The notification worker: takes the notifier's queue, gathers each channel's notices
//! into bursts, and sends each burst as one message with retries; hands update findings
//! to the MQTT channels as retained update states.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::channel::Channel;
use super::channels::home_assistant::UpdateState;
use super::channels::{mqtt, Senders};
use super::deliver::{self, Carried};
use super::grouping::Burst;
use super::message::Message;
use super::settings::Settings;
use crate::app::App;
use crate::watch::notice::{Notice, Outgoing};
use crate::watch::UpdateFinding;

/// The update states last published, per MQTT channel and endpoint, by unique ID: what
/// is no longer found is published once more as up to date.
type Published = HashMap<(i64, i64), BTreeMap<String, UpdateState>>;

pub async fn run(app: Arc<App>, stop: CancellationToken) {
    let Some(mut queue) = app.notifier.take_queue() else {
        tracing::error!("the notification queue was taken already: no notifications");
        return;
    };
    let senders = match Senders::new() {
        Ok(senders) => Arc::new(senders),
        Err(e) => {
            tracing::error!(error = %e, "no notifications");
            return;
        }
    };
    let mut bursts: HashMap<i64, (Channel, Burst)> = HashMap::new();
    let mut published = Published::new();
    loop {
        let next = bursts.values().map(|(_, burst)| burst.due()).min();
        tokio::select! {
            _ = stop.cancelled() => break,
            item = queue.recv() => match item {
                None => break,
                Some(Outgoing::Notice(notice)) => {
                    gather(&app, &mut bursts, notice).await;
                }
                Some(Outgoing::Updates { endpoint, findings }) => {
                    updates(&app, &stop, &mut published, endpoint, findings).await;
                }
            },
            _ = sleep_until(next), if next.is_some() => {
                let now = Instant::now();
                let due: Vec<i64> = bursts
                    .iter()
                    .filter(|(_, (_, burst))| burst.due() <= now)
                    .map(|(id, _)| *id)
                    .collect();
                for id in due {
                    if let Some((channel, burst)) = bursts.remove(&id) {
                        send_burst(&app, &senders, &stop, channel, burst.notices);
                    }
                }
            }
        }
    }
    tracing::info!("notifications stopped");
}

async fn sleep_until(at: Option<Instant>) {
    if let Some(at) = at {
        tokio::time::sleep_until(at).await;
    }
}

async fn enabled_channels(app: &Arc<App>) -> Vec<Channel> {
    let shared = Arc::clone(app);
    match app.db.run(move |s| s.channels(&shared.sealer)).await {
        Ok(channels) => channels.into_iter().filter(|c| c.enabled).collect(),
        Err(e) => {
            tracing::error!(error = %e, "cannot read the notification channels");
            Vec::new()
        }
    }
}

/// Adds `notice` to the burst of each channel that takes it.
async fn gather(app: &Arc<App>, bursts: &mut HashMap<i64, (Channel, Burst)>, notice: Notice) {
    let now = Instant::now();
    for channel in enabled_channels(app).await {
        if !channel.filter.takes(&notice) {
            continue;
        }
        match bursts.get_mut(&channel.id) {
            Some((kept, burst)) => {
                burst.add(notice.clone(), now);
                // The settings as they are now, should they have changed meanwhile.
                *kept = channel;
            }
            None => {
                let burst = Burst::start(notice.clone(), now, channel.grouping);
                bursts.insert(channel.id, (channel, burst));
            }
        }
    }
}

/// Sends a burst as one message, off the worker's loop.
fn send_burst(
    app: &Arc<App>,
    senders: &Arc<Senders>,
    stop: &CancellationToken,
    channel: Channel,
    notices: Vec<Notice>,
) {
    let message = Message::new(notices);
    let carried = Carried {
        channel_id: channel.id,
        channel: channel.name.clone(),
        alert_ids: message.alert_ids(),
        notices: message.notices.len() as i64,
        test: false,
    };
    let senders = Arc::clone(senders);
    tokio::spawn(deliver::with_retries(
        Arc::clone(app),
        carried,
        stop.clone(),
        move || {
            let (senders, channel, message) =
                (Arc::clone(&senders), channel.clone(), message.clone());
            async move {
                senders
                    .send(&channel.name, &channel.settings, &message)
                    .await
            }
        },
    ));
}

/// Publishes an endpoint's update states to every enabled MQTT channel.
async fn updates(
    app: &Arc<App>,
    stop: &CancellationToken,
    published: &mut Published,
    endpoint: i64,
    findings: Vec<UpdateFinding>,
) {
    for channel in enabled_channels(app).await {
        let Settings::Mqtt(settings) = &channel.settings else {
            continue;
        };
        let current: BTreeMap<String, UpdateState> = findings
            .iter()
            .map(UpdateState::pending)
            .map(|state| (state.unique_id(), state))
            .collect();
        let before = published
            .insert((channel.id, endpoint), current.clone())
            .unwrap_or_default();
        let gone: Vec<UpdateState> = before
            .iter()
            .filter(|(id, _)| !current.contains_key(*id))
            .map(|(_, state)| state.done())
            .collect();
        let mut states: Vec<UpdateState> = current.into_values().collect();
        states.extend(gone);
        if states.is_empty() {
            continue;
        }
        let publications: Vec<mqtt::Publication> = states
            .iter()
            .flat_map(|state| state.publications(settings))
            .collect();
        let carried = Carried {
            channel_id: channel.id,
            channel: channel.name.clone(),
            alert_ids: Vec::new(),
            notices: states.len() as i64,
            test: false,
        };
        let settings = settings.clone();
        tokio::spawn(deliver::with_retries(
            Arc::clone(app),
            carried,
            stop.clone(),
            move || {
                let (settings, publications) = (settings.clone(), publications.clone());
                async move { mqtt::publish(&settings, publications).await }
            },
        ));
    }
}

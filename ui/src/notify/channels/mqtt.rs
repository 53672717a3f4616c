//! MQTT: one short connection per delivery that publishes its messages at QoS 1 and
//! waits for the broker's acknowledgements. Alerts go to `<prefix>/alerts/<alert ID>`.

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::json;

use super::{SendError, Sent, ATTEMPT_TIMEOUT};
use crate::notify::message::Message;
use crate::notify::settings::MqttSettings;

/// One message to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publication {
    pub topic: String,
    pub payload: Vec<u8>,
    pub retain: bool,
}

/// One message per notice, on its alert's topic; a test goes to `<prefix>/alerts/test`.
pub fn alert_publications(settings: &MqttSettings, message: &Message) -> Vec<Publication> {
    message
        .notices
        .iter()
        .map(|notice| {
            let topic = if message.test {
                format!("{}/alerts/test", settings.prefix)
            } else {
                format!("{}/alerts/{}", settings.prefix, notice.alert_id)
            };
            let mut payload = serde_json::to_value(notice).unwrap_or_default();
            payload["test"] = json!(message.test);
            Publication {
                topic,
                payload: payload.to_string().into_bytes(),
                retain: false,
            }
        })
        .collect()
}

pub async fn send_alerts(settings: &MqttSettings, message: &Message) -> Result<Sent, SendError> {
    publish(settings, alert_publications(settings, message)).await
}

/// A client ID of its own for each connection: a broker drops a client when another
/// connects with the same ID, and two deliveries (an alert and update states, or two
/// channels on one broker) may overlap.
fn client_id() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("bosun-console-{}-{n}", std::process::id())
}

/// Connects, publishes every message, waits for each acknowledgement, disconnects.
pub async fn publish(
    settings: &MqttSettings,
    publications: Vec<Publication>,
) -> Result<Sent, SendError> {
    let count = publications.len();
    if count == 0 {
        return Ok("nothing to publish".to_owned());
    }
    let client_id = client_id();
    let mut options = MqttOptions::new(client_id, settings.host.clone(), settings.port);
    options.set_keep_alive(std::time::Duration::from_secs(30));
    options.set_max_packet_size(1 << 20, 1 << 20);
    if let Some(user) = &settings.username {
        options.set_credentials(user.clone(), settings.password.clone().unwrap_or_default());
    }
    let (client, mut events) = AsyncClient::new(options, count + 1);
    for p in publications {
        client
            .try_publish(p.topic, QoS::AtLeastOnce, p.retain, p.payload)
            .map_err(|e| SendError::Mqtt(e.to_string()))?;
    }
    let acknowledged = tokio::time::timeout(ATTEMPT_TIMEOUT, async {
        let mut acked = 0;
        while acked < count {
            match events.poll().await {
                Ok(Event::Incoming(Packet::PubAck(_))) => acked += 1,
                Ok(_) => {}
                Err(e) => return Err(SendError::Mqtt(e.to_string())),
            }
        }
        Ok(())
    })
    .await;
    match acknowledged {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(e),
        Err(_) => {
            return Err(SendError::Mqtt(format!(
                "{}:{} did not acknowledge within {} s",
                settings.host,
                settings.port,
                ATTEMPT_TIMEOUT.as_secs()
            )))
        }
    }
    // A clean goodbye, so that the broker does not log a lost client; the messages are
    // acknowledged already, so a failure here changes nothing.
    if client.try_disconnect().is_ok() {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(1), async {
            while events.poll().await.is_ok() {}
        })
        .await;
    }
    Ok(format!("{count} published"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::message::tests::notice;
    use crate::watch::notice::NoticeState;

    #[test]
    fn each_alert_goes_to_its_own_topic() {
        let settings: MqttSettings =
            serde_json::from_value(json!({"host": "b", "port": 1883})).unwrap();
        let message = Message::new(vec![
            notice(4, 3, NoticeState::Firing),
            notice(5, 3, NoticeState::Resolved),
        ]);
        let published = alert_publications(&settings, &message);
        assert_eq!(published.len(), 2);
        assert_eq!(published[0].topic, "bosun/alerts/4");
        assert_eq!(published[1].topic, "bosun/alerts/5");
        let payload: serde_json::Value = serde_json::from_slice(&published[1].payload).unwrap();
        assert_eq!(payload["state"], "resolved");
        assert_eq!(payload["subject"], "c5");
        assert!(!published[0].retain);
    }

    #[test]
    fn each_connection_has_its_own_client_id() {
        assert_ne!(client_id(), client_id());
    }
}

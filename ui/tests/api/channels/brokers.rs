//! The channels that need a broker or a mail server: Debian's mosquitto (alerts, update
//! states and Home Assistant discovery) and aiosmtpd (email).

use std::time::Duration;

use bosun_ui::watch::UpdateFinding;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::{json, Value};

use super::{add_channel, log_of, notice, test_button};
use crate::common::receivers::{self, SmtpTls};
use crate::common::*;

/// What the MQTT subscriber reports for an acknowledged subscription.
const SUBSCRIBED: &str = "$subscribed";

type Published = (String, Vec<u8>, bool);

/// The next message the subscriber got: topic, payload, retained.
async fn next(rx: &mut tokio::sync::mpsc::UnboundedReceiver<Published>, what: &str) -> Published {
    tokio::time::timeout(SETTLE, rx.recv())
        .await
        .unwrap_or_else(|_| panic!("{what} arrives"))
        .expect("the subscriber runs")
}

fn finding(name: &str) -> UpdateFinding {
    UpdateFinding {
        endpoint: 1,
        endpoint_name: "local".into(),
        node: "n1".into(),
        object: "container".into(),
        name: name.into(),
        id: format!("{name}-full-id"),
        image: "127.0.0.1:5000/app:1.0.0".into(),
        kind: "minor".into(),
        newer_tag: Some("1.1.0".into()),
        newest_digest: Some("sha256:00112233445566778899".into()),
        link: None,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn mqtt_gets_alerts_update_states_and_home_assistant_discovery() {
    let broker = receivers::mosquitto().await;
    let (_creds, _agent, console, app) = stack_with_app().await;
    let admin = Client::logged_in(console.addr, ADMIN, ADMIN_PASSWORD).await;

    let mut options = MqttOptions::new("bosun-it-subscriber", "127.0.0.1", broker.port);
    options.set_keep_alive(Duration::from_secs(30));
    let (subscriber, mut events) = AsyncClient::new(options, 10);
    subscriber
        .subscribe("bosun-it/#", QoS::AtLeastOnce)
        .await
        .expect("subscribe");
    subscriber
        .subscribe("ha-it/#", QoS::AtLeastOnce)
        .await
        .expect("subscribe");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let listening = tokio::spawn(async move {
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let _ = tx.send((p.topic.clone(), p.payload.to_vec(), p.retain));
                }
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    let _ = tx.send((SUBSCRIBED.to_owned(), Vec::new(), false));
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    });
    let id = add_channel(
        &admin,
        json!({"name": "mqtt", "kind": "mqtt",
               "settings": {"host": "127.0.0.1", "port": broker.port, "prefix": "bosun-it",
                            "discovery_prefix": "ha-it"}}),
    )
    .await;

    for _ in 0..2 {
        assert_eq!(next(&mut rx, "a subscription").await.0, SUBSCRIBED);
    }

    app.notifier.send(notice(55, "api"));
    let (topic, payload, _) = next(&mut rx, "the alert").await;
    assert_eq!(topic, "bosun-it/alerts/55");
    let alert: Value = serde_json::from_slice(&payload).expect("JSON");
    assert_eq!(alert["subject"], "api");
    assert_eq!(alert["state"], "firing");

    app.notifier.updates(1, vec![finding("web")]);
    let mut got = [
        next(&mut rx, "the state").await,
        next(&mut rx, "the discovery").await,
    ];
    got.sort();
    let (config_topic, config, _) = &got[1];
    assert_eq!(
        config_topic,
        "ha-it/update/bosun_local_container_web/config"
    );
    let config: Value = serde_json::from_slice(config).expect("JSON");
    assert_eq!(config["state_topic"], "bosun-it/container/local/web");
    assert_eq!(config["unique_id"], "bosun_local_container_web");
    let (state_topic, state, _) = &got[0];
    assert_eq!(state_topic, "bosun-it/container/local/web");
    let state: Value = serde_json::from_slice(state).expect("JSON");
    assert_eq!(state["installed_version"], "1.0.0");
    assert_eq!(state["latest_version"], "1.1.0");
    assert_eq!(state["update_available"], true);

    // Updated since: no longer found, it is published once more as up to date.
    app.notifier.updates(1, vec![]);
    let mut got = [
        next(&mut rx, "the state").await,
        next(&mut rx, "the discovery").await,
    ];
    got.sort();
    assert_eq!(got[0].0, "bosun-it/container/local/web");
    let state: Value = serde_json::from_slice(&got[0].1).expect("JSON");
    assert_eq!(state["update_available"], false, "{state}");
    assert_eq!(state["installed_version"], "1.1.0");

    // A late subscriber (Home Assistant starting after the console) still gets the
    // retained state and discovery config.
    let mut options = MqttOptions::new("bosun-it-late", "127.0.0.1", broker.port);
    options.set_keep_alive(Duration::from_secs(30));
    let (late, mut late_events) = AsyncClient::new(options, 10);
    for filter in ["bosun-it/container/#", "ha-it/update/#"] {
        late.subscribe(filter, QoS::AtLeastOnce)
            .await
            .expect("subscribe");
    }
    let mut retained = tokio::time::timeout(SETTLE, async {
        let mut got = Vec::new();
        while got.len() < 2 {
            if let Ok(Event::Incoming(Packet::Publish(p))) = late_events.poll().await {
                got.push((p.topic.clone(), p.retain));
            }
        }
        got
    })
    .await
    .expect("the retained state and config");
    retained.sort();
    assert_eq!(
        retained,
        vec![
            ("bosun-it/container/local/web".to_owned(), true),
            (
                "ha-it/update/bosun_local_container_web/config".to_owned(),
                true
            ),
        ]
    );

    let log = log_of(&admin, id, 3).await;
    assert_eq!(log.len(), 3, "{log:?}");
    assert!(log.iter().all(|a| a["ok"] == true), "{log:?}");
    listening.abort();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_email_arrives_with_the_subject_and_the_lines() {
    let sink = receivers::smtp_sink().await;
    let (_creds, _agent, console, app) = stack_with_app().await;
    let admin = Client::logged_in(console.addr, ADMIN, ADMIN_PASSWORD).await;
    let id = add_channel(
        &admin,
        json!({"name": "mail", "kind": "email",
               "settings": {"host": "127.0.0.1", "port": sink.port, "security": "none",
                            "from": "bosun@example.org", "to": ["ops@example.org"]}}),
    )
    .await;
    let result = test_button(&admin, id).await;
    assert_eq!(result["ok"], true, "{result}");
    app.notifier.send(notice(9, "queue-worker"));
    let mails = eventually("two emails in the sink", SETTLE, || async {
        // The body is quoted-printable where a line is long or not ASCII.
        let mails: Vec<String> = sink
            .mails()
            .iter()
            .map(|m| {
                let plain =
                    quoted_printable::decode(m.as_bytes(), quoted_printable::ParseMode::Robust)
                        .unwrap_or_else(|e| panic!("{e}: {m}"));
                String::from_utf8_lossy(&plain).into_owned()
            })
            .collect();
        if mails.len() >= 2 {
            Ok(mails)
        } else {
            Err(format!("{} so far", mails.len()))
        }
    })
    .await;
    let alert = mails
        .iter()
        .find(|m| m.contains("Subject: [FIRING] container exited: queue-worker"))
        .unwrap_or_else(|| panic!("the alert's email: {mails:?}"));
    assert!(alert.contains("To: ops@example.org"), "{alert}");
    assert!(
        alert.contains("queue-worker on local/n1: exited with code 137"),
        "{alert}"
    );
    assert!(alert.contains("last line: killed"), "{alert}");
    assert!(mails
        .iter()
        .any(|m| m.contains("Subject: Bosun: test notice")));
}

#[tokio::test(flavor = "multi_thread")]
async fn email_goes_over_starttls_and_tls_trusting_the_channels_ca() {
    let (starttls, starttls_ca) = receivers::smtp_sink_with(SmtpTls::Starttls).await;
    let (smtps, smtps_ca) = receivers::smtp_sink_with(SmtpTls::Implicit).await;
    let (_creds, _agent, console) = stack().await;
    let admin = Client::logged_in(console.addr, ADMIN, ADMIN_PASSWORD).await;
    let mail = |name: &str, port: u16, security: &str, ca: Option<&str>| {
        json!({"name": name, "kind": "email",
               "settings": {"host": "127.0.0.1", "port": port, "security": security,
                            "from": "bosun@example.org", "to": ["ops@example.org"],
                            "ca_pem": ca}})
    };

    // Not trusted: the certificate is refused, and the log says so.
    let untrusted = add_channel(&admin, mail("untrusted", starttls.port, "starttls", None)).await;
    let result = test_button(&admin, untrusted).await;
    assert_eq!(result["ok"], false, "{result}");
    assert!(
        result["outcome"]
            .as_str()
            .is_some_and(|o| o.starts_with("SMTP:") && o.to_lowercase().contains("certificate")),
        "{result}"
    );

    for (name, sink, security, ca) in [
        ("starttls", &starttls, "starttls", &starttls_ca),
        ("smtps", &smtps, "tls", &smtps_ca),
    ] {
        let id = add_channel(&admin, mail(name, sink.port, security, Some(ca))).await;
        let result = test_button(&admin, id).await;
        assert_eq!(result["ok"], true, "{name}: {result}");
        let mails = sink.mails();
        assert_eq!(mails.len(), 1, "{name}: {mails:?}");
        assert!(
            mails[0].contains("Subject: Bosun: test notice"),
            "{}",
            mails[0]
        );
    }
    assert!(
        starttls.mails().len() == 1,
        "nothing from the untrusted attempt"
    );
}

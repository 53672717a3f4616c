//! The channel kinds, one file each: how a message becomes a request to the service.
//!
//! | file | what it sends |
//! | --- | --- |
//! | `webhook.rs` | the console's own JSON, signed with HMAC-SHA256 |
//! | `slack.rs` | Slack-compatible incoming webhooks (Slack, Mattermost, Rocket.Chat) |
//! | `discord.rs` | Discord webhooks |
//! | `ntfy.rs` | an ntfy topic |
//! | `gotify.rs` | a Gotify application's messages |
//! | `email.rs` | email over SMTP |
//! | `mqtt.rs` | alerts as MQTT messages, and the connection the update states use |
//! | `home_assistant.rs` | per-container update states and Home Assistant discovery over MQTT |

pub mod discord;
pub mod email;
pub mod gotify;
pub mod home_assistant;
pub mod mqtt;
pub mod ntfy;
pub mod slack;
pub mod webhook;

use std::time::Duration;

use super::message::Message;
use super::settings::{ChatSettings, Settings};

/// How long one attempt may take, connection included.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why an attempt failed; the text is what the delivery log shows.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("{service} answered HTTP {status}: {body}")]
    Status {
        service: &'static str,
        status: u16,
        body: String,
    },
    #[error("{service} could not be reached: {reason}")]
    Unreachable {
        service: &'static str,
        reason: String,
    },
    #[error("SMTP: {0}")]
    Smtp(String),
    #[error("MQTT broker: {0}")]
    Mqtt(String),
    #[error("the message cannot be made: {0}")]
    Message(String),
}

/// What a successful attempt is recorded with: `HTTP 200`, the SMTP reply.
pub type Sent = String;

/// The clients the channels share.
pub struct Senders {
    http: reqwest::Client,
}

impl Senders {
    pub fn new() -> Result<Self, SendError> {
        let http = reqwest::Client::builder()
            .timeout(ATTEMPT_TIMEOUT)
            .connect_timeout(ATTEMPT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("bosun-console/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SendError::Message(format!("HTTP client: {e}")))?;
        Ok(Self { http })
    }

    /// One attempt to deliver `message` through a channel named `channel`.
    pub async fn send(
        &self,
        channel: &str,
        settings: &Settings,
        message: &Message,
    ) -> Result<Sent, SendError> {
        match settings {
            Settings::Webhook(s) => webhook::send(&self.http, channel, s, message).await,
            Settings::Slack(s) => {
                let body = slack::body(s, message);
                chat(&self.http, "the Slack-compatible webhook", s, body).await
            }
            Settings::Discord(s) => {
                let body = discord::body(s, message);
                chat(&self.http, "the Discord webhook", s, body).await
            }
            Settings::Ntfy(s) => ntfy::send(&self.http, s, message).await,
            Settings::Gotify(s) => gotify::send(&self.http, s, message).await,
            Settings::Email(s) => email::send(s, message).await,
            Settings::Mqtt(s) => mqtt::send_alerts(s, message).await,
        }
    }
}

/// Posts a chat service's JSON to its webhook.
async fn chat(
    http: &reqwest::Client,
    service: &'static str,
    settings: &ChatSettings,
    body: serde_json::Value,
) -> Result<Sent, SendError> {
    let request = http
        .post(&settings.url)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(body.to_string());
    post(service, request).await
}

/// Sends a prepared request and reads the answer: a 2xx is done, anything else says why.
pub(super) async fn post(
    service: &'static str,
    request: reqwest::RequestBuilder,
) -> Result<Sent, SendError> {
    let response = request.send().await.map_err(|e| SendError::Unreachable {
        service,
        reason: error_chain(&e),
    })?;
    let status = response.status();
    if status.is_success() {
        return Ok(format!("HTTP {}", status.as_u16()));
    }
    let body = response.text().await.unwrap_or_default();
    Err(SendError::Status {
        service,
        status: status.as_u16(),
        body: body.chars().take(200).collect(),
    })
}

/// An error with its causes, which name the real reason (refused, timed out, TLS).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A color per severity, as chat services show a side bar: red, orange, blue; green when
/// everything resolved.
pub(super) fn color(message: &Message) -> u32 {
    use crate::watch::notice::Severity;
    if message.all_resolved() {
        return 0x2e_b8_86;
    }
    match message.severity() {
        Severity::Critical => 0xd9_30_25,
        Severity::Warning => 0xe8_a3_17,
        Severity::Info => 0x3b_82_f6,
    }
}

//! Gotify: a JSON message with a title and a priority, posted to
//! `<server>/message?token=<application token>`.

use serde_json::{json, Value};

use super::{post, SendError, Sent};
use crate::notify::message::Message;
use crate::notify::settings::GotifySettings;
use crate::watch::notice::Severity;

/// Gotify's priority (0 to 10; its apps alert from 8, vibrate from 4).
pub fn priority(message: &Message) -> u8 {
    if message.test || message.all_resolved() {
        return 2;
    }
    match message.severity() {
        Severity::Critical => 8,
        Severity::Warning => 5,
        Severity::Info => 2,
    }
}

pub fn body(message: &Message) -> Value {
    json!({
        "title": message.title(),
        "message": message.text(),
        "priority": priority(message),
    })
}

pub async fn send(
    http: &reqwest::Client,
    settings: &GotifySettings,
    message: &Message,
) -> Result<Sent, SendError> {
    let url = format!("{}/message", settings.server.trim_end_matches('/'));
    let request = http
        .post(url)
        .query(&[("token", &settings.token)])
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(body(message).to_string());
    post("Gotify", request).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::message::tests::notice;
    use crate::watch::notice::NoticeState;

    #[test]
    fn gotify_gets_title_message_and_priority() {
        let body = body(&Message::new(vec![notice(2, 3, NoticeState::Firing)]));
        assert_eq!(body["title"], "[FIRING] rule-3: c2");
        assert_eq!(body["priority"], 8);
        assert!(body["message"]
            .as_str()
            .unwrap()
            .contains("exited with code 1"));
        let resolved = Message::new(vec![notice(2, 3, NoticeState::Resolved)]);
        assert_eq!(priority(&resolved), 2);
    }
}

//! Slack-compatible incoming webhooks: `text` for the notification, one attachment with
//! the lines and the severity's color. Mattermost and Rocket.Chat take the same JSON.

use serde_json::{json, Value};

use super::color;
use crate::notify::message::Message;
use crate::notify::settings::ChatSettings;

pub fn body(settings: &ChatSettings, message: &Message) -> Value {
    let mut body = json!({
        "text": message.title(),
        "attachments": [{
            "color": format!("#{:06x}", color(message)),
            "fallback": message.title(),
            "text": message.text(),
        }],
    });
    if let Some(name) = &settings.username {
        body["username"] = Value::String(name.clone());
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::message::tests::notice;
    use crate::watch::notice::NoticeState;

    #[test]
    fn slack_gets_text_and_one_colored_attachment() {
        let settings = ChatSettings {
            url: "https://hooks.example/x".into(),
            username: Some("bosun".into()),
        };
        let body = body(
            &settings,
            &Message::new(vec![notice(2, 3, NoticeState::Firing)]),
        );
        assert_eq!(body["text"], "[FIRING] rule-3: c2");
        assert_eq!(body["username"], "bosun");
        assert_eq!(body["attachments"][0]["color"], "#d93025");
        assert!(body["attachments"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with("• rule-3 [critical] c2"));
        let resolved = super::body(
            &settings,
            &Message::new(vec![notice(2, 3, NoticeState::Resolved)]),
        );
        assert_eq!(resolved["attachments"][0]["color"], "#2eb886");
    }
}

//! Discord webhooks: `content` for the notification, one embed with the lines and the
//! severity's color, within Discord's lengths.

use serde_json::{json, Value};

use super::color;
use crate::notify::message::Message;
use crate::notify::settings::ChatSettings;

/// Discord's limits: content, an embed's title, an embed's description.
const CONTENT: usize = 2000;
const TITLE: usize = 256;
const DESCRIPTION: usize = 4096;

pub fn body(settings: &ChatSettings, message: &Message) -> Value {
    let title = message.title();
    let mut body = json!({
        "content": cut(&title, CONTENT),
        "embeds": [{
            "title": cut(&title, TITLE),
            "description": cut(&message.text(), DESCRIPTION),
            "color": color(message),
        }],
    });
    if let Some(name) = &settings.username {
        body["username"] = Value::String(name.clone());
    }
    body
}

/// `text` within `most` characters, with an ellipsis where it was cut.
fn cut(text: &str, most: usize) -> String {
    if text.chars().count() <= most {
        return text.to_owned();
    }
    let mut kept: String = text.chars().take(most - 1).collect();
    kept.push('…');
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::message::tests::notice;
    use crate::watch::notice::NoticeState;

    #[test]
    fn discord_gets_content_and_an_embed_within_its_limits() {
        let settings = ChatSettings {
            url: "https://discord.example/api/webhooks/1/t".into(),
            username: None,
        };
        let mut long = notice(1, 3, NoticeState::Firing);
        long.details = vec!["x".repeat(5000)];
        let body = body(&settings, &Message::new(vec![long]));
        assert_eq!(body["content"], "[FIRING] rule-3: c1");
        assert_eq!(body["embeds"][0]["color"], 0xe8a317);
        let description = body["embeds"][0]["description"].as_str().unwrap();
        assert_eq!(description.chars().count(), DESCRIPTION);
        assert!(description.ends_with('…'));
        assert!(body.get("username").is_none());
    }
}

//! ntfy: the lines as the body of a POST to `<server>/<topic>`, with the title, a
//! priority and tags in headers, and the access token when there is one.

use super::{post, SendError, Sent};
use crate::notify::message::Message;
use crate::notify::settings::NtfySettings;
use crate::watch::notice::Severity;

/// ntfy's priority (1 to 5) and tags (emoji short codes) for a message.
pub fn priority_and_tags(message: &Message) -> (u8, &'static str) {
    if message.test {
        return (3, "bell");
    }
    if message.all_resolved() {
        return (3, "white_check_mark");
    }
    match message.severity() {
        Severity::Critical => (5, "rotating_light"),
        Severity::Warning => (4, "warning"),
        Severity::Info => (3, "information_source"),
    }
}

pub fn url(settings: &NtfySettings) -> String {
    format!(
        "{}/{}",
        settings.server.trim_end_matches('/'),
        settings.topic
    )
}

pub async fn send(
    http: &reqwest::Client,
    settings: &NtfySettings,
    message: &Message,
) -> Result<Sent, SendError> {
    let (priority, tags) = priority_and_tags(message);
    // ntfy reads header bytes as UTF-8; the title's "×" and "…" go through as they are.
    let title =
        http::HeaderValue::from_bytes(message.title().replace(['\r', '\n'], " ").as_bytes())
            .map_err(|e| SendError::Message(format!("title: {e}")))?;
    let mut request = http
        .post(url(settings))
        .header("Title", title)
        .header("Priority", priority.to_string())
        .header("Tags", tags)
        .body(message.text());
    if let Some(token) = &settings.token {
        request = request.bearer_auth(token);
    }
    post("ntfy", request).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::message::tests::notice;
    use crate::watch::notice::NoticeState;

    #[test]
    fn ntfy_priorities_follow_the_severity() {
        let firing = Message::new(vec![notice(2, 3, NoticeState::Firing)]);
        assert_eq!(priority_and_tags(&firing), (5, "rotating_light"));
        let warning = Message::new(vec![notice(1, 3, NoticeState::Firing)]);
        assert_eq!(priority_and_tags(&warning), (4, "warning"));
        let resolved = Message::new(vec![notice(2, 3, NoticeState::Resolved)]);
        assert_eq!(priority_and_tags(&resolved), (3, "white_check_mark"));
        let settings = NtfySettings {
            server: "https://ntfy.example/".into(),
            topic: "ops".into(),
            token: None,
        };
        assert_eq!(url(&settings), "https://ntfy.example/ops");
    }
}

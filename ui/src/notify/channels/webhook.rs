//! The generic webhook: the console's own JSON body (documented in
//! `docs/notifications.md`), signed with HMAC-SHA256 over `<timestamp>.<body>` so that a
//! receiver can check who sent it and refuse a replay.

use aws_lc_rs::hmac;
use serde_json::json;

use super::{post, SendError, Sent};
use crate::notify::message::Message;
use crate::notify::settings::WebhookSettings;

pub const SIGNATURE: &str = "X-Bosun-Signature";
pub const TIMESTAMP: &str = "X-Bosun-Timestamp";

/// The body: every notice in full, and the title and text a human reads.
pub fn body(channel: &str, message: &Message, sent_at: i64) -> Vec<u8> {
    json!({
        "version": 1,
        "channel": channel,
        "test": message.test,
        "sent_at": sent_at,
        "title": message.title(),
        "text": message.text(),
        "severity": message.severity(),
        "count": message.notices.len(),
        "notices": message.notices,
    })
    .to_string()
    .into_bytes()
}

/// `sha256=<hex>`: HMAC-SHA256 with `secret` over the timestamp, a dot and the body.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let mut signing = hmac::Context::with_key(&key);
    signing.update(timestamp.to_string().as_bytes());
    signing.update(b".");
    signing.update(body);
    format!("sha256={}", hex::encode(signing.sign().as_ref()))
}

pub async fn send(
    http: &reqwest::Client,
    channel: &str,
    settings: &WebhookSettings,
    message: &Message,
) -> Result<Sent, SendError> {
    let now = crate::store::now_secs();
    let body = body(channel, message, now);
    let mut request = http
        .post(&settings.url)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(TIMESTAMP, now.to_string());
    if let Some(secret) = &settings.secret {
        request = request.header(SIGNATURE, signature(secret, now, &body));
    }
    post("the webhook", request.body(body)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::message::tests::notice;
    use crate::watch::notice::NoticeState;

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let sig = signature("Jefe", 0, b"what do ya want for nothing?");
        let expected = {
            let key = hmac::Key::new(hmac::HMAC_SHA256, b"Jefe");
            hex::encode(hmac::sign(&key, b"0.what do ya want for nothing?").as_ref())
        };
        assert_eq!(sig, format!("sha256={expected}"));
        let rfc = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, b"Jefe"),
            b"what do ya want for nothing?",
        );
        assert_eq!(
            hex::encode(rfc.as_ref()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_ne!(
            signature("Jefe", 1, b"what do ya want for nothing?"),
            sig,
            "the timestamp is signed"
        );
        assert_ne!(signature("other", 0, b"what do ya want for nothing?"), sig);
    }

    #[test]
    fn the_body_lists_every_notice() {
        let message = Message::new(vec![
            notice(1, 3, NoticeState::Firing),
            notice(2, 3, NoticeState::Firing),
        ]);
        let body: serde_json::Value = serde_json::from_slice(&body("ops", &message, 42)).unwrap();
        assert_eq!(body["version"], 1);
        assert_eq!(body["channel"], "ops");
        assert_eq!(body["count"], 2);
        assert_eq!(body["sent_at"], 42);
        assert_eq!(body["severity"], "critical");
        assert_eq!(body["notices"][1]["subject"], "c2");
        assert_eq!(body["notices"][0]["state"], "firing");
        assert_eq!(body["title"], "2 × rule-3 firing: c1, c2");
    }
}

//! Each channel kind's settings: what they hold, which of them are secrets, how they are
//! checked, shown to the browser with the secrets masked, and changed without resending
//! the secrets.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("settings of a {kind} channel: {reason}")]
    Invalid { kind: &'static str, reason: String },
    #[error("\"{0}\" is not a channel kind (webhook, slack, discord, ntfy, gotify, email, mqtt)")]
    Kind(String),
}

/// A channel's settings, one variant per kind; stored sealed as this JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Settings {
    Webhook(WebhookSettings),
    /// Slack's incoming webhooks, and Mattermost's and Rocket.Chat's, which take the same
    /// JSON.
    Slack(ChatSettings),
    Discord(ChatSettings),
    Ntfy(NtfySettings),
    Gotify(GotifySettings),
    Email(EmailSettings),
    Mqtt(MqttSettings),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    pub url: String,
    /// The HMAC-SHA256 key of `X-Bosun-Signature`; without it nothing is signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatSettings {
    pub url: String,
    /// The name the message is posted under, where the service lets a webhook choose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NtfySettings {
    /// The server's base URL, e.g. `https://ntfy.sh`.
    pub server: String,
    pub topic: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GotifySettings {
    pub server: String,
    /// The application's token.
    pub token: String,
}

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS (port 587).
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No TLS: only to a server on loopback.
    None,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailSettings {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    pub from: String,
    pub to: Vec<String>,
    /// PEM certificates trusted besides the system's roots: a private CA's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_pem: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttSettings {
    pub host: String,
    pub port: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Alerts go to `<prefix>/alerts/...`, update states to `<prefix>/container/...`.
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// Publish Home Assistant discovery for the update states.
    #[serde(default = "yes")]
    pub discovery: bool,
    #[serde(default = "default_discovery_prefix")]
    pub discovery_prefix: String,
}

fn default_prefix() -> String {
    "bosun".to_owned()
}

fn default_discovery_prefix() -> String {
    "homeassistant".to_owned()
}

fn yes() -> bool {
    true
}

/// The kinds, as the API names them.
pub const KINDS: [&str; 7] = [
    "webhook", "slack", "discord", "ntfy", "gotify", "email", "mqtt",
];

impl Settings {
    pub fn kind(&self) -> &'static str {
        match self {
            Settings::Webhook(_) => "webhook",
            Settings::Slack(_) => "slack",
            Settings::Discord(_) => "discord",
            Settings::Ntfy(_) => "ntfy",
            Settings::Gotify(_) => "gotify",
            Settings::Email(_) => "email",
            Settings::Mqtt(_) => "mqtt",
        }
    }

    /// Settings of `kind` from the browser's object, checked.
    pub fn parse(kind: &str, fields: &Value) -> Result<Self, SettingsError> {
        let kind = KINDS
            .iter()
            .find(|k| **k == kind)
            .copied()
            .ok_or_else(|| SettingsError::Kind(kind.to_owned()))?;
        let mut object = match fields {
            Value::Object(map) => map.clone(),
            Value::Null => Map::new(),
            _ => return Err(invalid(kind, "must be an object")),
        };
        // An empty text is no value: the form sends them for fields left blank.
        object.retain(|_, v| !matches!(v, Value::Null) && v.as_str() != Some(""));
        object.insert("kind".into(), Value::String(kind.into()));
        let settings: Settings = serde_json::from_value(Value::Object(object))
            .map_err(|e| invalid(kind, e.to_string()))?;
        settings.check()?;
        Ok(settings)
    }

    /// The secret fields of this kind.
    pub fn secret_fields(kind: &str) -> &'static [&'static str] {
        match kind {
            "webhook" => &["url", "secret"],
            "slack" | "discord" => &["url"],
            "ntfy" | "gotify" => &["token"],
            "email" | "mqtt" => &["password"],
            _ => &[],
        }
    }

    /// The settings as the browser sees them: no secret, and beside them which secrets
    /// are set, with a hint (a URL's scheme and host) where one gives nothing away.
    pub fn masked(&self) -> (Value, Value) {
        let mut all = match serde_json::to_value(self) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        };
        all.remove("kind");
        let mut secrets = Map::new();
        for field in Self::secret_fields(self.kind()) {
            if let Some(Value::String(value)) = all.remove(*field) {
                secrets.insert((*field).to_owned(), Value::String(hint(&value)));
            }
        }
        (Value::Object(all), Value::Object(secrets))
    }

    /// These settings changed by the browser's `changes`: fields given replace, a
    /// non-secret field given as `null` is reset, and a secret left out or `null` is kept.
    pub fn changed(&self, changes: &Value) -> Result<Self, SettingsError> {
        let kind = self.kind();
        let Value::Object(changes) = changes else {
            return Err(invalid(kind, "must be an object"));
        };
        let mut merged = match serde_json::to_value(self) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        };
        let secrets = Self::secret_fields(kind);
        for (field, value) in changes {
            let secret = secrets.contains(&field.as_str());
            match value {
                Value::Null if secret => {}
                Value::String(s) if secret && s.is_empty() => {}
                Value::Null => {
                    merged.remove(field);
                }
                _ => {
                    merged.insert(field.clone(), value.clone());
                }
            }
        }
        merged.remove("kind");
        Self::parse(kind, &Value::Object(merged))
    }

    fn check(&self) -> Result<(), SettingsError> {
        let kind = self.kind();
        let bad = |reason: &str| Err(invalid(kind, reason));
        match self {
            Settings::Webhook(s) => http_url(kind, "url", &s.url),
            Settings::Slack(s) | Settings::Discord(s) => http_url(kind, "url", &s.url),
            Settings::Ntfy(s) => {
                http_url(kind, "server", &s.server)?;
                if s.topic.is_empty() || s.topic.contains('/') {
                    return bad("topic: one path segment, not empty");
                }
                Ok(())
            }
            Settings::Gotify(s) => http_url(kind, "server", &s.server),
            Settings::Email(s) => {
                if s.host.is_empty() || s.port == 0 {
                    return bad("host and port are needed");
                }
                if s.security == SmtpSecurity::None && !loopback(&s.host) {
                    return bad("security \"none\" is allowed only to a server on loopback");
                }
                if s.to.is_empty() {
                    return bad("to: at least one address");
                }
                for address in s.to.iter().chain([&s.from]) {
                    if address.parse::<lettre::Address>().is_err() {
                        return Err(invalid(kind, format!("{address:?} is not an address")));
                    }
                }
                if s.password.is_some() && s.username.is_none() {
                    return bad("a password needs a username");
                }
                if let Some(pem) = &s.ca_pem {
                    use rustls_pki_types::pem::PemObject;
                    let certs = rustls_pki_types::CertificateDer::pem_slice_iter(pem.as_bytes())
                        .collect::<Result<Vec<_>, _>>();
                    if !certs.is_ok_and(|c| !c.is_empty()) {
                        return bad("ca_pem: PEM certificates");
                    }
                }
                Ok(())
            }
            Settings::Mqtt(s) => {
                if s.host.is_empty() || s.port == 0 {
                    return bad("host and port are needed");
                }
                for (field, value) in [
                    ("prefix", &s.prefix),
                    ("discovery_prefix", &s.discovery_prefix),
                ] {
                    if value.is_empty() || value.contains(['#', '+']) {
                        return Err(invalid(
                            kind,
                            format!("{field}: a topic prefix without wildcards"),
                        ));
                    }
                }
                Ok(())
            }
        }
    }
}

fn invalid(kind: &'static str, reason: impl Into<String>) -> SettingsError {
    SettingsError::Invalid {
        kind,
        reason: reason.into(),
    }
}

fn http_url(kind: &'static str, field: &str, value: &str) -> Result<(), SettingsError> {
    match reqwest::Url::parse(value) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host_str().is_some() => Ok(()),
        _ => Err(invalid(kind, format!("{field}: an http or https URL"))),
    }
}

fn loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// What the browser is shown of a secret: a URL's scheme and host, else only that it is
/// set.
fn hint(secret: &str) -> String {
    match reqwest::Url::parse(secret) {
        Ok(url) if url.host_str().is_some() => {
            format!(
                "{}://{}/…",
                url.scheme(),
                url.host_str().unwrap_or_default()
            )
        }
        _ => "set".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_masked_and_kept_when_a_change_leaves_them_out() {
        let settings = Settings::parse(
            "webhook",
            &json!({"url": "https://hooks.example/abc?token=t0ps3cret", "secret": "hmac-key"}),
        )
        .unwrap();
        let (shown, secrets) = settings.masked();
        assert_eq!(shown, json!({}));
        assert_eq!(
            secrets,
            json!({"url": "https://hooks.example/…", "secret": "set"})
        );
        assert!(!secrets.to_string().contains("t0ps3cret"));

        let changed = settings.changed(&json!({"secret": null})).unwrap();
        assert_eq!(changed, settings);
        let changed = settings.changed(&json!({"secret": "new-key"})).unwrap();
        let Settings::Webhook(w) = changed else {
            panic!("a webhook")
        };
        assert_eq!(w.secret.as_deref(), Some("new-key"));
        assert_eq!(w.url, "https://hooks.example/abc?token=t0ps3cret");
    }

    #[test]
    fn bad_settings_say_what_is_wrong() {
        let cases = [
            (
                "webhook",
                json!({"url": "ftp://x"}),
                "url: an http or https URL",
            ),
            ("pager", json!({}), "not a channel kind"),
            (
                "ntfy",
                json!({"server": "https://ntfy.sh", "topic": "a/b"}),
                "topic",
            ),
            (
                "email",
                json!({"host": "mail.example", "port": 25, "security": "none",
                       "from": "a@b.example", "to": ["c@d.example"]}),
                "only to a server on loopback",
            ),
            (
                "email",
                json!({"host": "127.0.0.1", "port": 25, "security": "none",
                       "from": "nobody", "to": ["c@d.example"]}),
                "is not an address",
            ),
            (
                "mqtt",
                json!({"host": "b", "port": 1883, "prefix": "a/#"}),
                "wildcards",
            ),
            (
                "slack",
                json!({"url": "https://x.example", "extra": 1}),
                "unknown field",
            ),
        ];
        for (kind, fields, says) in cases {
            let err = Settings::parse(kind, &fields).unwrap_err().to_string();
            assert!(err.contains(says), "{kind} {fields}: {err}");
        }
    }

    #[test]
    fn mqtt_defaults_are_filled_in() {
        let Settings::Mqtt(m) = Settings::parse(
            "mqtt",
            &json!({"host": "127.0.0.1", "port": 1883, "username": ""}),
        )
        .unwrap() else {
            panic!("mqtt")
        };
        assert_eq!(
            (m.prefix.as_str(), m.discovery, m.discovery_prefix.as_str()),
            ("bosun", true, "homeassistant")
        );
        assert_eq!(m.username, None, "a blank field is no value");
    }
}

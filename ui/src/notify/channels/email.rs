//! Email over SMTP: the title as the subject, the lines as a plain-text body; STARTTLS,
//! TLS from the start, or no TLS to a server on loopback. TLS trusts the system's roots
//! and the channel's own CA certificates.

use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::{SendError, Sent, ATTEMPT_TIMEOUT};
use crate::notify::message::Message;
use crate::notify::settings::{EmailSettings, SmtpSecurity};

/// The email for `message`.
pub fn email(settings: &EmailSettings, message: &Message) -> Result<lettre::Message, SendError> {
    let bad = |e: &dyn std::fmt::Display| SendError::Message(e.to_string());
    let mut builder = lettre::Message::builder()
        .from(settings.from.parse().map_err(|e| bad(&e))?)
        .subject(message.title());
    for to in &settings.to {
        builder = builder.to(to.parse().map_err(|e| bad(&e))?);
    }
    let mut text = message.text();
    text.push_str("\n\n-- \nSent by the Bosun console.\n");
    builder
        .header(ContentType::TEXT_PLAIN)
        .body(text)
        .map_err(|e| bad(&e))
}

pub async fn send(settings: &EmailSettings, message: &Message) -> Result<Sent, SendError> {
    let email = email(settings, message)?;
    let smtp = |e: lettre::transport::smtp::Error| SendError::Smtp(super::error_chain(&e));
    let tls = || {
        let mut tls = TlsParameters::builder(settings.host.clone());
        if let Some(pem) = &settings.ca_pem {
            tls = tls.add_root_certificate(Certificate::from_pem(pem.as_bytes()).map_err(smtp)?);
        }
        tls.build_rustls().map_err(smtp)
    };
    let security = match settings.security {
        SmtpSecurity::Starttls => Tls::Required(tls()?),
        SmtpSecurity::Tls => Tls::Wrapper(tls()?),
        SmtpSecurity::None => Tls::None,
    };
    let mut transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.host)
        .port(settings.port)
        .tls(security)
        .timeout(Some(ATTEMPT_TIMEOUT));
    if let (Some(user), Some(password)) = (&settings.username, &settings.password) {
        transport = transport.credentials(Credentials::new(user.clone(), password.clone()));
    }
    let response = transport.build().send(email).await.map_err(smtp)?;
    let said = response.message().collect::<Vec<_>>().join(" ");
    Ok(format!("SMTP {} {said}", response.code()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::message::tests::notice;
    use crate::watch::notice::NoticeState;

    #[test]
    fn the_email_has_the_title_as_subject_and_the_lines_as_body() {
        let settings = EmailSettings {
            host: "127.0.0.1".into(),
            port: 25,
            security: SmtpSecurity::None,
            username: None,
            password: None,
            from: "bosun@example.org".into(),
            to: vec!["ops@example.org".into(), "oncall@example.org".into()],
            ca_pem: None,
        };
        let message = Message::new(vec![notice(2, 3, NoticeState::Firing)]);
        let raw = String::from_utf8(email(&settings, &message).unwrap().formatted()).unwrap();
        assert!(raw.contains("Subject: [FIRING] rule-3: c2"), "{raw}");
        assert!(
            raw.contains("To: ops@example.org, oncall@example.org"),
            "{raw}"
        );
        assert!(raw.contains("exited with code 1"), "{raw}");
    }
}

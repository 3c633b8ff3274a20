//! Email over SMTP with lettre: TLS always (implicit TLS or required STARTTLS),
//! certificates verified against the system's roots and the channel's own CA if it has
//! one; plain text body with the alert's state, labels, value and runbook.

use super::channel::{ChannelConfig, SmtpTls};
use super::{Notification, slack};
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

fn subject(n: &Notification) -> String {
    let monitor = n.labels.get("monitor").map_or("", String::as_str);
    let model = n.labels.get("model").map_or("", String::as_str);
    format!("[{}] [{}] {monitor} on {model}", n.status.as_str().to_uppercase(), n.severity.as_str())
}

fn body(n: &Notification) -> String {
    // The Slack text reads well as plain text too; the markup stars are dropped.
    let mut text = slack::text(n).replace(['*', '`'], "");
    if let Some(v) = n.value {
        text.push_str(&format!("\nvalue: {v}"));
    }
    text.push_str(&format!("\nfingerprint: {}\nnotification: {}\n", n.fingerprint, n.id));
    text
}

pub async fn send(config: &ChannelConfig, n: &Notification) -> Result<(), String> {
    let ChannelConfig::Email { host, port, tls, username, password, from, to, ca_pem } = config else {
        return Err("not an email channel".into());
    };
    let mut message = Message::builder()
        .from(from.parse().map_err(|e| format!("from: {e}"))?)
        .subject(subject(n))
        .header(ContentType::TEXT_PLAIN);
    for address in to {
        message = message.to(address.parse().map_err(|e| format!("to {address}: {e}"))?);
    }
    let message = message.body(body(n)).map_err(|e| e.to_string())?;
    let mut params = TlsParameters::builder(host.clone());
    if let Some(pem) = ca_pem {
        params = params.add_root_certificate(Certificate::from_pem(pem.as_bytes()).map_err(|e| e.to_string())?);
    }
    let params = params.build().map_err(|e| e.to_string())?;
    let mode = match tls {
        SmtpTls::Tls => Tls::Wrapper(params),
        SmtpTls::StartTls => Tls::Required(params),
    };
    // `builder_dangerous` only means "no TLS unless told"; the mode set here requires
    // TLS with verified certificates.
    let mut transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.as_str()).port(*port).tls(mode);
    if let (Some(u), Some(p)) = (username, password) {
        transport = transport.credentials(Credentials::new(u.clone(), p.clone()));
    }
    transport.build().send(message).await.map(drop).map_err(|e| e.to_string())
}

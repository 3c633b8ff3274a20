//! Channel configurations: what each kind needs, its validation (errors name the field),
//! sealing at rest, and the masked form the API shows instead of secrets.

use crate::error::FieldError;
use serde_json::{Value, json};
use sightline_store::KeyRing;

/// Longest URL, secret or address accepted.
const MAX_LEN: usize = 2_048;
/// Shortest webhook signing secret: an HMAC key shorter than this is guessable.
const MIN_SECRET_LEN: usize = 16;
/// Most email recipients of one channel.
const MAX_RECIPIENTS: usize = 50;

/// How an SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// TLS from the first byte (port 465).
    Tls,
    /// STARTTLS, required (port 587).
    StartTls,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ChannelConfig {
    /// A JSON POST signed with HMAC-SHA256 over the timestamp and body.
    Webhook { url: String, secret: String },
    /// A Slack (or compatible: Mattermost, Rocket.Chat) incoming webhook.
    Slack { url: String },
    /// Alertmanager's v2 API at this base URL.
    Alertmanager { url: String },
    Email {
        host: String,
        port: u16,
        tls: SmtpTls,
        username: Option<String>,
        password: Option<String>,
        from: String,
        to: Vec<String>,
        /// A PEM CA certificate trusted besides the system's roots (a private CA).
        ca_pem: Option<String>,
    },
}

pub const KINDS: [&str; 4] = ["webhook", "slack", "alertmanager", "email"];

fn field(path: &str, message: impl Into<String>) -> FieldError {
    FieldError { path: format!("$.config.{path}"), message: message.into() }
}

fn string(config: &Value, name: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    match config.get(name) {
        Some(Value::String(s)) if s.len() <= MAX_LEN => Some(s.clone()),
        Some(Value::String(_)) => {
            errors.push(field(name, format!("must be at most {MAX_LEN} characters")));
            None
        }
        Some(_) => {
            errors.push(field(name, "must be a string"));
            None
        }
        None => {
            errors.push(field(name, "required"));
            None
        }
    }
}

fn optional_string(config: &Value, name: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    config.get(name).filter(|v| !v.is_null()).and_then(|_| string(config, name, errors))
}

/// An http(s) URL with a host; credentials or fragments in it are refused since they
/// would be sent somewhere or logged in ways nobody expects.
fn url(config: &Value, name: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    let text = string(config, name, errors)?;
    match reqwest::Url::parse(&text) {
        Ok(u) if !matches!(u.scheme(), "http" | "https") => {
            errors.push(field(name, "must be an http:// or https:// URL"));
            None
        }
        Ok(u) if u.host_str().is_none_or(str::is_empty) => {
            errors.push(field(name, "must name a host"));
            None
        }
        Ok(u) if !u.username().is_empty() || u.password().is_some() => {
            errors.push(field(name, "must not carry a user name or password"));
            None
        }
        Ok(_) => Some(text),
        Err(e) => {
            errors.push(field(name, format!("not a URL: {e}")));
            None
        }
    }
}

fn email_address(text: &str) -> bool {
    // A light check; the SMTP server has the last word. One '@', text on both sides,
    // no spaces or header-breaking characters.
    let ok_chars = !text.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';'));
    matches!(text.split_once('@'), Some((local, domain)) if !local.is_empty() && domain.contains('.') && !domain.contains('@'))
        && ok_chars
}

impl ChannelConfig {
    /// Reads and checks the `config` object of a channel of `kind`.
    pub fn parse(kind: &str, config: &Value) -> Result<ChannelConfig, Vec<FieldError>> {
        let mut errors = Vec::new();
        let Some(obj) = config.as_object() else {
            return Err(vec![FieldError { path: "$.config".into(), message: "must be an object".into() }]);
        };
        let allowed: &[&str] = match kind {
            "webhook" => &["url", "secret"],
            "slack" | "alertmanager" => &["url"],
            "email" => &["host", "port", "tls", "username", "password", "from", "to", "ca_pem"],
            _ => &[],
        };
        for key in obj.keys() {
            if !allowed.contains(&key.as_str()) {
                errors.push(field(key, format!("unknown field for a {kind} channel")));
            }
        }
        let parsed = match kind {
            "webhook" => {
                let url = url(config, "url", &mut errors);
                let secret = string(config, "secret", &mut errors);
                if secret.as_ref().is_some_and(|s| s.len() < MIN_SECRET_LEN) {
                    errors.push(field("secret", format!("must be at least {MIN_SECRET_LEN} characters")));
                }
                url.zip(secret).map(|(url, secret)| ChannelConfig::Webhook { url, secret })
            }
            "slack" => url(config, "url", &mut errors).map(|url| ChannelConfig::Slack { url }),
            "alertmanager" => url(config, "url", &mut errors).map(|url| ChannelConfig::Alertmanager { url }),
            "email" => Self::parse_email(config, &mut errors),
            other => {
                return Err(vec![FieldError {
                    path: "$.kind".into(),
                    message: format!("{other:?} is not one of {}", KINDS.join(", ")),
                }]);
            }
        };
        match parsed {
            Some(c) if errors.is_empty() => Ok(c),
            _ => Err(errors),
        }
    }

    fn parse_email(config: &Value, errors: &mut Vec<FieldError>) -> Option<ChannelConfig> {
        let host = string(config, "host", errors);
        if host.as_ref().is_some_and(|h| h.is_empty() || h.contains(|c: char| c.is_whitespace() || c == '/')) {
            errors.push(field("host", "must be a host name or address"));
        }
        let tls = match config.get("tls").and_then(Value::as_str).unwrap_or("starttls") {
            "starttls" => Some(SmtpTls::StartTls),
            "tls" => Some(SmtpTls::Tls),
            other => {
                errors.push(field("tls", format!("{other:?} is not one of starttls, tls (plain SMTP is refused)")));
                None
            }
        };
        let default_port = if tls == Some(SmtpTls::Tls) { 465 } else { 587 };
        let port = match config.get("port") {
            None | Some(Value::Null) => Some(default_port),
            Some(v) => match v.as_u64().and_then(|p| u16::try_from(p).ok()).filter(|p| *p > 0) {
                Some(p) => Some(p),
                None => {
                    errors.push(field("port", "must be a port number between 1 and 65535"));
                    None
                }
            },
        };
        let username = optional_string(config, "username", errors);
        let password = optional_string(config, "password", errors);
        if username.is_some() != password.is_some() {
            errors.push(field("password", "username and password go together"));
        }
        let from = string(config, "from", errors);
        if from.as_deref().is_some_and(|f| !email_address(f)) {
            errors.push(field("from", "must be an email address"));
        }
        let to: Option<Vec<String>> = match config.get("to") {
            Some(Value::Array(items)) if !items.is_empty() && items.len() <= MAX_RECIPIENTS => {
                let mut out = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    match item.as_str() {
                        Some(a) if email_address(a) && a.len() <= MAX_LEN => out.push(a.to_owned()),
                        _ => errors.push(field(&format!("to[{i}]"), "must be an email address")),
                    }
                }
                Some(out)
            }
            _ => {
                errors.push(field("to", format!("must be a list of 1 to {MAX_RECIPIENTS} email addresses")));
                None
            }
        };
        let ca_pem = match config.get("ca_pem") {
            None | Some(Value::Null) => None,
            Some(Value::String(pem)) if pem.contains("-----BEGIN CERTIFICATE-----") && pem.len() <= 64 * 1024 => {
                Some(pem.clone())
            }
            Some(_) => {
                errors.push(field("ca_pem", "must be a PEM certificate"));
                None
            }
        };
        Some(ChannelConfig::Email {
            host: host?,
            port: port?,
            tls: tls?,
            username,
            password,
            from: from?,
            to: to?,
            ca_pem,
        })
    }

    /// The configuration as stored (before sealing) and as [`ChannelConfig::parse`] reads it.
    /// The kind's name, as the API spells it.
    pub fn kind(&self) -> &'static str {
        match self {
            ChannelConfig::Webhook { .. } => "webhook",
            ChannelConfig::Slack { .. } => "slack",
            ChannelConfig::Alertmanager { .. } => "alertmanager",
            ChannelConfig::Email { .. } => "email",
        }
    }

    pub fn to_json(&self) -> Value {
        match self {
            ChannelConfig::Webhook { url, secret } => json!({ "url": url, "secret": secret }),
            ChannelConfig::Slack { url } | ChannelConfig::Alertmanager { url } => json!({ "url": url }),
            ChannelConfig::Email { host, port, tls, username, password, from, to, ca_pem } => json!({
                "host": host, "port": port,
                "tls": match tls { SmtpTls::Tls => "tls", SmtpTls::StartTls => "starttls" },
                "username": username, "password": password, "from": from, "to": to, "ca_pem": ca_pem,
            }),
        }
    }

    /// What the API shows: secrets replaced, URLs cut to scheme and host (a Slack or
    /// webhook URL's path often is the secret), email addresses kept.
    pub fn masked(&self) -> Value {
        let hidden = "********";
        match self {
            ChannelConfig::Webhook { url, .. } => json!({ "url": mask_url(url), "secret": hidden }),
            ChannelConfig::Slack { url } => json!({ "url": mask_url(url) }),
            ChannelConfig::Alertmanager { url } => json!({ "url": mask_url(url) }),
            ChannelConfig::Email { host, port, tls, username, password, from, to, ca_pem } => json!({
                "host": host, "port": port,
                "tls": match tls { SmtpTls::Tls => "tls", SmtpTls::StartTls => "starttls" },
                "username": username, "password": password.as_ref().map(|_| hidden), "from": from, "to": to,
                "ca_pem": ca_pem.is_some(),
            }),
        }
    }

    /// The associated data a channel's sealed configuration is bound to, so a sealed
    /// blob moved to another channel row does not open.
    pub fn aad(project_id: i64, name: &str) -> Vec<u8> {
        format!("channel:{project_id}:{name}").into_bytes()
    }

    pub fn seal(&self, ring: &KeyRing, project_id: i64, name: &str) -> Result<Vec<u8>, String> {
        let plain = self.to_json().to_string();
        ring.seal(plain.as_bytes(), &Self::aad(project_id, name)).map_err(|e| e.to_string())
    }

    pub fn open(ring: &KeyRing, kind: &str, project_id: i64, name: &str, sealed: &[u8]) -> Result<Self, String> {
        let plain = ring.open(sealed, &Self::aad(project_id, name)).map_err(|e| e.to_string())?;
        let value: Value = serde_json::from_slice(&plain).map_err(|e| e.to_string())?;
        ChannelConfig::parse(kind, &value).map_err(|errors| {
            errors.into_iter().map(|e| format!("{}: {}", e.path, e.message)).collect::<Vec<_>>().join("; ")
        })
    }
}

/// `https://hooks.slack.com/services/T0/B0/sEcReT` → `https://hooks.slack.com/…`.
fn mask_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => {
            let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
            format!("{}://{}{port}/…", u.scheme(), u.host_str().unwrap_or(""))
        }
        Err(_) => "…".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(kind: &str, config: Value) -> Vec<String> {
        ChannelConfig::parse(kind, &config).expect_err("invalid").into_iter().map(|e| e.path).collect()
    }

    #[test]
    fn bad_configurations_name_the_field() {
        assert_eq!(paths("webhook", json!({ "url": "ftp://x/y", "secret": "0123456789abcdef" })), ["$.config.url"]);
        assert_eq!(paths("webhook", json!({ "url": "not a url", "secret": "0123456789abcdef" })), ["$.config.url"]);
        assert_eq!(paths("webhook", json!({ "url": "https://h/x", "secret": "short" })), ["$.config.secret"]);
        assert_eq!(paths("slack", json!({ "url": "https://u:p@h/x" })), ["$.config.url"]);
        assert_eq!(paths("alertmanager", json!({ "url": "http://h", "extra": 1 })), ["$.config.extra"]);
        assert_eq!(paths("pager", json!({})), ["$.kind"]);
        let email =
            paths("email", json!({ "host": "smtp.example", "port": 70000, "tls": "none", "from": "x", "to": [] }));
        for p in ["$.config.port", "$.config.tls", "$.config.from", "$.config.to"] {
            assert!(email.contains(&p.to_owned()), "{p} missing from {email:?}");
        }
    }

    #[test]
    fn masked_forms_hide_secrets_and_url_paths() {
        let c = ChannelConfig::parse(
            "webhook",
            &json!({ "url": "https://hooks.example:8443/T0/B0/sEcReT", "secret": "0123456789abcdef-secret" }),
        )
        .expect("valid");
        let shown = c.masked().to_string();
        assert!(!shown.contains("sEcReT") && !shown.contains("0123456789abcdef"), "{shown}");
        assert!(shown.contains("https://hooks.example:8443/…"), "{shown}");
        let e = ChannelConfig::parse(
            "email",
            &json!({ "host": "smtp.example", "username": "u", "password": "p4ss", "from": "a@b.example", "to": ["c@d.example"] }),
        )
        .expect("valid");
        assert!(!e.masked().to_string().contains("p4ss"));
        assert_eq!(ChannelConfig::parse("email", &e.to_json()), Ok(e));
    }
}

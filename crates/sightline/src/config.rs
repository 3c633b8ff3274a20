//! `sightline serve` configuration: flags, then `SIGHTLINE_*` environment variables,
//! then an optional TOML file, then defaults — in that order of precedence. Unknown
//! keys in the file are an error, so a typo never silently falls back to a default.

use crate::logging::LogFormat;
use anyhow::Context;
use serde::Deserialize;
use sightline_server::{ServerConfig, TlsFiles};
use sightline_store::Synchronous;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncMode {
    Full,
    Normal,
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// TOML configuration file (keys as the long flags, with underscores).
    #[arg(long, env = "SIGHTLINE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:7878].
    #[arg(long, env = "SIGHTLINE_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Directory for the database [default: ./sightline-data].
    #[arg(long, env = "SIGHTLINE_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Log format [default: pretty].
    #[arg(long, env = "SIGHTLINE_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Log filter, e.g. `info` or `sightline_server=debug,info` [default: info].
    #[arg(long, env = "SIGHTLINE_LOG_LEVEL")]
    pub log_level: Option<String>,
    /// SQLite durability: `full` fsyncs every commit (an acknowledged event survives
    /// power loss); `normal` survives process crashes only [default: full].
    #[arg(long, env = "SIGHTLINE_SYNCHRONOUS", value_enum)]
    pub synchronous: Option<SyncMode>,
    /// Predictions kept in memory after their commit so the aggregator folds them
    /// without reading them back; 0 turns this off [default: 100000].
    #[arg(long, env = "SIGHTLINE_AGGREGATOR_TAIL_EVENTS")]
    pub aggregator_tail_events: Option<usize>,
    /// Most events or labels in one request [default: 10000].
    #[arg(long, env = "SIGHTLINE_MAX_BATCH_EVENTS")]
    pub max_batch_events: Option<usize>,
    /// Most bytes in one request body, after decompression [default: 33554432].
    #[arg(long, env = "SIGHTLINE_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Most validated events waiting for the writer before requests get 429 [default: 200000].
    #[arg(long, env = "SIGHTLINE_QUEUE_CAPACITY_EVENTS")]
    pub queue_capacity_events: Option<usize>,
    /// Most (model, version) series in /metrics [default: 1000].
    #[arg(long, env = "SIGHTLINE_METRICS_MAX_SERIES")]
    pub metrics_max_series: Option<usize>,
    /// Seconds in-flight requests may take to finish after SIGINT/SIGTERM [default: 30].
    #[arg(long, env = "SIGHTLINE_SHUTDOWN_GRACE_SECONDS")]
    pub shutdown_grace_seconds: Option<u64>,
    /// PEM file with the server certificate (then any intermediates); serves HTTPS
    /// (TLS 1.2 and 1.3) together with --tls-key.
    #[arg(long, env = "SIGHTLINE_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// PEM file with the certificate's private key (unencrypted PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "SIGHTLINE_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// Allow plain HTTP on a non-loopback address (without TLS the server otherwise
    /// refuses to start there) [default: false].
    #[arg(
        long,
        env = "SIGHTLINE_INSECURE_HTTP",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub insecure_http: Option<bool>,
    /// Master key file for encryption at rest: `<key id> <base64 32-byte key>` per line,
    /// the last key encrypts; readable by its owner only [default: <data dir>/master.key,
    /// created on first start].
    #[arg(long, env = "SIGHTLINE_MASTER_KEY_FILE")]
    pub master_key_file: Option<PathBuf>,
    /// Minutes without a request after which a browser session ends [default: 30].
    #[arg(long, env = "SIGHTLINE_SESSION_IDLE_MINUTES")]
    pub session_idle_minutes: Option<u64>,
    /// Hours after login at which a browser session ends however active [default: 12].
    #[arg(long, env = "SIGHTLINE_SESSION_ABSOLUTE_HOURS")]
    pub session_absolute_hours: Option<u64>,
    /// Minutes of trailing traffic the drift gauges on /metrics (and drift queries
    /// without `from`) describe [default: 60].
    #[arg(long, env = "SIGHTLINE_DRIFT_WINDOW_MINUTES")]
    pub drift_window_minutes: Option<u64>,
    /// Hours minute-level profiles are kept before only hours remain [default: 48].
    #[arg(long, env = "SIGHTLINE_MINUTE_PROFILE_RETENTION_HOURS")]
    pub minute_profile_retention_hours: Option<u64>,
    /// Days hour-level profiles are kept before only days remain [default: 90].
    #[arg(long, env = "SIGHTLINE_HOUR_PROFILE_RETENTION_DAYS")]
    pub hour_profile_retention_days: Option<u64>,
    /// Days day-level profiles are kept; 0 keeps them forever [default: 0].
    #[arg(long, env = "SIGHTLINE_DAY_PROFILE_RETENTION_DAYS")]
    pub day_profile_retention_days: Option<u64>,
    /// Monitors file (TOML, see docs/operations.md) loaded at start; its monitors are
    /// read-only through the API.
    #[arg(long, env = "SIGHTLINE_MONITORS_FILE")]
    pub monitors_file: Option<PathBuf>,
    /// Firing alerts at or above this severity open an incident: info, low, medium,
    /// high, critical, or `none` [default: high].
    #[arg(long, env = "SIGHTLINE_INCIDENT_MIN_SEVERITY")]
    pub incident_min_severity: Option<String>,
    /// Seconds between repeats of a firing alert to Alertmanager [default: 60].
    #[arg(long, env = "SIGHTLINE_ALERTMANAGER_RESEND_SECONDS")]
    pub alertmanager_resend_seconds: Option<u64>,
    /// The address users and pipelines reach this server at, e.g.
    /// `https://sightline.example.com` behind a proxy; links the server sends out (a
    /// retraining trigger's export link) start with it [default: none, links are paths].
    #[arg(long, env = "SIGHTLINE_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Create a demo credit-risk model and keep sending it live traffic; prints how to
    /// sign in to the web UI. Plain HTTP only.
    #[arg(long)]
    pub demo: bool,
    /// Prediction events per second the demo sends [default: 20].
    #[arg(long, requires = "demo")]
    pub demo_rate: Option<f64>,
}

/// The environment variable that may carry the bootstrap admin token. It is read from
/// the environment only: a flag would show the secret in the process list, a file key
/// would keep it on disk.
pub const BOOTSTRAP_TOKEN_VAR: &str = "SIGHTLINE_BOOTSTRAP_TOKEN";

/// The configuration file. Every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub log_format: Option<LogFormat>,
    pub log_level: Option<String>,
    pub synchronous: Option<SyncMode>,
    pub aggregator_tail_events: Option<usize>,
    pub max_batch_events: Option<usize>,
    pub max_body_bytes: Option<usize>,
    pub queue_capacity_events: Option<usize>,
    pub metrics_max_series: Option<usize>,
    pub shutdown_grace_seconds: Option<u64>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub insecure_http: Option<bool>,
    pub master_key_file: Option<PathBuf>,
    pub session_idle_minutes: Option<u64>,
    pub session_absolute_hours: Option<u64>,
    pub drift_window_minutes: Option<u64>,
    pub minute_profile_retention_hours: Option<u64>,
    pub hour_profile_retention_days: Option<u64>,
    pub day_profile_retention_days: Option<u64>,
    pub monitors_file: Option<PathBuf>,
    pub incident_min_severity: Option<String>,
    pub alertmanager_resend_seconds: Option<u64>,
    pub public_url: Option<String>,
}

pub struct Settings {
    pub server: ServerConfig,
    pub demo: Option<sightline_server::demo::DemoConfig>,
    pub log_format: LogFormat,
    pub log_level: String,
}

fn positive_u64(name: &str, value: Option<u64>, default: u64) -> anyhow::Result<u64> {
    let v = value.unwrap_or(default);
    anyhow::ensure!(v > 0, "{name} must be greater than 0");
    Ok(v)
}

/// The analysis flags, taken out of `ServeArgs` before its other fields move.
struct AnalysisArgs {
    drift_window_minutes: Option<u64>,
    minute_profile_retention_hours: Option<u64>,
    hour_profile_retention_days: Option<u64>,
    day_profile_retention_days: Option<u64>,
}

fn analysis(args: &AnalysisArgs, file: &FileConfig) -> anyhow::Result<sightline_server::state::AnalysisConfig> {
    use sightline_store::Resolution;
    use std::time::Duration;
    let d = sightline_server::state::AnalysisConfig::default();
    let minutes = positive_u64("drift_window_minutes", args.drift_window_minutes.or(file.drift_window_minutes), 60)?;
    let minute_hours = positive_u64(
        "minute_profile_retention_hours",
        args.minute_profile_retention_hours.or(file.minute_profile_retention_hours),
        48,
    )?;
    let hour_days = positive_u64(
        "hour_profile_retention_days",
        args.hour_profile_retention_days.or(file.hour_profile_retention_days),
        90,
    )?;
    let day_days = args.day_profile_retention_days.or(file.day_profile_retention_days).unwrap_or(0);
    anyhow::ensure!(
        minute_hours <= hour_days * 24,
        "minute_profile_retention_hours must not exceed hour_profile_retention_days (in hours)"
    );
    anyhow::ensure!(
        day_days == 0 || hour_days <= day_days,
        "hour_profile_retention_days must not exceed day_profile_retention_days"
    );
    Ok(sightline_server::state::AnalysisConfig {
        aggregator: sightline_server::aggregate::AggregatorConfig {
            retention: [
                (Resolution::Minute, Some(Duration::from_secs(3_600 * minute_hours))),
                (Resolution::Hour, Some(Duration::from_secs(86_400 * hour_days))),
                (Resolution::Day, (day_days > 0).then(|| Duration::from_secs(86_400 * day_days))),
            ],
            ..d.aggregator
        },
        drift_window: Duration::from_secs(60 * minutes),
        ..d
    })
}

pub fn resolve(args: ServeArgs) -> anyhow::Result<Settings> {
    let args_analysis = AnalysisArgs {
        drift_window_minutes: args.drift_window_minutes,
        minute_profile_retention_hours: args.minute_profile_retention_hours,
        hour_profile_retention_days: args.hour_profile_retention_days,
        day_profile_retention_days: args.day_profile_retention_days,
    };
    let file = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            toml::from_str::<FileConfig>(&text).with_context(|| format!("in configuration file {}", path.display()))?
        }
        None => FileConfig::default(),
    };
    let analysis = analysis(&args_analysis, &file)?;
    let d = ServerConfig::default();
    let positive = |name: &str, v: usize| -> anyhow::Result<usize> {
        anyhow::ensure!(v > 0, "{name} must be greater than 0");
        Ok(v)
    };
    let tls = match (args.tls_cert.or(file.tls_cert), args.tls_key.or(file.tls_key)) {
        (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
        (None, None) => None,
        (Some(_), None) => anyhow::bail!("tls_cert is set but tls_key is not; TLS needs both"),
        (None, Some(_)) => anyhow::bail!("tls_key is set but tls_cert is not; TLS needs both"),
    };
    let server = ServerConfig {
        // The demo creates its administrator right after start: no warning that none exists.
        admin_arriving: args.demo,
        listen: args.listen.or(file.listen).unwrap_or(d.listen),
        data_dir: args.data_dir.or(file.data_dir).unwrap_or(d.data_dir),
        synchronous: match args.synchronous.or(file.synchronous) {
            Some(SyncMode::Normal) => Synchronous::Normal,
            Some(SyncMode::Full) | None => Synchronous::Full,
        },
        aggregator_tail_events: args
            .aggregator_tail_events
            .or(file.aggregator_tail_events)
            .unwrap_or(d.aggregator_tail_events),
        max_batch_events: positive(
            "max_batch_events",
            args.max_batch_events.or(file.max_batch_events).unwrap_or(d.max_batch_events),
        )?,
        max_body_bytes: positive(
            "max_body_bytes",
            args.max_body_bytes.or(file.max_body_bytes).unwrap_or(d.max_body_bytes),
        )?,
        queue_capacity_events: positive(
            "queue_capacity_events",
            args.queue_capacity_events.or(file.queue_capacity_events).unwrap_or(d.queue_capacity_events),
        )?,
        metrics_max_series: positive(
            "metrics_max_series",
            args.metrics_max_series.or(file.metrics_max_series).unwrap_or(d.metrics_max_series),
        )?,
        shutdown_grace: args
            .shutdown_grace_seconds
            .or(file.shutdown_grace_seconds)
            .map_or(d.shutdown_grace, std::time::Duration::from_secs),
        tls,
        insecure_http: args.insecure_http.or(file.insecure_http).unwrap_or(d.insecure_http),
        tls_handshake_timeout: d.tls_handshake_timeout,
        master_key_file: args.master_key_file.or(file.master_key_file),
        bootstrap_token: std::env::var(BOOTSTRAP_TOKEN_VAR).ok().filter(|t| !t.is_empty()),
        sessions: sightline_server::auth::session::SessionSettings {
            idle: std::time::Duration::from_secs(
                60 * positive_u64(
                    "session_idle_minutes",
                    args.session_idle_minutes.or(file.session_idle_minutes),
                    d.sessions.idle.as_secs() / 60,
                )?,
            ),
            absolute: std::time::Duration::from_secs(
                3600 * positive_u64(
                    "session_absolute_hours",
                    args.session_absolute_hours.or(file.session_absolute_hours),
                    d.sessions.absolute.as_secs() / 3600,
                )?,
            ),
        },
        login_limits: d.login_limits,
        analysis,
        alerting: sightline_server::alerting::AlertingSettings {
            monitors_file: args.monitors_file.or(file.monitors_file),
            incident_min_severity: match args.incident_min_severity.or(file.incident_min_severity).as_deref() {
                None => d.alerting.incident_min_severity,
                Some("none") => None,
                Some(s) => Some(sightline_core::alerting::Severity::parse(s).with_context(|| {
                    format!("incident_min_severity: {s:?} is not one of info, low, medium, high, critical, none")
                })?),
            },
            alertmanager_resend: std::time::Duration::from_secs(positive_u64(
                "alertmanager_resend_seconds",
                args.alertmanager_resend_seconds.or(file.alertmanager_resend_seconds),
                d.alerting.alertmanager_resend.as_secs(),
            )?),
            ..d.alerting.clone()
        },
        public_url: match args.public_url.or(file.public_url).filter(|u| !u.is_empty()) {
            Some(url) => {
                Some(sightline_server::check_public_url(&url).map_err(|e| anyhow::anyhow!("public_url: {e}"))?)
            }
            None => None,
        },
    };
    let demo = if args.demo {
        anyhow::ensure!(server.tls.is_none(), "--demo sends its traffic over plain HTTP; start it without TLS");
        let d = sightline_server::demo::DemoConfig::default();
        let rate = args.demo_rate.unwrap_or(d.rate);
        anyhow::ensure!(rate.is_finite() && rate > 0.0 && rate <= 10_000.0, "demo_rate must be in (0, 10000]");
        Some(sightline_server::demo::DemoConfig { rate, ..d })
    } else {
        None
    };
    Ok(Settings {
        server,
        demo,
        log_format: args.log_format.or(file.log_format).unwrap_or(LogFormat::Pretty),
        log_level: args.log_level.or(file.log_level).unwrap_or_else(|| "info".into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrap {
        #[command(flatten)]
        args: ServeArgs,
    }

    fn args(flags: &[&str]) -> ServeArgs {
        let mut argv = vec!["serve"];
        argv.extend_from_slice(flags);
        Wrap::parse_from(argv).args
    }

    #[test]
    fn flags_beat_file_beats_defaults() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:9000\"\nmax_batch_events = 50\nsynchronous = \"normal\"\naggregator_tail_events = 0\n",
        )
        .expect("write");
        let p = path.to_str().expect("utf-8");
        let s = resolve(args(&["--config", p, "--max-batch-events", "7"])).expect("resolve");
        assert_eq!(s.server.max_batch_events, 7);
        assert_eq!(s.server.aggregator_tail_events, 0);
        let defaults = resolve(args(&[])).expect("resolve");
        assert_eq!(defaults.server.aggregator_tail_events, 100_000);
        assert_eq!(s.server.listen, "127.0.0.1:9000".parse().expect("addr"));
        assert_eq!(s.server.synchronous, Synchronous::Normal);
        assert_eq!(s.server.data_dir, PathBuf::from("sightline-data"));
    }

    #[test]
    fn tls_and_insecure_http_come_from_flags_or_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.toml");
        std::fs::write(&path, "tls_cert = \"c.pem\"\ntls_key = \"k.pem\"\ninsecure_http = true\n").expect("write");
        let p = path.to_str().expect("utf-8");
        let s = resolve(args(&["--config", p])).expect("resolve");
        assert_eq!(s.server.tls, Some(TlsFiles { cert: "c.pem".into(), key: "k.pem".into() }));
        assert!(s.server.insecure_http);
        let s = resolve(args(&["--config", p, "--tls-key", "other.pem", "--insecure-http=false"])).expect("resolve");
        assert_eq!(s.server.tls, Some(TlsFiles { cert: "c.pem".into(), key: "other.pem".into() }));
        assert!(!s.server.insecure_http);
        let s = resolve(args(&["--insecure-http"])).expect("resolve");
        assert!(s.server.insecure_http);
        assert_eq!(s.server.tls, None);
        assert!(!resolve(args(&[])).expect("resolve").server.insecure_http);
    }

    #[test]
    fn the_public_url_is_checked_and_loses_its_trailing_slash() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.toml");
        std::fs::write(&path, "public_url = \"https://sightline.example.com/ml/\"\n").expect("write");
        let s = resolve(args(&["--config", path.to_str().expect("utf-8")])).expect("resolve");
        assert_eq!(s.server.public_url.as_deref(), Some("https://sightline.example.com/ml"));
        let s = resolve(args(&["--public-url", "http://10.0.0.5:7878"])).expect("resolve");
        assert_eq!(s.server.public_url.as_deref(), Some("http://10.0.0.5:7878"));
        assert_eq!(resolve(args(&[])).expect("resolve").server.public_url, None);
        for (bad, why) in [
            ("sightline.example.com", "not an absolute URL"),
            ("ftp://sightline.example.com", "http:// or https://"),
            ("https://user:pw@sightline.example.com", "credentials"),
            ("https://sightline.example.com/?a=1", "query"),
        ] {
            let e = resolve(args(&["--public-url", bad])).err().expect("refused");
            let text = format!("{e:#}");
            assert!(text.contains("public_url") && text.contains(why), "{bad}: {text}");
        }
    }

    #[test]
    fn a_certificate_without_a_key_is_an_error() {
        let err = resolve(args(&["--tls-cert", "c.pem"])).err().expect("error");
        assert!(format!("{err:#}").contains("tls_key is not"), "{err:#}");
        let err = resolve(args(&["--tls-key", "k.pem"])).err().expect("error");
        assert!(format!("{err:#}").contains("tls_cert is not"), "{err:#}");
    }

    #[test]
    fn master_key_file_from_flag_or_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.toml");
        std::fs::write(&path, "master_key_file = \"/etc/sightline/keys\"\n").expect("write");
        let p = path.to_str().expect("utf-8");
        let s = resolve(args(&["--config", p])).expect("resolve");
        assert_eq!(s.server.master_key_file, Some(PathBuf::from("/etc/sightline/keys")));
        let s = resolve(args(&["--config", p, "--master-key-file", "/run/k"])).expect("resolve");
        assert_eq!(s.server.master_key_file, Some(PathBuf::from("/run/k")));
        assert_eq!(resolve(args(&[])).expect("resolve").server.master_key_file, None);
    }

    #[test]
    fn alerting_settings_from_flags_or_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "monitors_file = \"/etc/sightline/monitors.toml\"\nincident_min_severity = \"none\"\n")
            .expect("write");
        let s = resolve(args(&["--config", path.to_str().expect("utf-8")])).expect("resolve");
        assert_eq!(s.server.alerting.monitors_file, Some(PathBuf::from("/etc/sightline/monitors.toml")));
        assert_eq!(s.server.alerting.incident_min_severity, None);
        let s = resolve(args(&["--incident-min-severity", "critical", "--alertmanager-resend-seconds", "5"]))
            .expect("resolve");
        assert_eq!(s.server.alerting.incident_min_severity, Some(sightline_core::alerting::Severity::Critical));
        assert_eq!(s.server.alerting.alertmanager_resend, std::time::Duration::from_secs(5));
        assert!(resolve(args(&["--incident-min-severity", "urgent"])).is_err());
        assert!(resolve(args(&["--alertmanager-resend-seconds", "0"])).is_err());
    }

    #[test]
    fn unknown_file_keys_are_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.toml");
        std::fs::write(&path, "lissten = \"127.0.0.1:9000\"\n").expect("write");
        let err = resolve(args(&["--config", path.to_str().expect("utf-8")])).err().expect("error");
        assert!(format!("{err:#}").contains("lissten"), "{err:#}");
    }

    #[test]
    fn the_demo_flags() {
        assert!(resolve(args(&[])).expect("resolve").demo.is_none());
        let settings = resolve(args(&["--demo"])).expect("resolve");
        assert!(settings.server.admin_arriving);
        assert!(!resolve(args(&[])).expect("resolve").server.admin_arriving);
        let demo = settings.demo.expect("a demo");
        assert_eq!(demo.rate, 20.0);
        let demo = resolve(args(&["--demo", "--demo-rate", "2.5"])).expect("resolve").demo.expect("a demo");
        assert_eq!(demo.rate, 2.5);
        for bad in ["0", "-1", "NaN", "inf"] {
            let flag = format!("--demo-rate={bad}");
            let err = resolve(args(&["--demo", &flag])).err().expect("refused");
            assert!(format!("{err:#}").contains("demo_rate"), "{err:#}");
        }
        assert!(Wrap::try_parse_from(["serve", "--demo-rate", "5"]).is_err(), "--demo-rate needs --demo");
    }
}

//! The service configuration: one TOML file, unknown keys rejected with the
//! key and file named, `LEADSCORE_*` environment overrides, and a `[kafka]`
//! table passed through to librdkafka as-is.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;

use crate::codec::Format;
use crate::event::EventType;

/// Why a configuration was refused.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Invalid { path: String, message: String },
}

/// One inbound or outbound topic.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TopicConfig {
    pub name: String,
    #[serde(default = "json")]
    pub format: Format,
}

fn json() -> Format {
    Format::Json
}

fn topic(name: &str) -> TopicConfig {
    TopicConfig {
        name: name.to_string(),
        format: Format::Json,
    }
}

/// Topic names and formats. `form` and `profile` are optional inputs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicsConfig {
    #[serde(default = "d_page_view")]
    pub page_view: TopicConfig,
    #[serde(default = "d_pricing")]
    pub pricing_page: TopicConfig,
    #[serde(default = "d_download")]
    pub download: TopicConfig,
    #[serde(default = "d_webinar")]
    pub webinar: TopicConfig,
    /// Optional input; on by default (`events.form`), `form = false` turns it off.
    #[serde(default = "d_form", deserialize_with = "optional_topic")]
    pub form: Option<TopicConfig>,
    /// Optional input; on by default (`events.profile`), `profile = false` turns it off.
    #[serde(default = "d_profile", deserialize_with = "optional_topic")]
    pub profile: Option<TopicConfig>,
    #[serde(default = "d_changes")]
    pub stage_changes: TopicConfig,
    #[serde(default = "d_dlq")]
    pub dead_letter: String,
}

fn d_page_view() -> TopicConfig {
    topic("events.page_view")
}
fn d_pricing() -> TopicConfig {
    topic("events.pricing_page")
}
fn d_download() -> TopicConfig {
    topic("events.download")
}
fn d_webinar() -> TopicConfig {
    topic("events.webinar")
}
fn d_form() -> Option<TopicConfig> {
    Some(topic("events.form"))
}
fn d_profile() -> Option<TopicConfig> {
    Some(topic("events.profile"))
}

/// A topic table, or `false` to turn an optional input off.
fn optional_topic<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<TopicConfig>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Opt {
        Off(bool),
        On(TopicConfig),
    }
    match Opt::deserialize(d)? {
        Opt::Off(false) => Ok(None),
        Opt::Off(true) => Err(serde::de::Error::custom(
            "use a table { name = .., format = .. } or false",
        )),
        Opt::On(t) => Ok(Some(t)),
    }
}

fn d_changes() -> TopicConfig {
    topic("leadscore.stage_changes")
}
fn d_dlq() -> String {
    "leadscore.dlq".to_string()
}

impl Default for TopicsConfig {
    fn default() -> Self {
        TopicsConfig {
            page_view: d_page_view(),
            pricing_page: d_pricing(),
            download: d_download(),
            webinar: d_webinar(),
            form: d_form(),
            profile: d_profile(),
            stage_changes: d_changes(),
            dead_letter: d_dlq(),
        }
    }
}

impl TopicsConfig {
    /// The inbound topics in merge order, with the event type each carries.
    pub fn inbound(&self) -> Vec<(EventType, TopicConfig)> {
        let mut v = vec![
            (EventType::PageView, self.page_view.clone()),
            (EventType::PricingPage, self.pricing_page.clone()),
            (EventType::Download, self.download.clone()),
            (EventType::Webinar, self.webinar.clone()),
        ];
        if let Some(f) = &self.form {
            v.push((EventType::Form, f.clone()));
        }
        if let Some(p) = &self.profile {
            v.push((EventType::Profile, p.clone()));
        }
        v
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Model file; absent: the built-in default model.
    pub file: Option<PathBuf>,
}

/// What to do when a snapshot was written by another model version.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum OnModelChange {
    /// Discard the snapshot and rebuild state from the earliest offset.
    #[default]
    Replay,
    /// Stop with an error naming both versions.
    Refuse,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotConfig {
    #[serde(default = "d_snap_dir")]
    pub dir: PathBuf,
    #[serde(default = "d_interval")]
    pub interval_secs: u64,
    #[serde(default = "d_every")]
    pub every_events: u64,
    #[serde(default = "d_keep")]
    pub keep: usize,
    #[serde(default)]
    pub on_model_change: OnModelChange,
    /// `false` turns snapshots off (for benchmarks): a restart then starts
    /// from the earliest offset.
    #[serde(default = "d_true")]
    pub enabled: bool,
}

fn d_true() -> bool {
    true
}

fn d_snap_dir() -> PathBuf {
    PathBuf::from("snapshots")
}
fn d_interval() -> u64 {
    30
}
fn d_every() -> u64 {
    1_000_000
}
fn d_keep() -> usize {
    2
}

impl Default for SnapshotConfig {
    fn default() -> Self {
        SnapshotConfig {
            dir: d_snap_dir(),
            interval_secs: d_interval(),
            every_events: d_every(),
            keep: d_keep(),
            on_model_change: OnModelChange::default(),
            enabled: true,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    #[serde(default = "d_listen")]
    pub listen: SocketAddr,
}

fn d_listen() -> SocketAddr {
    "127.0.0.1:9464".parse().expect("valid default address")
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig { listen: d_listen() }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    #[serde(default = "d_max_bytes")]
    pub max_record_bytes: usize,
    #[serde(default = "d_skew")]
    pub max_future_skew_secs: u64,
    /// How long a task waits for a silent inbound partition before merging
    /// without it (see README "Ordering").
    #[serde(default = "d_idle")]
    pub max_task_idle_ms: u64,
    /// Unacknowledged outputs (stage changes, dead letters) per task after
    /// which the task waits for acknowledgements before taking more records.
    #[serde(default = "d_in_flight")]
    pub max_in_flight: usize,
    /// How long a stopping task (revocation, SIGTERM) waits for its outputs
    /// to be acknowledged before it gives up (its input is then processed
    /// again after the restart).
    #[serde(default = "d_drain")]
    pub drain_timeout_secs: u64,
}

fn d_in_flight() -> usize {
    10_000
}
fn d_drain() -> u64 {
    30
}

fn d_max_bytes() -> usize {
    65_536
}
fn d_skew() -> u64 {
    300
}
fn d_idle() -> u64 {
    10_000
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_record_bytes: d_max_bytes(),
            max_future_skew_secs: d_skew(),
            max_task_idle_ms: d_idle(),
            max_in_flight: d_in_flight(),
            drain_timeout_secs: d_drain(),
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Human,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    #[serde(default)]
    pub format: LogFormat,
    #[serde(default = "d_level")]
    pub level: String,
}

fn d_level() -> String {
    "info".to_string()
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Human,
            level: d_level(),
        }
    }
}

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// librdkafka properties, passed through (SASL/SSL included).
    #[serde(default)]
    pub kafka: BTreeMap<String, toml::Value>,
    #[serde(default)]
    pub topics: TopicsConfig,
    #[serde(default)]
    pub model: ModelConfig,
    #[serde(default)]
    pub snapshots: SnapshotConfig,
    #[serde(default)]
    pub http: HttpConfig,
    #[serde(default)]
    pub limits: LimitsConfig,
    #[serde(default)]
    pub log: LogConfig,
}

impl Config {
    /// Reads a config file and applies `LEADSCORE_*` overrides from `env`.
    pub fn load(
        path: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Config::parse(&text, &path.display().to_string(), env)
    }

    /// Parses config text; `origin` names the file in errors.
    pub fn parse(
        text: &str,
        origin: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            path: origin.to_string(),
            message,
        };
        let mut table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| invalid(e.to_string().trim_end().to_string()))?;
        for (k, v) in env {
            if let Some(rest) = k.strip_prefix("LEADSCORE_") {
                apply_override(&mut table, rest, &v)
                    .map_err(|m| invalid(format!("environment variable {k}: {m}")))?;
            }
        }
        // Re-serialize so that errors for overridden values still name the key.
        let merged = toml::to_string(&table).map_err(|e| invalid(e.to_string()))?;
        let cfg: Config = toml::from_str(&merged).map_err(|e: toml::de::Error| {
            let key = e.message().to_string();
            invalid(describe_error(text, &e, &key))
        })?;
        for (k, v) in &cfg.kafka {
            if !matches!(
                v,
                toml::Value::String(_)
                    | toml::Value::Integer(_)
                    | toml::Value::Boolean(_)
                    | toml::Value::Float(_)
            ) {
                return Err(invalid(format!(
                    "[kafka] `{k}`: librdkafka properties must be strings, numbers or booleans"
                )));
            }
        }
        Ok(cfg)
    }

    /// The `[kafka]` table as librdkafka string properties.
    pub fn kafka_properties(&self) -> Vec<(String, String)> {
        self.kafka
            .iter()
            .map(|(k, v)| {
                let s = match v {
                    toml::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), s)
            })
            .collect()
    }
}

/// Adds the line of the offending key in the original text when it can be found.
fn describe_error(original: &str, e: &toml::de::Error, message: &str) -> String {
    let key = message.split('`').nth(1).unwrap_or("");
    let line = (!key.is_empty())
        .then(|| {
            original
                .lines()
                .position(|l| l.trim_start().starts_with(key))
                .map(|i| i + 1)
        })
        .flatten();
    match line {
        Some(l) => format!("line {l}: {message}"),
        None => e.message().to_string(),
    }
}

/// The sections an environment override may name.
const SECTIONS: &[&str] = &[
    "kafka",
    "topics",
    "model",
    "snapshots",
    "http",
    "limits",
    "log",
];

/// `KAFKA_BOOTSTRAP_SERVERS=x` sets `[kafka] "bootstrap.servers"`;
/// `SNAPSHOTS_DIR=x` sets `[snapshots] dir`. Values parse as TOML scalars
/// when they can (numbers, booleans), else as strings.
fn apply_override(table: &mut toml::Table, rest: &str, value: &str) -> Result<(), String> {
    let lower = rest.to_ascii_lowercase();
    let Some((section, key)) = lower.split_once('_') else {
        return Ok(());
    };
    // Other LEADSCORE_* variables (Kubernetes service links such as
    // LEADSCORE_SERVICE_HOST, test settings) are not config overrides.
    if !SECTIONS.contains(&section) {
        return Ok(());
    }
    let key = if section == "kafka" {
        key.replace('_', ".")
    } else {
        key.to_string()
    };
    let parsed: toml::Value = match format!("v = {value}").parse::<toml::Table>() {
        Ok(mut t) if section != "kafka" => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(value.to_string())),
        _ => toml::Value::String(value.to_string()),
    };
    let entry = table
        .entry(section.to_string())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    let toml::Value::Table(t) = entry else {
        return Err(format!("`{section}` is not a table"));
    };
    t.insert(key, parsed);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_key_is_named_with_file_and_line() {
        let text = "[http]\nlisten = \"127.0.0.1:1\"\n[snapshots]\nintervall_secs = 3\n";
        let e = Config::parse(text, "cfg.toml", []).unwrap_err().to_string();
        assert!(e.contains("cfg.toml"), "{e}");
        assert!(e.contains("intervall_secs"), "{e}");
        assert!(e.contains("line 4"), "{e}");
    }

    #[test]
    fn env_overrides_kafka_and_sections() {
        let env = vec![
            (
                "LEADSCORE_KAFKA_BOOTSTRAP_SERVERS".to_string(),
                "b:9092".to_string(),
            ),
            (
                "LEADSCORE_SNAPSHOTS_INTERVAL_SECS".to_string(),
                "7".to_string(),
            ),
            (
                "LEADSCORE_HTTP_LISTEN".to_string(),
                "0.0.0.0:1234".to_string(),
            ),
            ("OTHER".to_string(), "x".to_string()),
            ("LEADSCORE_SERVICE_HOST".to_string(), "10.0.0.1".to_string()),
            (
                "LEADSCORE_PORT".to_string(),
                "tcp://10.0.0.1:9464".to_string(),
            ),
        ];
        let c = Config::parse("[kafka]\n\"group.id\" = \"g\"\n", "c.toml", env).unwrap();
        let props = c.kafka_properties();
        assert!(props.contains(&("bootstrap.servers".into(), "b:9092".into())));
        assert!(props.contains(&("group.id".into(), "g".into())));
        assert_eq!(c.snapshots.interval_secs, 7);
        assert_eq!(c.http.listen.port(), 1234);
    }

    #[test]
    fn topic_formats_parse_and_defaults_fill_in() {
        let c = Config::parse(
            "[topics]\npage_view = { name = \"pv\", format = \"protobuf\" }\n",
            "c.toml",
            [],
        )
        .unwrap();
        assert_eq!(c.topics.page_view.format, Format::Protobuf);
        assert_eq!(c.topics.download.name, "events.download");
        assert_eq!(c.topics.form.as_ref().unwrap().name, "events.form");
        let off = Config::parse("[topics]\nprofile = false\n", "c.toml", []).unwrap();
        assert!(off.topics.profile.is_none());
        let bad = Config::parse(
            "[topics]\npage_view = { name = \"pv\", format = \"avro\" }\n",
            "c.toml",
            [],
        )
        .unwrap_err()
        .to_string();
        assert!(bad.contains("avro"), "{bad}");
    }
}

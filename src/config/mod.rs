//! The service configuration: one TOML file, unknown keys rejected with the
//! key and file named, `LEADSCORE_*` environment overrides (`env.rs`), a
//! `[kafka]` table passed through to librdkafka as-is, and checks of the
//! whole (`validate.rs`) whose errors name the key and its line, or the
//! variable that set it (`locate.rs`).

mod env;
mod locate;
mod validate;

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

/// The changelog topic: every task's state in Kafka (README "Recovery").
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangelogConfig {
    /// `false`: state lives only in the snapshot directory.
    #[serde(default = "d_true")]
    pub enabled: bool,
    #[serde(default = "d_changelog_topic")]
    pub topic: String,
    /// How often a task writes the leads it changed (each once).
    #[serde(default = "d_flush_ms")]
    pub flush_interval_ms: u64,
    /// How often while the task is catching up (it has not been at the
    /// end of all its inbound partitions since the last flush): at backlog
    /// speed nearly every lead
    /// is dirty in every flush, so flushes are spaced out, as Kafka
    /// Streams' 30 s `commit.interval.ms` does.
    #[serde(default = "d_catch_up_flush_ms")]
    pub catch_up_flush_interval_ms: u64,
    /// Replication factor when `run` creates the topic (-1: the broker's default).
    #[serde(default = "d_replication")]
    pub replication_factor: i32,
    /// 1: keep a warm copy of the tasks this instance does not own by
    /// tailing their changelog partitions; 0: none.
    #[serde(default)]
    pub standby_replicas: u32,
}

fn d_changelog_topic() -> String {
    "leadscore.changelog".into()
}
fn d_flush_ms() -> u64 {
    5000
}
fn d_catch_up_flush_ms() -> u64 {
    30_000
}
fn d_replication() -> i32 {
    -1
}

impl Default for ChangelogConfig {
    fn default() -> Self {
        ChangelogConfig {
            enabled: true,
            topic: d_changelog_topic(),
            flush_interval_ms: d_flush_ms(),
            catch_up_flush_interval_ms: d_catch_up_flush_ms(),
            replication_factor: d_replication(),
            standby_replicas: 0,
        }
    }
}

/// The HTTP endpoints (metrics, health, lead lookups).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    #[serde(default = "d_listen")]
    pub listen: SocketAddr,
    /// A client must send a request's headers within this time; a kept-alive
    /// connection that sends no next request within it is closed.
    #[serde(default = "d_header_timeout")]
    pub header_timeout_secs: u64,
    /// A request must be answered within this time (else 408).
    #[serde(default = "d_request_timeout")]
    pub request_timeout_secs: u64,
    /// Connections served at once; more wait to be accepted.
    #[serde(default = "d_max_connections")]
    pub max_connections: usize,
}

fn d_listen() -> SocketAddr {
    "127.0.0.1:9464".parse().expect("valid default address")
}
fn d_header_timeout() -> u64 {
    5
}
fn d_request_timeout() -> u64 {
    30
}
fn d_max_connections() -> usize {
    256
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: d_listen(),
            header_timeout_secs: d_header_timeout(),
            request_timeout_secs: d_request_timeout(),
            max_connections: d_max_connections(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    #[serde(default = "d_max_bytes")]
    pub max_record_bytes: usize,
    /// `lead_id` and `event_id` longer than this many bytes are refused
    /// (dead-lettered), so every derived output stays small.
    #[serde(default = "d_max_id")]
    pub max_id_bytes: usize,
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
    /// How long `run` keeps trying to reach the brokers at start before it
    /// exits with the address and the last connection error.
    #[serde(default = "d_startup")]
    pub startup_timeout_secs: u64,
    /// A task that has records waiting but makes no progress for this long
    /// makes `/readyz` answer 503.
    #[serde(default = "d_stuck")]
    pub stuck_after_secs: u64,
}

fn d_max_id() -> usize {
    256
}
fn d_startup() -> u64 {
    60
}
fn d_stuck() -> u64 {
    60
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
            max_id_bytes: d_max_id(),
            max_future_skew_secs: d_skew(),
            max_task_idle_ms: d_idle(),
            max_in_flight: d_in_flight(),
            drain_timeout_secs: d_drain(),
            startup_timeout_secs: d_startup(),
            stuck_after_secs: d_stuck(),
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
    pub changelog: ChangelogConfig,
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

    /// Parses config text; `origin` names the file in errors. Every
    /// problem is reported, each with the key and its line in the file, or
    /// the environment variable that set it.
    pub fn parse(
        text: &str,
        origin: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            path: origin.to_string(),
            message,
        };
        // The file on its own first, so its errors point into it.
        let mut table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| invalid(file_error(text, &e)))?;
        toml::from_str::<Config>(text).map_err(|e| invalid(file_error(text, &e)))?;
        // Then each override: an error after it is the variable's.
        let mut from_env: BTreeMap<env::KeyPath, String> = BTreeMap::new();
        let mut vars: Vec<(String, String)> = env.into_iter().collect();
        vars.sort();
        for (var, raw) in vars {
            let path = match env::key_of(&var) {
                Ok(Some(p)) => p,
                Ok(None) => continue,
                Err(m) => return Err(invalid(m)),
            };
            let value = env::value_of(&path, &raw);
            env::set(&mut table, &path, value)
                .map_err(|m| invalid(format!("environment variable {var}: {m}")))?;
            Config::deserialize(table.clone()).map_err(|e| {
                invalid(format!(
                    "environment variable {var}={raw:?}: {}",
                    friendly(e.message())
                ))
            })?;
            from_env.insert(path, var);
        }
        let cfg = Config::deserialize(table).map_err(|e| invalid(friendly(e.message())))?;
        let problems: Vec<String> = validate::problems(&cfg)
            .into_iter()
            .map(|p| {
                let name = p.key.join(".");
                match from_env.get(&p.key) {
                    Some(var) => format!("environment variable {var} (`{name}`): {}", p.message),
                    None => match locate::line_of_key(text, &p.key[0], &p.key[1]) {
                        Some(line) => format!("line {line}: `{name}`: {}", p.message),
                        None => format!("`{name}` (default): {}", p.message),
                    },
                }
            })
            .collect();
        if !problems.is_empty() {
            return Err(invalid(problems.join("; ")));
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

/// A parse error in the file, with its line and key.
fn file_error(text: &str, e: &toml::de::Error) -> String {
    let message = friendly(e.message());
    match e.span() {
        Some(span) => {
            let line = locate::line_of_offset(text, span.start);
            match locate::key_at_offset(text, span.start) {
                Some(key) => format!("line {line}: `{key}`: {message}"),
                None => format!("line {line}: {message}"),
            }
        }
        None => message,
    }
}

/// serde's type names in words a config author uses.
fn friendly(message: &str) -> String {
    let m = message.trim_end();
    let mut out = m.to_string();
    for (from, to) in [
        ("expected usize", "expected a whole number of at least 0"),
        ("expected u64", "expected a whole number of at least 0"),
        ("expected u32", "expected a whole number of at least 0"),
        ("expected i64", "expected a whole number"),
        ("expected f64", "expected a number"),
    ] {
        out = out.replace(from, to);
    }
    if out.starts_with("unknown variant") {
        out.push_str(" (the value is case-sensitive)");
    }
    out
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
            ("LEADSCORE_TEST_BROKERS".to_string(), "x:1".to_string()),
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

    fn err(text: &str, env: &[(&str, &str)]) -> String {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::parse(text, "c.toml", env).unwrap_err().to_string()
    }

    #[test]
    fn bad_values_name_the_key_and_line() {
        let e = err("[log]\nlevel = \"loud\"\n", &[]);
        assert!(
            e.contains("c.toml") && e.contains("line 2") && e.contains("log.level"),
            "{e}"
        );
        let e = err("[limits]\nmax_record_bytes = 0\n", &[]);
        assert!(
            e.contains("line 2")
                && e.contains("limits.max_record_bytes")
                && e.contains("at least 1"),
            "{e}"
        );
        let e = err("\n[snapshots]\nkeep = 0\n", &[]);
        assert!(e.contains("line 3") && e.contains("snapshots.keep"), "{e}");
        let e = err("[limits]\nmax_record_bytes = \"big\"\n", &[]);
        assert!(
            e.contains("line 2")
                && e.contains("[limits] max_record_bytes")
                && e.contains("whole number"),
            "{e}"
        );
        let e = err(
            "[topics]\npage_view = { name = \"pv\", format = \"avro\" }\n",
            &[],
        );
        assert!(
            e.contains("line 2") && e.contains("[topics] page_view") && e.contains("avro"),
            "{e}"
        );
    }

    #[test]
    fn id_limit_may_not_exceed_what_the_engine_keeps() {
        let e = err("[limits]\nmax_id_bytes = 1025\n", &[]);
        assert!(
            e.contains("line 2") && e.contains("limits.max_id_bytes") && e.contains("at most 1024"),
            "{e}"
        );
        let e = err("", &[("LEADSCORE_LIMITS_MAX_ID_BYTES", "4096")]);
        assert!(
            e.contains("LEADSCORE_LIMITS_MAX_ID_BYTES") && e.contains("at most 1024"),
            "{e}"
        );
        let ok = Config::parse("[limits]\nmax_id_bytes = 1024\n", "c.toml", []).unwrap();
        assert_eq!(ok.limits.max_id_bytes, 1024);
        assert_eq!(
            Config::parse("", "c.toml", []).unwrap().limits.max_id_bytes,
            256
        );
    }

    #[test]
    fn several_problems_are_reported_at_once() {
        let e = err("[limits]\nmax_in_flight = 0\n[snapshots]\nkeep = 0\n", &[]);
        assert!(
            e.contains("limits.max_in_flight") && e.contains("snapshots.keep"),
            "{e}"
        );
    }

    #[test]
    fn override_errors_name_the_variable_not_the_file() {
        let e = err("", &[("LEADSCORE_LIMITS_MAX_RECORD_BYTES", "big")]);
        assert!(
            e.contains("LEADSCORE_LIMITS_MAX_RECORD_BYTES") && !e.contains("line"),
            "{e}"
        );
        let e = err("", &[("LEADSCORE_SNAPSHOTS_KEEP", "0")]);
        assert!(
            e.contains("environment variable LEADSCORE_SNAPSHOTS_KEEP"),
            "{e}"
        );
        let e = err("", &[("LEADSCORE_SNAPSHOT_DIR", "/x")]);
        assert!(
            e.contains("LEADSCORE_SNAPSHOT_DIR") && e.contains("LEADSCORE_SNAPSHOTS_DIR"),
            "{e}"
        );
        let e = err("", &[("LEADSCORE_SERVICE_HOST", "10.0.0.1")]);
        assert!(e.contains("LEADSCORE_SERVICE_HOST"), "{e}");
    }

    #[test]
    fn topics_must_not_repeat_or_feed_the_output_back() {
        let e = err(
            "[topics]\npage_view = { name = \"a\" }\ndownload = { name = \"a\" }\n",
            &[],
        );
        assert!(
            e.contains("line 3") && e.contains("topics.download") && e.contains("topics.page_view"),
            "{e}"
        );
        let e = err("[topics]\ndead_letter = \"events.form\"\n", &[]);
        assert!(
            e.contains("topics.dead_letter") && e.contains("form"),
            "{e}"
        );
        let e = err(
            "[topics]\nstage_changes = { name = \"events.page_view\" }\n",
            &[],
        );
        assert!(e.contains("topics.stage_changes"), "{e}");
        let e = err("[topics]\ndead_letter = \"leadscore.stage_changes\"\n", &[]);
        assert!(e.contains("must differ"), "{e}");
    }

    #[test]
    fn every_override_key_is_a_config_key() {
        for k in env::KEYS {
            let (section, key) = k.split_once('.').unwrap();
            let value = match *k {
                "topics.form" | "topics.profile" => "false".to_string(),
                k if env::TOPIC_TABLES.iter().any(|t| k == format!("topics.{t}")) => {
                    "{ name = \"x.y\" }".to_string()
                }
                "topics.dead_letter" | "snapshots.dir" | "model.file" => "\"x\"".into(),
                "http.listen" => "\"127.0.0.1:1\"".into(),
                "snapshots.on_model_change" => "\"refuse\"".into(),
                "snapshots.enabled" | "changelog.enabled" => "true".into(),
                "changelog.topic" => "\"x.changelog\"".into(),
                "changelog.standby_replicas" => "1".into(),
                "changelog.catch_up_flush_interval_ms" => "30000".into(),
                "log.format" => "\"json\"".into(),
                "log.level" => "\"debug\"".into(),
                "limits.max_record_bytes" => "700".into(),
                _ => "7".into(),
            };
            let text = format!("[{section}]\n{key} = {value}\n");
            Config::parse(&text, "c.toml", []).unwrap_or_else(|e| panic!("{k}: {e}"));
        }
    }
}

//! Checks of a parsed config as a whole: value ranges, and topics that
//! would feed the service its own output.

use super::env::KeyPath;
use super::Config;

/// One problem, at the key it is about.
pub struct Problem {
    pub key: KeyPath,
    pub message: String,
}

fn key(section: &str, name: &str) -> KeyPath {
    vec![section.to_string(), name.to_string()]
}

/// Every problem of `c`, in key order.
pub fn problems(c: &Config) -> Vec<Problem> {
    let mut out = Vec::new();
    let mut at_least = |section: &str, name: &str, value: u64, min: u64| {
        if value < min {
            out.push(Problem {
                key: key(section, name),
                message: format!("must be at least {min} (is {value})"),
            });
        }
    };
    at_least(
        "limits",
        "max_record_bytes",
        c.limits.max_record_bytes as u64,
        1,
    );
    at_least("limits", "max_id_bytes", c.limits.max_id_bytes as u64, 1);
    at_least("limits", "max_in_flight", c.limits.max_in_flight as u64, 1);
    at_least(
        "limits",
        "drain_timeout_secs",
        c.limits.drain_timeout_secs,
        1,
    );
    at_least(
        "limits",
        "startup_timeout_secs",
        c.limits.startup_timeout_secs,
        1,
    );
    at_least("limits", "stuck_after_secs", c.limits.stuck_after_secs, 1);
    at_least("snapshots", "keep", c.snapshots.keep as u64, 1);
    at_least("snapshots", "interval_secs", c.snapshots.interval_secs, 1);
    at_least("snapshots", "every_events", c.snapshots.every_events, 1);
    at_least(
        "changelog",
        "flush_interval_ms",
        c.changelog.flush_interval_ms,
        1,
    );
    at_least("http", "header_timeout_secs", c.http.header_timeout_secs, 1);
    at_least(
        "http",
        "request_timeout_secs",
        c.http.request_timeout_secs,
        1,
    );
    at_least("http", "max_connections", c.http.max_connections as u64, 1);
    if c.changelog.catch_up_flush_interval_ms < c.changelog.flush_interval_ms {
        out.push(Problem {
            key: key("changelog", "catch_up_flush_interval_ms"),
            message: format!(
                "must be at least flush_interval_ms ({}; is {})",
                c.changelog.flush_interval_ms, c.changelog.catch_up_flush_interval_ms
            ),
        });
    }
    if c.changelog.standby_replicas > 1 {
        out.push(Problem {
            key: key("changelog", "standby_replicas"),
            message: format!(
                "must be 0 or 1 (is {}): with 1, an instance keeps a warm copy of every task it does not own",
                c.changelog.standby_replicas
            ),
        });
    }
    if c.changelog.replication_factor == 0 || c.changelog.replication_factor < -1 {
        out.push(Problem {
            key: key("changelog", "replication_factor"),
            message: format!(
                "must be -1 (the broker's default) or at least 1 (is {})",
                c.changelog.replication_factor
            ),
        });
    }
    if c.limits.max_id_bytes > crate::engine::MAX_ID_BYTES {
        out.push(Problem {
            key: key("limits", "max_id_bytes"),
            message: format!(
                "must be at most {} (is {}), the longest id the engine keeps",
                crate::engine::MAX_ID_BYTES,
                c.limits.max_id_bytes
            ),
        });
    } else if c.limits.max_id_bytes > c.limits.max_record_bytes {
        out.push(Problem {
            key: key("limits", "max_id_bytes"),
            message: format!(
                "must not exceed limits.max_record_bytes ({})",
                c.limits.max_record_bytes
            ),
        });
    }
    if let Err(m) = check_log_level(&c.log.level) {
        out.push(Problem {
            key: key("log", "level"),
            message: m,
        });
    }
    out.extend(topic_problems(c));
    for (k, v) in &c.kafka {
        if !matches!(
            v,
            toml::Value::String(_)
                | toml::Value::Integer(_)
                | toml::Value::Boolean(_)
                | toml::Value::Float(_)
        ) {
            out.push(Problem {
                key: key("kafka", k),
                message: "librdkafka properties must be strings, numbers or booleans".into(),
            });
        }
    }
    out
}

/// Inbound topics are distinct, and neither output names one of them
/// (a dead letter read back as input would circle forever).
fn topic_problems(c: &Config) -> Vec<Problem> {
    let mut out = Vec::new();
    let inbound = c.topics.inbound();
    for (i, (t, cfg)) in inbound.iter().enumerate() {
        if cfg.name.trim().is_empty() {
            out.push(Problem {
                key: key("topics", t.as_str()),
                message: "the topic name is empty".into(),
            });
        }
        if let Some((other, _)) = inbound[..i].iter().find(|(_, o)| o.name == cfg.name) {
            out.push(Problem {
                key: key("topics", t.as_str()),
                message: format!(
                    "names the same topic as topics.{other} (\"{}\"); each inbound event type needs its own topic",
                    cfg.name
                ),
            });
        }
    }
    let is_inbound = |name: &str| {
        inbound
            .iter()
            .find(|(_, t)| t.name == name)
            .map(|(e, _)| *e)
    };
    let outputs = [
        (
            "topics",
            "stage_changes",
            c.topics.stage_changes.name.as_str(),
        ),
        ("topics", "dead_letter", c.topics.dead_letter.as_str()),
        ("changelog", "topic", c.changelog.topic.as_str()),
    ];
    for (section, k, name) in outputs {
        if name.trim().is_empty() {
            out.push(Problem {
                key: key(section, k),
                message: "the topic name is empty".into(),
            });
        }
        if let Some(e) = is_inbound(name) {
            out.push(Problem {
                key: key(section, k),
                message: format!(
                    "\"{name}\" is also the inbound topic of {e} events; the service would read its own output"
                ),
            });
        }
    }
    if c.topics.stage_changes.name == c.topics.dead_letter {
        out.push(Problem {
            key: key("topics", "dead_letter"),
            message: "must differ from topics.stage_changes: CRMs would read dead letters as stage changes".into(),
        });
    }
    if c.changelog.topic == c.topics.stage_changes.name || c.changelog.topic == c.topics.dead_letter
    {
        out.push(Problem {
            key: key("changelog", "topic"),
            message: format!(
                "\"{}\" is also an output topic; the changelog needs a topic of its own",
                c.changelog.topic
            ),
        });
    }
    out
}

/// A level (`error`, `warn`, `info`, `debug`, `trace`, `off`) or a list of
/// `target=level` directives after one.
fn check_log_level(level: &str) -> Result<(), String> {
    const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];
    for d in level.split(',').map(str::trim) {
        let lvl = d.rsplit_once('=').map_or(d, |(_, l)| l);
        if !LEVELS.contains(&lvl.to_ascii_lowercase().as_str()) {
            return Err(format!(
                "\"{d}\" is not a log level; use one of off, error, warn, info, debug, trace (or target=level directives)"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_levels_and_directives() {
        assert!(check_log_level("info").is_ok());
        assert!(check_log_level("warn,leadscore=debug").is_ok());
        assert!(check_log_level("loud").is_err());
        assert!(check_log_level("info,leadscore=chatty").is_err());
    }
}

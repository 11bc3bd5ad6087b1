//! `LEADSCORE_<SECTION>_<KEY>` environment overrides: which key a variable
//! names, and its value as TOML. A variable that names no key is an error
//! (a typo must not be ignored); variables for tools and tests start with
//! `LEADSCORE_TEST_` and are not config.

/// The keys an override may set, as `section.key`. A `[topics]` table
/// (`page_view = { name, format }`) is set with `_NAME` / `_FORMAT`.
pub const KEYS: &[&str] = &[
    "topics.page_view",
    "topics.pricing_page",
    "topics.download",
    "topics.webinar",
    "topics.form",
    "topics.profile",
    "topics.stage_changes",
    "topics.dead_letter",
    "model.file",
    "snapshots.dir",
    "snapshots.interval_secs",
    "snapshots.every_events",
    "snapshots.keep",
    "snapshots.on_model_change",
    "snapshots.enabled",
    "changelog.enabled",
    "changelog.topic",
    "changelog.flush_interval_ms",
    "changelog.catch_up_flush_interval_ms",
    "changelog.replication_factor",
    "changelog.standby_replicas",
    "http.listen",
    "http.header_timeout_secs",
    "http.request_timeout_secs",
    "http.max_connections",
    "limits.max_record_bytes",
    "limits.max_id_bytes",
    "limits.max_future_skew_secs",
    "limits.max_task_idle_ms",
    "limits.max_in_flight",
    "limits.drain_timeout_secs",
    "limits.startup_timeout_secs",
    "limits.stuck_after_secs",
    "log.format",
    "log.level",
];

/// `[topics]` keys whose value is a `{ name, format }` table.
pub const TOPIC_TABLES: &[&str] = &[
    "page_view",
    "pricing_page",
    "download",
    "webinar",
    "form",
    "profile",
    "stage_changes",
];

/// Variables with this prefix (after `LEADSCORE_`) belong to tools and tests.
const NOT_CONFIG: &str = "TEST_";

/// A key path such as `["limits", "keep"]` or `["topics", "form", "name"]`.
pub type KeyPath = Vec<String>;

/// The key `var` (a full variable name) overrides, `Ok(None)` if it is not
/// a config variable, or an error naming it.
pub fn key_of(var: &str) -> Result<Option<KeyPath>, String> {
    let Some(rest) = var.strip_prefix("LEADSCORE_") else {
        return Ok(None);
    };
    if rest.starts_with(NOT_CONFIG) {
        return Ok(None);
    }
    let lower = rest.to_ascii_lowercase();
    if let Some(prop) = lower.strip_prefix("kafka_") {
        if !prop.is_empty() {
            return Ok(Some(vec!["kafka".into(), prop.replace('_', ".")]));
        }
    }
    if let Some((section, key)) = lower.split_once('_') {
        let dotted = format!("{section}.{key}");
        if KEYS.contains(&dotted.as_str()) {
            return Ok(Some(vec![section.into(), key.into()]));
        }
        if section == "topics" {
            for t in TOPIC_TABLES {
                for sub in ["name", "format"] {
                    if key == format!("{t}_{sub}") {
                        return Ok(Some(vec![section.into(), (*t).into(), sub.into()]));
                    }
                }
            }
        }
    }
    Err(format!(
        "environment variable {var} names no config key{}; overrides are LEADSCORE_<SECTION>_<KEY> \
         (LEADSCORE_KAFKA_<PROPERTY> for librdkafka), and variables for tools start with LEADSCORE_TEST_",
        suggestion(&lower)
    ))
}

/// `" (did you mean LEADSCORE_X?)"` for the closest known variable, if close.
fn suggestion(lower: &str) -> String {
    let names = KEYS.iter().map(|k| k.replace('.', "_")).chain(
        TOPIC_TABLES
            .iter()
            .flat_map(|t| ["name", "format"].map(|s| format!("topics_{t}_{s}"))),
    );
    names
        .map(|n| (strsim::levenshtein(lower, &n), n))
        .filter(|(d, _)| *d <= 3)
        .min()
        .map(|(_, n)| format!(" (did you mean LEADSCORE_{}?)", n.to_ascii_uppercase()))
        .unwrap_or_default()
}

/// The TOML value of an override: a number, boolean or other TOML scalar
/// when it parses as one, else a string. `[kafka]` values are strings.
pub fn value_of(path: &KeyPath, raw: &str) -> toml::Value {
    if path[0] != "kafka" {
        if let Ok(mut t) = format!("v = {raw}").parse::<toml::Table>() {
            if let Some(v) = t.remove("v").filter(|v| !v.is_table()) {
                return v;
            }
        }
    }
    toml::Value::String(raw.to_string())
}

/// Sets `path` to `value` in `table`, creating tables on the way.
pub fn set(table: &mut toml::Table, path: &KeyPath, value: toml::Value) -> Result<(), String> {
    let (last, parents) = path.split_last().expect("a key path is never empty");
    let mut t = table;
    for p in parents {
        let entry = t
            .entry(p.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        t = entry
            .as_table_mut()
            .ok_or_else(|| format!("`{p}` is not a table in the config file"))?;
    }
    t.insert(last.clone(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(v: &[&str]) -> KeyPath {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn variables_map_to_keys() {
        assert_eq!(
            key_of("LEADSCORE_KAFKA_BOOTSTRAP_SERVERS").unwrap(),
            Some(path(&["kafka", "bootstrap.servers"]))
        );
        assert_eq!(
            key_of("LEADSCORE_LIMITS_MAX_RECORD_BYTES").unwrap(),
            Some(path(&["limits", "max_record_bytes"]))
        );
        assert_eq!(
            key_of("LEADSCORE_TOPICS_PAGE_VIEW_NAME").unwrap(),
            Some(path(&["topics", "page_view", "name"]))
        );
        assert_eq!(key_of("LEADSCORE_TEST_BROKERS").unwrap(), None);
        assert_eq!(key_of("PATH").unwrap(), None);
    }

    #[test]
    fn a_typo_is_refused_with_a_suggestion() {
        let e = key_of("LEADSCORE_SNAPSHOT_DIR").unwrap_err();
        assert!(e.contains("LEADSCORE_SNAPSHOT_DIR"), "{e}");
        assert!(e.contains("did you mean LEADSCORE_SNAPSHOTS_DIR"), "{e}");
        let e = key_of("LEADSCORE_SERVICE_HOST").unwrap_err();
        assert!(e.contains("names no config key"), "{e}");
    }

    #[test]
    fn values_parse_as_toml_scalars_except_for_kafka() {
        assert_eq!(
            value_of(&path(&["limits", "keep"]), "3"),
            toml::Value::Integer(3)
        );
        assert_eq!(
            value_of(&path(&["snapshots", "dir"]), "/data/snap"),
            toml::Value::String("/data/snap".into())
        );
        assert_eq!(
            value_of(&path(&["kafka", "linger.ms"]), "5"),
            toml::Value::String("5".into())
        );
    }
}

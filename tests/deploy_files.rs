//! Checks of the deployment files (docker-compose.yml, Dockerfile, deploy/):
//! they parse, they agree with each other and with the configuration the
//! binary reads, and the dashboard and alert rules use only metrics that
//! leadscore exports. Nothing here needs Docker, Kubernetes or a network.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use leadscore::config::Config;
use serde::Deserialize;
use serde_json::Value as Json;
use serde_yaml_ng::Value as Yaml;

/// Every metric name the binary exports (README "Metrics"). The dashboard
/// and the alert rules may use only these; a test of the running service
/// compares this list with a live `/metrics` scrape.
const EXPORTED_METRICS: &[&str] = &[
    "leadscore_events_total",
    "leadscore_stage_changes_total",
    "leadscore_end_to_end_latency_seconds",
    "leadscore_consumer_lag",
    "leadscore_leads_in_memory",
    "leadscore_tasks_assigned",
    "leadscore_ready",
    "leadscore_producer_errors_total",
    "leadscore_snapshot_duration_seconds",
    "leadscore_snapshot_size_bytes",
    "leadscore_snapshot_age_seconds",
    "leadscore_snapshot_restore_duration_seconds",
    "leadscore_snapshot_fallbacks_total",
    "leadscore_snapshot_failures_total",
    "leadscore_enforced_merges_total",
    "leadscore_outputs_rerouted_total",
    "leadscore_offsets_skipped_total",
    "leadscore_restores_total",
    "leadscore_restore_duration_seconds",
    "leadscore_changelog_records_restored_total",
    "leadscore_changelog_records_written_total",
    "leadscore_changelog_checkpoint_age_seconds",
    "leadscore_changelog_fenced_total",
];

/// The histograms among them: only these have `_bucket`/`_sum`/`_count` series.
const HISTOGRAMS: &[&str] = &[
    "leadscore_end_to_end_latency_seconds",
    "leadscore_snapshot_duration_seconds",
    "leadscore_snapshot_restore_duration_seconds",
    "leadscore_restore_duration_seconds",
];

const SNAPSHOT_DIR: &str = "/var/lib/leadscore/snapshots";
const CONFIG_PATH: &str = "/etc/leadscore/leadscore.toml";

// ---------------------------------------------------------------- helpers

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    let path = root().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn yaml(rel: &str) -> Yaml {
    serde_yaml_ng::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel} is not valid YAML: {e}"))
}

/// All documents of a multi-document YAML file.
fn yaml_docs(rel: &str) -> Vec<Yaml> {
    let text = read(rel);
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|doc| {
            Yaml::deserialize(doc).unwrap_or_else(|e| panic!("{rel} is not valid YAML: {e}"))
        })
        .collect()
}

fn json(rel: &str) -> Json {
    serde_json::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel} is not valid JSON: {e}"))
}

/// A YAML scalar as a string (numbers and booleans too); panics on others.
fn scalar(v: &Yaml, what: &str) -> String {
    match v {
        Yaml::String(s) => s.clone(),
        Yaml::Number(n) => n.to_string(),
        Yaml::Bool(b) => b.to_string(),
        other => panic!("{what}: expected a scalar, found {other:?}"),
    }
}

fn string<'a>(v: &'a Yaml, what: &str) -> &'a str {
    v.as_str()
        .unwrap_or_else(|| panic!("{what}: expected a string, found {v:?}"))
}

fn seq<'a>(v: &'a Yaml, what: &str) -> &'a [Yaml] {
    v.as_sequence()
        .map(|s| s.as_slice())
        .unwrap_or_else(|| panic!("{what}: expected a list, found {v:?}"))
}

fn parse_config(text: &str, origin: &str) -> Config {
    Config::parse(text, origin, std::iter::empty::<(String, String)>())
        .unwrap_or_else(|e| panic!("{origin} is not a valid leadscore config: {e}"))
}

/// Every topic a config reads or writes.
fn config_topics(cfg: &Config) -> BTreeSet<String> {
    let mut topics: BTreeSet<String> = cfg
        .topics
        .inbound()
        .into_iter()
        .map(|(_, t)| t.name)
        .collect();
    topics.insert(cfg.topics.stage_changes.name.clone());
    topics.insert(cfg.topics.dead_letter.clone());
    topics
}

/// Short-syntax compose volume `source:target[:mode]` as (source, target).
fn compose_mount(entry: &Yaml) -> (String, String) {
    let s = string(entry, "compose volume");
    let mut parts = s.split(':');
    let source = parts.next().unwrap_or_default().to_string();
    let target = parts
        .next()
        .unwrap_or_else(|| panic!("compose volume {s:?} has no target"))
        .to_string();
    (source, target)
}

fn compose_mounts(service: &Yaml) -> Vec<(String, String)> {
    service
        .get("volumes")
        .map(|v| seq(v, "volumes").iter().map(compose_mount).collect())
        .unwrap_or_default()
}

fn compose_env(service: &Yaml, key: &str) -> String {
    let v = service
        .get("environment")
        .and_then(|e| e.get(key))
        .unwrap_or_else(|| panic!("compose service has no environment variable {key}"));
    scalar(v, key)
}

fn depends_on_condition(service: &Yaml, on: &str) -> String {
    let cond = service
        .get("depends_on")
        .and_then(|d| d.get(on))
        .and_then(|d| d.get("condition"));
    scalar(
        cond.unwrap_or_else(|| panic!("no depends_on {on} with a condition")),
        "condition",
    )
}

/// Every `leadscore_[a-z_]+` name in `text` (at a word start), with the
/// histogram series suffixes `_bucket`, `_sum` and `_count` removed. A
/// suffix is only removed from a histogram's name, so a misspelt series
/// such as `leadscore_events_total_count` is reported as it is.
fn metric_names_in(text: &str) -> BTreeSet<String> {
    const PREFIX: &str = "leadscore_";
    let bytes = text.as_bytes();
    let mut names = BTreeSet::new();
    let mut from = 0;
    while let Some(pos) = text[from..].find(PREFIX) {
        let start = from + pos;
        let boundary =
            start == 0 || !(bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        let mut end = start + PREFIX.len();
        while end < bytes.len() && (bytes[end].is_ascii_lowercase() || bytes[end] == b'_') {
            end += 1;
        }
        if boundary && end > start + PREFIX.len() {
            let name = &text[start..end];
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| {
                    name.strip_suffix(suffix)
                        .filter(|base| HISTOGRAMS.contains(base))
                })
                .unwrap_or(name);
            names.insert(base.to_string());
        }
        from = end;
    }
    names
}

/// Every PromQL expression of a dashboard (panel targets, variables).
fn dashboard_exprs(dash: &Json) -> Vec<String> {
    let mut exprs = Vec::new();
    for panel in dash["panels"].as_array().expect("panels") {
        for t in panel["targets"]
            .as_array()
            .map(|v| v.as_slice())
            .unwrap_or_default()
        {
            if let Some(e) = t["expr"].as_str() {
                exprs.push(e.to_string());
            }
        }
    }
    for var in dash["templating"]["list"]
        .as_array()
        .map(|v| v.as_slice())
        .unwrap_or_default()
    {
        if let Some(d) = var["definition"].as_str() {
            exprs.push(d.to_string());
        }
    }
    exprs
}

// ---------------------------------------------------------------- tests

#[test]
fn metric_name_helper_finds_names_and_strips_histogram_suffixes() {
    let names = metric_names_in(
        "histogram_quantile(0.99, sum by (le) (rate(leadscore_end_to_end_latency_seconds_bucket[5m]))) \
         / leadscore_ready{x=\"y\"} + myleadscore_thing + leadscore_events_total_count",
    );
    let expected: BTreeSet<String> = [
        "leadscore_end_to_end_latency_seconds",
        "leadscore_ready",
        "leadscore_events_total_count",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(names, expected);
}

#[test]
fn exported_metric_list_matches_the_binary() {
    let ours: BTreeSet<&str> = EXPORTED_METRICS.iter().copied().collect();
    let binary: BTreeSet<&str> = leadscore::telemetry::events::METRIC_NAMES
        .iter()
        .copied()
        .collect();
    assert_eq!(
        ours, binary,
        "tests/deploy_files.rs EXPORTED_METRICS differs from telemetry::events::METRIC_NAMES"
    );
    for h in HISTOGRAMS {
        assert!(ours.contains(h), "{h} is not exported");
    }
}

#[test]
fn dashboard_and_alerts_use_only_exported_metrics() {
    let exported: BTreeSet<&str> = EXPORTED_METRICS.iter().copied().collect();
    let files = [
        "deploy/grafana/dashboards/leadscore.json",
        "deploy/prometheus/alerts.yml",
        "deploy/prometheus/alerts.test.yml",
    ];
    let mut used = BTreeSet::new();
    for file in files {
        let names = metric_names_in(&read(file));
        assert!(!names.is_empty(), "{file} uses no leadscore metric");
        for name in &names {
            assert!(exported.contains(name.as_str()), "{file} uses {name}, which leadscore does not export (exported: {EXPORTED_METRICS:?})");
        }
        used.extend(names);
    }
    // The expressions themselves, too (the whole-file scan above covers them,
    // this makes sure the dashboard has queries at all).
    let dash = json("deploy/grafana/dashboards/leadscore.json");
    let exprs = dashboard_exprs(&dash);
    assert!(
        exprs.len() >= 15,
        "dashboard has only {} queries",
        exprs.len()
    );
    for e in &exprs {
        assert!(
            !metric_names_in(e).is_empty(),
            "dashboard query uses no leadscore metric: {e}"
        );
    }
    // Everything exported is shown somewhere.
    for name in EXPORTED_METRICS {
        assert!(
            used.contains(*name),
            "{name} is exported but neither graphed nor alerted on"
        );
    }
}

#[test]
fn dashboard_panels_use_the_provisioned_prometheus_datasource() {
    let ds = yaml("deploy/grafana/provisioning/datasources/prometheus.yml");
    let sources = seq(&ds["datasources"], "datasources");
    assert_eq!(sources.len(), 1);
    assert_eq!(string(&sources[0]["uid"], "datasource uid"), "prometheus");
    assert_eq!(string(&sources[0]["type"], "datasource type"), "prometheus");
    assert_eq!(
        string(&sources[0]["url"], "datasource url"),
        "http://prometheus:9090"
    );

    let dash = json("deploy/grafana/dashboards/leadscore.json");
    assert_eq!(dash["schemaVersion"], 39);
    assert_eq!(dash["uid"], "leadscore");
    let panels = dash["panels"].as_array().expect("panels");
    assert!(panels.len() >= 10, "only {} panels", panels.len());
    let mut ids = BTreeSet::new();
    for p in panels {
        let title = p["title"].as_str().expect("every panel has a title");
        assert!(
            ids.insert(p["id"].as_u64().expect("panel id")),
            "duplicate panel id in {title}"
        );
        assert_eq!(
            p["datasource"]["uid"], "prometheus",
            "panel {title:?}: datasource uid"
        );
        assert_eq!(
            p["datasource"]["type"], "prometheus",
            "panel {title:?}: datasource type"
        );
        let targets = p["targets"]
            .as_array()
            .unwrap_or_else(|| panic!("panel {title:?} has no targets"));
        assert!(!targets.is_empty(), "panel {title:?} has no queries");
        for t in targets {
            if !t["datasource"].is_null() {
                assert_eq!(
                    t["datasource"]["uid"], "prometheus",
                    "panel {title:?}: query datasource uid"
                );
            }
        }
        let g = &p["gridPos"];
        let (x, w) = (
            g["x"].as_u64().expect("gridPos.x"),
            g["w"].as_u64().expect("gridPos.w"),
        );
        assert!(x + w <= 24, "panel {title:?} is wider than the dashboard");
    }
    for var in dash["templating"]["list"]
        .as_array()
        .map(|v| v.as_slice())
        .unwrap_or_default()
    {
        if var["type"] == "query" {
            assert_eq!(
                var["datasource"]["uid"], "prometheus",
                "variable {}: datasource uid",
                var["name"]
            );
        }
    }

    // What an operator looks for.
    let exprs = dashboard_exprs(&dash).join("\n");
    for q in ["0.5", "0.95", "0.99"] {
        let want = format!(
            "histogram_quantile({q}, sum by (le) (rate(leadscore_end_to_end_latency_seconds_bucket"
        );
        assert!(exprs.contains(&want), "no end-to-end latency p{q} panel");
    }
    for needle in [
        "sum by (topic, outcome) (rate(leadscore_events_total",
        "sum by (from, to) (rate(leadscore_stage_changes_total",
        "sum by (topic, partition) (leadscore_consumer_lag",
        "outcome=\"dlq\"",
        "leadscore_leads_in_memory",
        "leadscore_snapshot_age_seconds",
        "leadscore_snapshot_duration_seconds_bucket",
        "leadscore_ready",
        "leadscore_producer_errors_total",
    ] {
        assert!(
            exprs.contains(needle),
            "no dashboard query contains {needle:?}"
        );
    }

    // The dashboard provider reads the directory compose mounts the JSON into.
    let prov = yaml("deploy/grafana/provisioning/dashboards/leadscore.yml");
    let providers = seq(&prov["providers"], "providers");
    let path = string(&providers[0]["options"]["path"], "provider path");
    let compose = yaml("docker-compose.yml");
    let grafana = &compose["services"]["grafana"];
    let mounts = compose_mounts(grafana);
    assert!(
        mounts
            .iter()
            .any(|(s, t)| s == "./deploy/grafana/dashboards" && t == path),
        "grafana must mount ./deploy/grafana/dashboards at {path}: {mounts:?}"
    );
    assert!(mounts
        .iter()
        .any(|(s, t)| s == "./deploy/grafana/provisioning" && t == "/etc/grafana/provisioning"));
}

#[test]
fn compose_has_the_whole_stack() {
    let compose = yaml("docker-compose.yml");
    let services = &compose["services"];
    for name in [
        "kafka",
        "kafka-init",
        "leadscore",
        "generator",
        "prometheus",
        "grafana",
    ] {
        assert!(
            services.get(name).is_some(),
            "docker-compose.yml has no service {name}"
        );
    }

    let kafka = &services["kafka"];
    assert_eq!(string(&kafka["image"], "kafka image"), "apache/kafka:3.9.0");
    assert_eq!(
        compose_env(kafka, "KAFKA_PROCESS_ROLES"),
        "broker,controller"
    );
    assert_eq!(
        compose_env(kafka, "KAFKA_ADVERTISED_LISTENERS"),
        "PLAINTEXT://kafka:9092"
    );
    assert_eq!(
        compose_env(kafka, "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"),
        "1"
    );
    assert!(compose_env(kafka, "KAFKA_CONTROLLER_QUORUM_VOTERS").contains("@kafka:9093"));
    assert!(
        kafka.get("healthcheck").is_some(),
        "kafka needs a healthcheck for kafka-init to wait on"
    );

    let init = &services["kafka-init"];
    assert_eq!(depends_on_condition(init, "kafka"), "service_healthy");

    let ls = &services["leadscore"];
    assert!(
        ls.get("build").is_some(),
        "leadscore is built from the Dockerfile"
    );
    assert_eq!(
        depends_on_condition(ls, "kafka-init"),
        "service_completed_successfully"
    );
    let ports: Vec<String> = seq(&ls["ports"], "leadscore ports")
        .iter()
        .map(|p| scalar(p, "port"))
        .collect();
    assert!(
        ports.iter().any(|p| p.ends_with(":9464")),
        "leadscore must publish 9464: {ports:?}"
    );

    // The mounted config is the compose config, and it listens where the
    // port is published and snapshots into the named volume.
    let mounts = compose_mounts(ls);
    assert!(
        mounts
            .iter()
            .any(|(s, t)| s == "./deploy/compose/leadscore.toml" && t == CONFIG_PATH),
        "leadscore must mount deploy/compose/leadscore.toml at {CONFIG_PATH}: {mounts:?}"
    );
    let cfg = parse_config(
        &read("deploy/compose/leadscore.toml"),
        "deploy/compose/leadscore.toml",
    );
    assert_eq!(
        cfg.http.listen,
        "0.0.0.0:9464".parse::<SocketAddr>().unwrap()
    );
    let snap_dir = cfg
        .snapshots
        .dir
        .to_str()
        .expect("utf-8 snapshot dir")
        .to_string();
    let (volume, _) = mounts
        .iter()
        .find(|(_, t)| *t == snap_dir)
        .unwrap_or_else(|| {
            panic!("leadscore mounts nothing at its snapshot dir {snap_dir}: {mounts:?}")
        });
    assert!(
        compose["volumes"].get(volume.as_str()).is_some(),
        "the snapshot volume {volume} must be a named volume (declared under top-level volumes)"
    );
    let bootstrap = cfg
        .kafka_properties()
        .into_iter()
        .find(|(k, _)| k == "bootstrap.servers")
        .map(|(_, v)| v);
    assert_eq!(bootstrap.as_deref(), Some("kafka:9092"));

    let generator = &services["generator"];
    assert_eq!(
        depends_on_condition(generator, "kafka-init"),
        "service_completed_successfully"
    );
    let entry: Vec<String> = seq(&generator["entrypoint"], "generator entrypoint")
        .iter()
        .map(|v| scalar(v, "arg"))
        .collect();
    assert!(
        entry.iter().any(|a| a.ends_with("generate-events.sh")),
        "{entry:?}"
    );

    let prom_mounts = compose_mounts(&services["prometheus"]);
    for f in ["prometheus.yml", "alerts.yml"] {
        assert!(
            prom_mounts
                .iter()
                .any(|(s, t)| *s == format!("./deploy/prometheus/{f}")
                    && *t == format!("/etc/prometheus/{f}")),
            "prometheus must mount deploy/prometheus/{f}: {prom_mounts:?}"
        );
    }

    let grafana = &services["grafana"];
    assert_eq!(compose_env(grafana, "GF_AUTH_ANONYMOUS_ENABLED"), "true");
    assert_eq!(compose_env(grafana, "GF_AUTH_ANONYMOUS_ORG_ROLE"), "Viewer");
    let gports: Vec<String> = seq(&grafana["ports"], "grafana ports")
        .iter()
        .map(|p| scalar(p, "port"))
        .collect();
    assert!(gports.iter().any(|p| p.ends_with(":3000")), "{gports:?}");

    // Every bind-mounted file or directory exists.
    for (name, service) in services.as_mapping().expect("services") {
        for (source, _) in compose_mounts(service) {
            if let Some(rel) = source.strip_prefix("./") {
                assert!(
                    root().join(rel).exists(),
                    "service {name:?} mounts {source}, which does not exist"
                );
            }
        }
    }
}

#[test]
fn compose_creates_every_topic_with_the_same_partition_count() {
    let compose = yaml("docker-compose.yml");
    let init = &compose["services"]["kafka-init"];
    let created: BTreeSet<String> = compose_env(init, "TOPICS")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let partitions: u32 = compose_env(init, "PARTITIONS")
        .parse()
        .expect("PARTITIONS is a number");
    assert!(
        partitions > 1,
        "use several partitions so the dashboard shows per-task figures"
    );

    // Every topic the compose config names is created.
    let cfg = parse_config(
        &read("deploy/compose/leadscore.toml"),
        "deploy/compose/leadscore.toml",
    );
    let wanted = config_topics(&cfg);
    assert_eq!(
        created, wanted,
        "kafka-init TOPICS must be exactly the topics of deploy/compose/leadscore.toml"
    );
    for t in [
        "events.page_view",
        "events.pricing_page",
        "events.download",
        "events.webinar",
        "events.form",
        "events.profile",
        "leadscore.stage_changes",
        "leadscore.dlq",
    ] {
        assert!(created.contains(t), "{t} is not created");
    }

    // The script creates them all with the one $PARTITIONS, so the counts
    // are equal (co-partitioning), and checks existing topics.
    let entry: Vec<String> = seq(&init["entrypoint"], "kafka-init entrypoint")
        .iter()
        .map(|v| scalar(v, "arg"))
        .collect();
    let script_target = entry
        .iter()
        .find(|a| a.ends_with(".sh"))
        .expect("kafka-init runs a script");
    let (source, _) = compose_mounts(init)
        .into_iter()
        .find(|(_, t)| t == script_target)
        .unwrap_or_else(|| panic!("kafka-init does not mount {script_target}"));
    let script = read(source.trim_start_matches("./"));
    assert_eq!(
        script.matches("--partitions").count(),
        1,
        "one --partitions for all topics"
    );
    assert!(script.contains("--partitions \"$PARTITIONS\""));
    assert!(script.contains("for topic in $TOPICS"));
    assert!(
        script.contains("PartitionCount"),
        "existing topics' partition counts are checked"
    );

    // The generator produces to the inbound topics, and only to those.
    let generator = &compose["services"]["generator"];
    let prefix = compose_env(generator, "TOPIC_PREFIX");
    let gen_script = read("deploy/compose/generate-events.sh");
    let types_line = gen_script
        .lines()
        .find_map(|l| l.strip_prefix("TYPES="))
        .expect("generate-events.sh sets TYPES=");
    let produced: BTreeSet<String> = types_line
        .trim_matches('"')
        .split_whitespace()
        .map(|t| format!("{prefix}{t}"))
        .collect();
    let inbound: BTreeSet<String> = cfg
        .topics
        .inbound()
        .into_iter()
        .map(|(_, t)| t.name)
        .collect();
    assert_eq!(
        produced, inbound,
        "the generator must feed every inbound topic"
    );
    assert!(
        gen_script.contains("parse.key=true") && gen_script.contains("key.separator=|"),
        "records are keyed by lead_id"
    );
}

#[test]
fn example_configs_parse_and_agree_with_the_image() {
    for file in ["deploy/leadscore.toml", "deploy/compose/leadscore.toml"] {
        let cfg = parse_config(&read(file), file);
        assert_eq!(
            cfg.snapshots.dir,
            Path::new(SNAPSHOT_DIR),
            "{file}: snapshot dir"
        );
        assert_eq!(cfg.http.listen.port(), 9464, "{file}: http port");
        assert!(
            cfg.http.listen.ip().is_unspecified(),
            "{file}: must listen on all interfaces in a container"
        );
        assert_eq!(
            config_topics(&cfg).len(),
            8,
            "{file}: six inbound topics, stage changes, dead letters"
        );
    }
    // Every env override the example documents is one the loader accepts.
    let env = [
        ("LEADSCORE_KAFKA_BOOTSTRAP_SERVERS", "b1:9092,b2:9092"),
        ("LEADSCORE_HTTP_LISTEN", "0.0.0.0:9999"),
        ("LEADSCORE_SNAPSHOTS_DIR", "/data/snap"),
        ("LEADSCORE_LOG_FORMAT", "human"),
        ("LEADSCORE_KAFKA_GROUP_INSTANCE_ID", "leadscore-0"),
    ];
    let text = read("deploy/leadscore.toml");
    for (k, _) in env {
        if !k.contains("GROUP_INSTANCE") {
            assert!(
                text.contains(k),
                "deploy/leadscore.toml does not mention {k}"
            );
        }
    }
    let cfg = Config::parse(
        &text,
        "deploy/leadscore.toml",
        env.iter().map(|(k, v)| (k.to_string(), v.to_string())),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg.http.listen.port(), 9999);
    assert_eq!(cfg.snapshots.dir, Path::new("/data/snap"));
    let props = cfg.kafka_properties();
    assert!(props.contains(&("bootstrap.servers".into(), "b1:9092,b2:9092".into())));
    assert!(props.contains(&("group.instance.id".into(), "leadscore-0".into())));
}

#[test]
fn dockerfile_runs_as_non_root_with_health_check_and_snapshot_volume() {
    let text = read("Dockerfile");
    // Join continuation lines, drop comments.
    let joined = text.replace("\\\n", " ");
    let instructions: Vec<&str> = joined
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let find = |kw: &str| -> Vec<&str> {
        instructions
            .iter()
            .filter(|l| l.split_whitespace().next() == Some(kw))
            .copied()
            .collect()
    };

    let froms = find("FROM");
    assert!(froms.len() >= 2, "multi-stage build expected");
    assert!(
        froms[0].contains("rust:") && froms[0].contains("bookworm"),
        "{}",
        froms[0]
    );
    assert!(froms.last().unwrap().contains("debian:bookworm-slim"));
    assert!(joined.contains("cargo build --release --locked"));
    for pkg in [
        "gcc",
        "g++",
        "make",
        "perl",
        "pkg-config",
        "libssl-dev",
        "zlib1g-dev",
        "python3",
    ] {
        assert!(
            joined.split_whitespace().any(|w| w == pkg),
            "builder lacks {pkg}"
        );
    }
    for pkg in ["libssl3", "zlib1g", "ca-certificates", "curl"] {
        assert!(
            joined.split_whitespace().any(|w| w == pkg),
            "runtime lacks {pkg}"
        );
    }

    let user = find("USER");
    let last_user = user.last().expect("Dockerfile has no USER");
    let who = last_user.split_whitespace().nth(1).unwrap();
    assert!(
        !who.starts_with("root") && !who.starts_with("0:") && who != "0",
        "runs as root: {last_user}"
    );
    assert!(
        who.starts_with("10001"),
        "numeric uid 10001, so Kubernetes runAsNonRoot can verify it: {last_user}"
    );

    let health = find("HEALTHCHECK");
    assert_eq!(health.len(), 1);
    assert!(
        health[0].contains("/healthz") && health[0].contains("9464"),
        "{}",
        health[0]
    );

    assert_eq!(find("ENTRYPOINT"), vec![r#"ENTRYPOINT ["leadscore"]"#]);
    assert_eq!(
        find("CMD").last().copied(),
        Some(r#"CMD ["run", "--config", "/etc/leadscore/leadscore.toml"]"#)
    );
    let volume = find("VOLUME");
    assert!(
        volume.iter().any(|v| v.contains(SNAPSHOT_DIR)),
        "VOLUME {SNAPSHOT_DIR} expected: {volume:?}"
    );
    assert!(find("EXPOSE").iter().any(|e| e.contains("9464")));

    // The image's default config is the documented example.
    assert!(joined.contains("COPY deploy/leadscore.toml /etc/leadscore/leadscore.toml"));
    let ignore = read(".dockerignore");
    let lines: Vec<&str> = ignore.lines().map(str::trim).collect();
    assert!(
        lines.iter().any(|l| l.trim_end_matches('/') == "target"),
        ".dockerignore must exclude target/"
    );
    assert!(
        lines.iter().any(|l| l.trim_end_matches('/') == ".git"),
        ".dockerignore must exclude .git"
    );
    assert!(
        lines.contains(&"!deploy/leadscore.toml"),
        "the Dockerfile copies deploy/leadscore.toml"
    );
}

#[test]
fn prometheus_scrapes_leadscore_and_loads_the_alert_rules() {
    let prom = yaml("deploy/prometheus/prometheus.yml");
    let rule_files: Vec<&str> = seq(&prom["rule_files"], "rule_files")
        .iter()
        .map(|v| string(v, "rule file"))
        .collect();
    assert_eq!(
        rule_files,
        vec!["alerts.yml"],
        "relative to prometheus.yml, as promtool and Prometheus resolve it"
    );
    let jobs = seq(&prom["scrape_configs"], "scrape_configs");
    let leadscore = jobs
        .iter()
        .find(|j| j["job_name"].as_str() == Some("leadscore"))
        .expect("job leadscore");
    let targets: Vec<&str> = seq(&leadscore["static_configs"][0]["targets"], "targets")
        .iter()
        .map(|v| string(v, "target"))
        .collect();
    assert_eq!(targets, vec!["leadscore:9464"]);

    let alerts = yaml("deploy/prometheus/alerts.yml");
    let mut names = BTreeSet::new();
    for group in seq(&alerts["groups"], "groups") {
        for rule in seq(&group["rules"], "rules") {
            let name = string(&rule["alert"], "alert name");
            names.insert(name.to_string());
            let severity = string(&rule["labels"]["severity"], "severity");
            assert!(
                ["critical", "warning", "info"].contains(&severity),
                "{name}: severity {severity}"
            );
            assert!(
                !string(&rule["annotations"]["summary"], "summary").is_empty(),
                "{name}: summary"
            );
            assert!(
                !string(&rule["annotations"]["description"], "description").is_empty(),
                "{name}: description"
            );
            assert!(
                !metric_names_in(string(&rule["expr"], "expr")).is_empty(),
                "{name}: uses no leadscore metric"
            );
        }
    }
    for want in [
        "LeadscoreLagGrowing",
        "LeadscoreDeadLetterRate",
        "LeadscoreSnapshotTooOld",
        "LeadscoreNotReady",
        "LeadscoreProducerErrors",
    ] {
        assert!(names.contains(want), "alerts.yml has no {want}");
    }
}

fn k8s_docs() -> Vec<(String, Yaml)> {
    let kustomization = yaml("deploy/k8s/kustomization.yaml");
    let resources: Vec<String> = seq(&kustomization["resources"], "resources")
        .iter()
        .map(|v| scalar(v, "resource"))
        .collect();
    // Every manifest in deploy/k8s is listed, and every listed one exists.
    let mut on_disk: Vec<String> = std::fs::read_dir(root().join("deploy/k8s"))
        .expect("deploy/k8s")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n.ends_with(".yaml") && n != "kustomization.yaml")
        .collect();
    on_disk.sort();
    let mut listed = resources.clone();
    listed.sort();
    assert_eq!(
        listed, on_disk,
        "kustomization.yaml resources vs files in deploy/k8s"
    );
    resources
        .iter()
        .flat_map(|r| {
            yaml_docs(&format!("deploy/k8s/{r}"))
                .into_iter()
                .map(move |d| (r.clone(), d))
        })
        .collect()
}

fn k8s_object<'a>(
    docs: &'a [(String, Yaml)],
    kind: &str,
    pred: impl Fn(&Yaml) -> bool,
) -> &'a Yaml {
    docs.iter()
        .map(|(_, d)| d)
        .find(|d| d["kind"].as_str() == Some(kind) && pred(d))
        .unwrap_or_else(|| panic!("deploy/k8s has no matching {kind}"))
}

#[test]
fn k8s_statefulset_probes_volumes_and_config_agree() {
    let docs = k8s_docs();
    for (file, d) in &docs {
        assert!(
            d["metadata"].get("namespace").is_none(),
            "{file}: manifests are namespace-less"
        );
        assert!(
            d["apiVersion"].as_str().is_some() && d["kind"].as_str().is_some(),
            "{file}: apiVersion and kind"
        );
    }
    let sts = k8s_object(&docs, "StatefulSet", |_| true);
    let spec = &sts["spec"];
    assert_eq!(spec["replicas"].as_u64(), Some(2));
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["terminationGracePeriodSeconds"].as_u64(), Some(60));
    assert_eq!(pod["securityContext"]["runAsNonRoot"].as_bool(), Some(true));
    assert_eq!(pod["securityContext"]["runAsUser"].as_u64(), Some(10001));
    assert_eq!(
        pod["enableServiceLinks"].as_bool(),
        Some(false),
        "service env vars would collide with LEADSCORE_* overrides"
    );

    // Selector, template labels, services and PDB line up.
    let selector = spec["selector"]["matchLabels"]
        .as_mapping()
        .expect("selector");
    let labels = spec["template"]["metadata"]["labels"]
        .as_mapping()
        .expect("template labels");
    for (k, v) in selector {
        assert_eq!(
            labels.get(k),
            Some(v),
            "template labels must match the selector"
        );
    }
    let service_name = string(&spec["serviceName"], "serviceName");
    let headless = k8s_object(&docs, "Service", |d| {
        d["metadata"]["name"].as_str() == Some(service_name)
    });
    assert_eq!(
        headless["spec"]["clusterIP"].as_str(),
        Some("None"),
        "serviceName must be a headless service"
    );
    let http_svc = k8s_object(&docs, "Service", |d| {
        d["spec"]["clusterIP"].as_str() != Some("None")
    });
    for svc in [headless, http_svc] {
        assert_eq!(&svc["spec"]["selector"], &spec["selector"]["matchLabels"]);
        let port = &seq(&svc["spec"]["ports"], "service ports")[0];
        assert_eq!(port["port"].as_u64(), Some(9464));
        assert_eq!(port["targetPort"].as_str(), Some("http"));
    }
    let pdb = k8s_object(&docs, "PodDisruptionBudget", |_| true);
    assert_eq!(pdb["spec"]["maxUnavailable"].as_u64(), Some(1));
    assert_eq!(&pdb["spec"]["selector"], &spec["selector"]);

    let annotations = &spec["template"]["metadata"]["annotations"];
    assert_eq!(annotations["prometheus.io/scrape"].as_str(), Some("true"));
    assert_eq!(annotations["prometheus.io/port"].as_str(), Some("9464"));

    let containers = seq(&pod["containers"], "containers");
    assert_eq!(containers.len(), 1);
    let c = &containers[0];
    let ports = seq(&c["ports"], "container ports");
    assert!(ports
        .iter()
        .any(|p| p["name"].as_str() == Some("http") && p["containerPort"].as_u64() == Some(9464)));
    assert_eq!(
        c["livenessProbe"]["httpGet"]["path"].as_str(),
        Some("/healthz")
    );
    assert_eq!(c["livenessProbe"]["httpGet"]["port"].as_str(), Some("http"));
    assert_eq!(
        c["readinessProbe"]["httpGet"]["path"].as_str(),
        Some("/readyz")
    );
    assert_eq!(
        c["readinessProbe"]["httpGet"]["port"].as_str(),
        Some("http")
    );
    assert_eq!(scalar(&c["resources"]["requests"]["cpu"], "cpu"), "1");
    assert_eq!(
        scalar(&c["resources"]["requests"]["memory"], "memory"),
        "2Gi"
    );
    assert_eq!(
        scalar(&c["resources"]["limits"]["memory"], "memory limit"),
        "4Gi"
    );
    let args: Vec<String> = seq(&c["args"], "args")
        .iter()
        .map(|a| scalar(a, "arg"))
        .collect();
    assert_eq!(args, ["run", "--config", CONFIG_PATH]);

    // The config comes from the ConfigMap, mounted where --config points.
    let mounts = seq(&c["volumeMounts"], "volumeMounts");
    let mount_of = |name: &str| -> String {
        let m = mounts
            .iter()
            .find(|m| m["name"].as_str() == Some(name))
            .unwrap_or_else(|| panic!("no volumeMount {name}"));
        string(&m["mountPath"], "mountPath").to_string()
    };
    let volumes = seq(&pod["volumes"], "volumes");
    let config_volume = volumes
        .iter()
        .find(|v| v.get("configMap").is_some())
        .expect("a configMap volume");
    let config_dir = mount_of(string(&config_volume["name"], "volume name"));
    let cm_name = string(&config_volume["configMap"]["name"], "configMap name");
    let cm = k8s_object(&docs, "ConfigMap", |d| {
        d["metadata"]["name"].as_str() == Some(cm_name)
    });
    let toml_text = string(&cm["data"]["leadscore.toml"], "leadscore.toml");
    assert_eq!(
        Path::new(&config_dir).join("leadscore.toml"),
        Path::new(CONFIG_PATH)
    );
    let cfg = parse_config(toml_text, "deploy/k8s/configmap.yaml leadscore.toml");
    assert_eq!(cfg.http.listen.port(), 9464);
    assert!(cfg.http.listen.ip().is_unspecified());
    let model_file = cfg
        .model
        .file
        .as_ref()
        .expect("the k8s config names the model file");
    assert_eq!(
        model_file.parent(),
        Some(Path::new(&config_dir)),
        "model file lies in the ConfigMap mount"
    );
    let model_key = model_file.file_name().unwrap().to_str().unwrap();
    assert!(
        cm["data"].get(model_key).is_some(),
        "ConfigMap has no {model_key}"
    );

    // Snapshots: a volumeClaimTemplate of 10Gi mounted at the config's dir.
    let claims = seq(&spec["volumeClaimTemplates"], "volumeClaimTemplates");
    let claim = claims
        .iter()
        .find(|t| mounts.iter().any(|m| m["name"] == t["metadata"]["name"]))
        .expect("a mounted claim");
    let claim_name = string(&claim["metadata"]["name"], "claim name");
    assert_eq!(
        Path::new(&mount_of(claim_name)),
        cfg.snapshots.dir,
        "the claim must be mounted at [snapshots] dir"
    );
    assert_eq!(
        scalar(
            &claim["spec"]["resources"]["requests"]["storage"],
            "storage"
        ),
        "10Gi"
    );
}

#[test]
fn k8s_model_is_the_built_in_default_model() {
    let docs = k8s_docs();
    let cm = k8s_object(&docs, "ConfigMap", |d| {
        d["data"].get("model.toml").is_some()
    });
    let model = string(&cm["data"]["model.toml"], "model.toml");
    let default = read("src/model/default.toml");
    assert!(
        model == default,
        "deploy/k8s/configmap.yaml model.toml differs from src/model/default.toml: copy the default model into the ConfigMap again"
    );
    let parsed = leadscore::model::Model::from_toml(model, "configmap model.toml")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(parsed.version, leadscore::model::Model::builtin().version);
}

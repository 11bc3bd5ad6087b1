//! Restores from the changelog topic (README "Recovery"): a task with no
//! local snapshot, or a damaged one, gets its state back from the
//! changelog and resumes its inbound partitions where that state ends.
//! On the mock cluster by default, on a real broker with
//! `LEADSCORE_TEST_BROKERS`.

mod kafka_harness;

use std::time::Duration;

use kafka_harness::service::*;
use kafka_harness::*;
use leadscore::config::Config;
use serde_json::Value;

/// The tests of this file compare metric counts before and after, and the
/// process has one metrics recorder: they run one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The sum of the samples of `name` (with any labels) in a scrape.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter(|l| l[name.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit_once(' ').and_then(|(_, v)| v.parse::<f64>().ok()))
        .sum()
}

/// The sum of `leadscore_events_total` over topics for one outcome.
fn outcome(text: &str, outcome: &str) -> f64 {
    events_counted(text, &[&format!("outcome=\"{outcome}\"")])
}

/// The stage, score and history of each of `leads` that the service holds,
/// as `/leads` shows them.
fn lead_views(addr: std::net::SocketAddr, leads: &[String]) -> Vec<(String, Value)> {
    leads
        .iter()
        .filter_map(|id| {
            let (code, body) = http_get(addr, &format!("/leads/{id}"));
            (code == 200).then(|| {
                let v: Value = serde_json::from_str(&body).expect("lead json");
                let kept = serde_json::json!([v["stage"], v["score"], v["history"]]);
                (id.clone(), kept)
            })
        })
        .collect()
}

fn sample_leads(lines: &[String]) -> Vec<String> {
    let mut leads: Vec<String> = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["lead_id"].as_str().map(str::to_string))
        .collect();
    leads.sort();
    leads.dedup();
    leads
}

#[test]
fn without_its_snapshots_a_task_comes_back_from_the_changelog() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let s = Setup::new(2);
    let first = first_run(&s);

    // Another machine: an empty snapshot directory.
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let mut config = s.config();
    config.snapshots.dir = elsewhere.path().to_path_buf();
    comes_back_from_the_changelog(&s, &first, config, 2.0);
    // The state read from the changelog is snapshotted on this machine
    // (at the latest when the run stops, although no record came), so the
    // next restart here starts from a local file.
    let tasks_snapshotted: std::collections::BTreeSet<std::path::PathBuf> = walk(elsewhere.path())
        .into_iter()
        .filter(|p| p.extension().is_some_and(|x| x == "snap"))
        .filter_map(|p| p.parent().map(std::path::Path::to_path_buf))
        .collect();
    assert_eq!(
        tasks_snapshotted.len(),
        2,
        "a snapshot of each restored task: {tasks_snapshotted:?}"
    );
    let out = s.kafka.read_all(
        &s.kafka.topic("stage_changes"),
        first.expected + 1,
        Duration::from_secs(5),
    );
    assert_eq!(out.len(), first.expected, "no change emitted again");
}

#[test]
fn a_damaged_snapshot_falls_back_to_the_changelog() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let s = Setup::new(1);
    let first = first_run(&s);

    // Every snapshot file of the task loses a byte in its body.
    let mut damaged = 0;
    for entry in walk(s.snapshots.path()) {
        if entry.extension().is_some_and(|x| x == "snap") {
            let mut bytes = std::fs::read(&entry).expect("read snapshot");
            let last = bytes.len() - 1;
            bytes[last] ^= 0xFF;
            std::fs::write(&entry, bytes).expect("damage snapshot");
            damaged += 1;
        }
    }
    assert!(damaged >= 1, "the stop left a snapshot");

    let metrics = comes_back_from_the_changelog(&s, &first, s.config(), 1.0);
    assert!(
        metric(&metrics, "leadscore_snapshot_fallbacks_total")
            - metric(&first.at_stop, "leadscore_snapshot_fallbacks_total")
            >= 1.0,
        "the damaged file was refused"
    );
}

/// Starts a second run with `config`; asserts that its `tasks` tasks came
/// back from the changelog with every lead as the first run left it, and
/// that it resumed after the events that state covers (it consumed none).
/// Returns its metrics.
fn comes_back_from_the_changelog(
    s: &Setup,
    first: &FirstRun,
    config: Config,
    tasks: f64,
) -> String {
    let second = s.start_with(config, leadscore::model::Model::builtin());
    second.wait_ready(Duration::from_secs(30));
    let (_, metrics) = http_get(second.addr, "/metrics");
    let grew = |name: &str| metric(&metrics, name) - metric(&first.at_stop, name);
    assert_eq!(
        grew("leadscore_restores_total{source=\"changelog\"}"),
        tasks,
        "the tasks came back from the changelog:\n{metrics}"
    );
    assert!(grew("leadscore_changelog_records_restored_total") > 0.0);
    assert_eq!(
        lead_views(second.addr, &sample_leads(&first.lines)),
        first.before,
        "every lead as it was"
    );
    assert_eq!(
        grew("leadscore_events_total"),
        0.0,
        "nothing consumed again"
    );
    second.stop();
    metrics
}

/// What a first run over the sample left: the leads as `/leads` showed
/// them, its metrics at the stop (the services of a test share the
/// process's metrics recorder, so later counts are compared with these),
/// and the number of stage changes.
struct FirstRun {
    lines: Vec<String>,
    before: Vec<(String, Value)>,
    at_stop: String,
    expected: usize,
}

/// Scores the sample, checks its stage changes arrived, stops.
fn first_run(s: &Setup) -> FirstRun {
    let (first, lines, expected) = s.run_sample();
    let before = lead_views(first.addr, &sample_leads(&lines));
    assert!(before.len() >= 2, "the sample's leads are held: {before:?}");
    let (_, at_stop) = http_get(first.addr, "/metrics");
    first.stop();
    FirstRun {
        lines,
        before,
        at_stop,
        expected,
    }
}

/// Every file under `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("read dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn a_dedupe_window_of_more_ids_than_fit_one_message_comes_back_from_the_changelog() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let s = Setup::new(1);
    // Messages of at most 300 kB, and more event ids taken in before one
    // flush than fit one (over 2 x SEEN_BATCH ids: 500 kB as one record):
    // the flush must cut them into batches that each fit, or the window
    // would be missing from the changelog.
    let n = 2 * leadscore::changelog::SEEN_BATCH + 3_000;
    let t0 = 1_780_000_000_000i64;
    let lines: Vec<String> = (0..n)
        .map(|i| {
            event(
                &format!("d{i}"),
                &format!("l{}", i % 40),
                t0 + i as i64,
                "page_view",
                r#","path":"/p""#,
            )
        })
        .collect();
    s.produce_lines(&lines);
    let mut config = s.config();
    config
        .kafka
        .insert("message.max.bytes".into(), toml::Value::from("300000"));
    // No flush before the stop's last one.
    config.changelog.flush_interval_ms = 600_000;
    config.changelog.catch_up_flush_interval_ms = 600_000;
    let first = s.start_with(config.clone(), leadscore::model::Model::builtin());
    wait_until(Duration::from_secs(60), "every event taken in", || {
        let (_, m) = http_get(first.addr, "/metrics");
        events_counted(&m, &[&s.kafka.topics_label()]) >= n as f64
    });
    let (_, at_stop) = http_get(first.addr, "/metrics");
    first.stop();

    // Another machine: no snapshot; the window comes from the changelog.
    let elsewhere = tempfile::tempdir().expect("tempdir");
    config.snapshots.dir = elsewhere.path().to_path_buf();
    let second = s.start_with(config, leadscore::model::Model::builtin());
    second.wait_ready(Duration::from_secs(30));
    // The producer retries the first and the last event of the backlog:
    // in the first batch and in the last one.
    s.produce_lines(&[lines[0].clone(), lines[n - 1].clone()]);
    let before = outcome(&at_stop, "duplicate");
    wait_until(Duration::from_secs(30), "both retries counted", || {
        let (_, m) = http_get(second.addr, "/metrics");
        events_counted(&m, &[&s.kafka.topics_label()]) >= n as f64 + 2.0
    });
    let (_, m) = http_get(second.addr, "/metrics");
    let rerouted = "leadscore_outputs_rerouted_total";
    assert_eq!(
        metric(&m, rerouted) - metric(&at_stop, rerouted),
        0.0,
        "no changelog record was too big (the last flush came after the first scrape)"
    );
    assert_eq!(
        outcome(&m, "duplicate") - before,
        2.0,
        "both retries were known from the restored window:\n{m}"
    );
    assert_eq!(
        metric(&m, "leadscore_restores_total{source=\"changelog\"}")
            - metric(&at_stop, "leadscore_restores_total{source=\"changelog\"}"),
        1.0
    );
    second.stop();
}

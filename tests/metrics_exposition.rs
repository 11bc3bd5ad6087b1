//! Every metric the dashboard and the alert rules use is in the very first
//! scrape, at zero where nothing happened yet, with a help text naming its
//! unit; each task adds its per-partition series as soon as it is assigned.
//! (Its own test binary: the metrics recorder is per process, and an
//! earlier test in the same process would already have exported series.)

mod kafka_harness;
mod live_service;

use std::time::Duration;

use leadscore::telemetry::events::{event_outcomes, METRIC_NAMES, STAGE_TRANSITIONS};
use live_service::{Exposition, LiveService, PARTITIONS};

/// Metrics labelled by partition: they can only exist once a task does.
const PER_PARTITION: &[&str] = &[
    "leadscore_consumer_lag",
    "leadscore_leads_in_memory",
    "leadscore_snapshot_size_bytes",
    "leadscore_snapshot_age_seconds",
    "leadscore_changelog_checkpoint_age_seconds",
];

/// The unit each metric's help text must name.
fn unit_word(name: &str) -> &'static str {
    match name {
        "leadscore_events_total" | "leadscore_consumer_lag" => "in records",
        "leadscore_stage_changes_total" => "in changes",
        "leadscore_leads_in_memory" => "in leads",
        "leadscore_tasks_assigned" => "in tasks",
        "leadscore_ready" => "1 while",
        "leadscore_producer_errors_total" => "in attempts",
        "leadscore_snapshot_fallbacks_total" => "in snapshots",
        "leadscore_snapshot_failures_total" => "in writes",
        "leadscore_enforced_merges_total" => "in episodes",
        "leadscore_outputs_rerouted_total" => "in records",
        "leadscore_offsets_skipped_total" => "in offsets",
        "leadscore_restores_total" => "in restores",
        "leadscore_changelog_fenced_total" => "in tasks",
        "leadscore_changelog_records_restored_total"
        | "leadscore_changelog_records_written_total" => "in records",
        n if n.ends_with("_seconds") => "in seconds",
        n if n.ends_with("_bytes") => "in bytes",
        other => panic!("no unit known for {other}: add it here"),
    }
}

/// Fails unless `name` has a help text that names its unit.
fn assert_described(scrape: &Exposition, name: &str) {
    let help = scrape
        .help
        .get(name)
        .unwrap_or_else(|| panic!("{name} has no # HELP line"));
    let unit = unit_word(name);
    assert!(
        help.contains(unit),
        "help text of {name} does not name its unit ({unit:?}): {help}"
    );
}

#[test]
/// A fresh install's dashboard and alerts have every series they use.
fn first_scrape_has_every_metric_described_and_each_task_adds_its_partition_series() {
    let svc = LiveService::start();
    let first = Exposition::parse(&svc.first_scrape);

    for name in METRIC_NAMES.iter().filter(|n| !PER_PARTITION.contains(n)) {
        assert!(
            first.has_metric(name),
            "{name} missing from the first scrape:\n{}",
            svc.first_scrape
        );
        assert_described(&first, name);
    }
    for topic in svc.inbound_topics() {
        for outcome in event_outcomes() {
            assert_eq!(
                first.value(
                    "leadscore_events_total",
                    &[("topic", &topic), ("outcome", outcome)]
                ),
                Some(0.0),
                "events of {topic} with outcome {outcome} at zero in the first scrape"
            );
        }
    }
    for &(from, to, reason) in STAGE_TRANSITIONS {
        assert_eq!(
            first.value(
                "leadscore_stage_changes_total",
                &[("from", from), ("to", to), ("reason", reason)]
            ),
            Some(0.0),
            "stage changes {from}->{to} ({reason}) at zero in the first scrape"
        );
    }
    for h in [
        "leadscore_end_to_end_latency_seconds",
        "leadscore_snapshot_restore_duration_seconds",
        "leadscore_snapshot_duration_seconds",
    ] {
        let count = format!("{h}_count");
        assert_eq!(first.value(&count, &[]), Some(0.0), "{count} at zero");
        assert!(
            first.find(&format!("{h}_bucket"), &[]).count() > 1,
            "{h} exports its buckets before any observation"
        );
    }
    assert_eq!(first.value("leadscore_ready", &[]), Some(0.0));
    assert_eq!(first.value("leadscore_tasks_assigned", &[]), Some(0.0));

    svc.wait_ready(Duration::from_secs(30));
    let later = Exposition::parse(&svc.scrape());
    for name in METRIC_NAMES {
        assert!(later.has_metric(name), "{name} missing once tasks run");
        assert_described(&later, name);
    }
    assert_eq!(
        later.value("leadscore_tasks_assigned", &[]),
        Some(PARTITIONS as f64)
    );
    for p in 0..PARTITIONS {
        let p = p.to_string();
        for topic in svc.inbound_topics() {
            assert!(
                later
                    .value(
                        "leadscore_consumer_lag",
                        &[("topic", &topic), ("partition", &p)]
                    )
                    .is_some(),
                "lag of {topic}/{p} exported once its task is assigned"
            );
        }
        for name in &PER_PARTITION[1..] {
            assert!(
                later.value(name, &[("partition", &p)]).is_some(),
                "{name} of partition {p} exported once its task is assigned"
            );
        }
    }
    svc.stop();
}

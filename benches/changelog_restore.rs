//! Restore from the changelog topic (BENCHMARKS.md "Changelog"): the
//! leads of a typical history (a page view, a profile, another page view,
//! a download, a webinar) written as changelog records of `P` partitions
//! on librdkafka's mock cluster, one checkpoint per partition, then every
//! partition restored at once, one thread per task as `run` does on an
//! assignment: read to the end (`pipeline::changelog_reader`), decode and
//! rebuild the task state (`changelog::ChangelogImage`).
//!
//! `cargo bench --bench changelog_restore` runs 1M leads over 64
//! partitions; `LEADSCORE_BENCH_LEADS` and `LEADSCORE_BENCH_PARTITIONS`
//! change them (the mock cluster keeps at most 100k records or 5 MB per
//! partition, so 10M leads need about 512 partitions).

use std::borrow::Cow;
use std::time::{Duration, Instant};

use leadscore::changelog::{
    checkpoint_key, encode_checkpoint, encode_lead, lead_key, ChangelogImage, Checkpoint,
};
use leadscore::demo::Traffic;
use leadscore::engine::TaskState;
use leadscore::event::{AssetKind, Event, EventBody, Profile, WebContext, WebinarAction};
use leadscore::model::Model;
use leadscore::pipeline::changelog_reader::{read_to_end, ReaderPool, READERS};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::ClientConfig;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// A typical history for one lead, starting at `t`.
fn history(lead: &str, n: usize, t: i64) -> Vec<Event<'static>> {
    let lead: Cow<'static, str> = Cow::Owned(lead.to_string());
    let web = WebContext::default();
    let bodies = vec![
        EventBody::PageView {
            path: Cow::Borrowed("/product"),
            referrer: None,
            web: web.clone(),
        },
        EventBody::Profile(Profile {
            industry: Some(Cow::Borrowed("software")),
            employees: Some(300),
            annual_revenue_usd: None,
            country: Some(Cow::Borrowed("US")),
        }),
        EventBody::PageView {
            path: Cow::Borrowed("/pricing-faq"),
            referrer: None,
            web,
        },
        EventBody::Download {
            asset_id: Cow::Borrowed("wp-1"),
            asset_kind: AssetKind::Whitepaper,
        },
        EventBody::Webinar {
            webinar_id: Cow::Borrowed("w-1"),
            action: WebinarAction::Registered,
            minutes: None,
        },
    ];
    bodies
        .into_iter()
        .enumerate()
        .map(|(k, body)| Event {
            event_id: Cow::Owned(format!("e{n}-{k}")),
            lead_id: lead.clone(),
            occurred_at_ms: t + k as i64,
            body,
        })
        .collect()
}

fn main() {
    let leads = env_usize("LEADSCORE_BENCH_LEADS", 1_000_000);
    let partitions = env_usize("LEADSCORE_BENCH_PARTITIONS", 64) as i32;
    let model = Model::builtin();
    let mock = MockCluster::new(1).expect("mock cluster");
    let topic = "bench.changelog";
    mock.create_topic(topic, partitions, 1).expect("topic");
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", mock.bootstrap_servers())
        .set("linger.ms", "50")
        .set("queue.buffering.max.messages", "1000000")
        .create()
        .expect("producer");

    // One task state per partition, built by applying the histories, then
    // every lead written as it would be by a flush.
    let started = Instant::now();
    let mut states: Vec<TaskState> = (0..partitions).map(|_| TaskState::default()).collect();
    let mut ids_of: Vec<Vec<String>> = vec![Vec::new(); partitions as usize];
    let t0 = 1_780_000_000_000i64;
    for n in 0..leads {
        let id = Traffic::lead_id(n as u64);
        let p = n % partitions as usize;
        for e in history(&id, n, t0 + n as i64 * 10) {
            states[p].apply(&model, &e);
        }
        ids_of[p].push(id);
    }
    let topics = vec!["events.page_view".to_string()];
    let mut bytes = 0usize;
    for (p, state) in states.iter().enumerate() {
        for id in &ids_of[p] {
            let lead = state.lead(id).expect("lead");
            let value = encode_lead(&lead, &[ids_of[p].len() as i64 * 5]);
            bytes += value.len();
            let key = lead_key(id);
            let mut record = BaseRecord::<[u8], [u8]>::to(topic)
                .partition(p as i32)
                .key(&key[..])
                .payload(&value[..]);
            loop {
                match producer.send(record) {
                    Ok(()) => break,
                    Err((_, r)) => {
                        record = r;
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
            }
        }
        let checkpoint = encode_checkpoint(&Checkpoint {
            positions: vec![(topics[0].clone(), ids_of[p].len() as i64 * 5)],
            watermark_ms: state.watermark_ms(),
            last_sweep_ms: state.last_sweep_ms(),
            seen_cutoff_ms: state.seen().cutoff_ms(),
            seen_first_live: 0,
            seen_next: 0,
            model_version: model.version.to_string(),
            written_at_ms: 0,
        });
        let key = checkpoint_key();
        producer
            .send(
                BaseRecord::<[u8], [u8]>::to(topic)
                    .partition(p as i32)
                    .key(&key[..])
                    .payload(&checkpoint[..]),
            )
            .map_err(|(e, _)| e)
            .expect("checkpoint");
    }
    producer.flush(Duration::from_secs(120)).expect("flush");
    drop(states);
    println!(
        "changelog of {leads} leads in {partitions} partitions: {:.0} MB of lead values, written in {:.1} s",
        bytes as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );

    let mut reader = ClientConfig::new();
    reader
        .set("bootstrap.servers", mock.bootstrap_servers())
        .set("group.id", "bench-restore")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "10");
    // As a running instance reads: a task thread per partition, sharing
    // the pool's readers.
    let pool = ReaderPool::new(reader, READERS);
    for round in 0..3 {
        let started = Instant::now();
        // The restored states are kept until the time is taken (a task
        // keeps its state; freeing a million leads is not restore work).
        let (restored, records, states) = std::thread::scope(|s| {
            let handles: Vec<_> = (0..partitions)
                .map(|p| {
                    let pool = &pool;
                    let topics = &topics;
                    s.spawn(move || {
                        let mut image = ChangelogImage::default();
                        let stats =
                            read_to_end(pool, topic, p, 0, &mut image, Duration::from_secs(600))
                                .expect("read");
                        let rebuilt = image.rebuild(TaskState::default(), &[-2], topics);
                        (rebuilt.state, stats.records)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("restore thread"))
                .fold((0, 0, Vec::new()), |(a, b, mut v), (state, y)| {
                    let n = state.lead_count();
                    v.push(state);
                    (a + n, b + y, v)
                })
        });
        let secs = started.elapsed().as_secs_f64();
        drop(states);
        assert_eq!(restored, leads, "every lead restored");
        println!(
            "restore {round}: {restored} leads from {records} records in {secs:.2} s ({:.0} records/s)",
            records as f64 / secs
        );
    }
}

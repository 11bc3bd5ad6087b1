//! librdkafka client settings: the user's `[kafka]` table first, then the
//! settings our delivery guarantees depend on, which the user cannot turn off.

use rdkafka::ClientConfig;

use crate::config::Config;

/// Properties a user may not override, with why.
const CONSUMER_FIXED: &[(&str, &str)] = &[
    // Offsets are stored only after every change derived up to them is acked.
    ("enable.auto.offset.store", "false"),
    // Tasks need end-of-partition to merge their topics deterministically.
    ("enable.partition.eof", "true"),
    // Range assignment keeps partition p of every inbound topic on one instance.
    ("partition.assignment.strategy", "range"),
];

const PRODUCER_FIXED: &[(&str, &str)] = &[
    ("enable.idempotence", "true"),
    ("acks", "all"),
    // Java-compatible partitioning of stage changes by lead_id.
    ("partitioner", "murmur2_random"),
];

/// Defaults that a user may override.
const CONSUMER_DEFAULTS: &[(&str, &str)] = &[
    ("group.id", "leadscore"),
    ("enable.auto.commit", "true"),
    ("auto.commit.interval.ms", "1000"),
    ("auto.offset.reset", "earliest"),
    // librdkafka's 1 s default halves a fast consumer whose queue fills up.
    ("fetch.queue.backoff.ms", "10"),
    // How long a fetch with nothing to return waits at the broker. Apache
    // Kafka answers as soon as data arrives, but librdkafka's mock cluster
    // and some Kafka-protocol brokers (tansu) always wait this long, which
    // puts a floor under live latency (half of it on average); 4 ms costs
    // an idle consumer about 250 small requests a second per broker. On
    // the mock cluster, 4 ms instead of 10 took the live bench's p99 at
    // 1 000 events/s from 18-29 ms to 15-16 ms (BENCHMARKS.md).
    ("fetch.wait.max.ms", "4"),
    ("statistics.interval.ms", "1000"),
    ("session.timeout.ms", "10000"),
];

const PRODUCER_DEFAULTS: &[(&str, &str)] = &[("linger.ms", "2"), ("message.timeout.ms", "60000")];

/// Keys that belong only to the consumer or only to the producer.
const CONSUMER_ONLY: &[&str] = &[
    "group.id",
    "group.instance.id",
    "enable.auto.commit",
    "auto.commit.interval.ms",
    "auto.offset.reset",
    "fetch.wait.max.ms",
    "fetch.min.bytes",
    "fetch.max.bytes",
    "fetch.queue.backoff.ms",
    "max.partition.fetch.bytes",
    "session.timeout.ms",
    "heartbeat.interval.ms",
    "max.poll.interval.ms",
    "queued.min.messages",
    "queued.max.messages.kbytes",
    "isolation.level",
];
const PRODUCER_ONLY: &[&str] = &[
    "linger.ms",
    "queue.buffering.max.ms",
    "queue.buffering.max.messages",
    "queue.buffering.max.kbytes",
    "batch.num.messages",
    "batch.size",
    "message.timeout.ms",
    "delivery.timeout.ms",
    "compression.type",
    "compression.codec",
    "retries",
    "retry.backoff.ms",
];

fn build(
    props: &[(String, String)],
    defaults: &[(&str, &str)],
    fixed: &[(&str, &str)],
    skip: &[&str],
) -> ClientConfig {
    let mut c = ClientConfig::new();
    for (k, v) in defaults {
        c.set(*k, *v);
    }
    for (k, v) in props {
        if !skip.contains(&k.as_str()) {
            c.set(k, v);
        }
    }
    for (k, v) in fixed {
        c.set(*k, *v);
    }
    c
}

/// The consumer's settings.
pub fn consumer(config: &Config) -> ClientConfig {
    build(
        &config.kafka_properties(),
        CONSUMER_DEFAULTS,
        CONSUMER_FIXED,
        PRODUCER_ONLY,
    )
}

/// The producer's settings (stage changes and dead letters).
pub fn producer(config: &Config) -> ClientConfig {
    build(
        &config.kafka_properties(),
        PRODUCER_DEFAULTS,
        PRODUCER_FIXED,
        CONSUMER_ONLY,
    )
}

/// Settings for short-lived admin/metadata clients.
pub fn admin(config: &Config) -> ClientConfig {
    build(
        &config.kafka_properties(),
        &[],
        &[],
        &[CONSUMER_ONLY, PRODUCER_ONLY].concat(),
    )
}

/// Settings for the consumers that read changelog partitions (restores and
/// standby copies): assigned, never in the group (librdkafka wants a group
/// id all the same), nothing committed, told when a partition ends.
pub fn changelog_reader(config: &Config) -> ClientConfig {
    let mut c = admin(config);
    let group = config
        .kafka_properties()
        .into_iter()
        .find(|(k, _)| k == "group.id")
        .map_or_else(|| "leadscore".to_string(), |(_, v)| v);
    c.set("group.id", format!("{group}.changelog-reader"))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "true")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "10")
        .set("isolation.level", "read_uncommitted");
    c
}

//! The bad-input corpus through the pipeline: every bad record reaches the
//! dead-letter topic unchanged with our reason, the good records between
//! them are scored, and the partition keeps flowing. Mock cluster by
//! default; a real broker with `LEADSCORE_TEST_BROKERS=host:port`
//! (`.ci/run` does both).

mod bad_input;
mod kafka_harness;

use std::collections::BTreeMap;
use std::time::Duration;

use bad_input::{corpus, good, Case, Path, T0};
use kafka_harness::service::Setup;
use kafka_harness::{headers, http_get};
use leadscore::event::EventType;
use rdkafka::message::Headers;
use rdkafka::Message;

#[test]
fn every_bad_record_is_dead_lettered_with_its_reason_and_the_good_ones_around_it_are_scored() {
    let cases: Vec<Case> = corpus()
        .into_iter()
        .filter(|c| c.path != Path::ReplayOnly)
        .collect();
    assert!(cases.len() >= 60, "{} pipeline cases", cases.len());
    let s = Setup::new(1);
    let config = s.config_with_protobuf(&[EventType::Profile], "");
    let form = s.topic_of(EventType::Form);

    // Good records (contact_us forms, one stage change each) before, between
    // and after the bad ones, all on one partition of the form topic.
    let mut goods = Vec::new();
    let mut ts = T0;
    let mut produce_good = |ts: &mut i64| {
        let lead = format!("good-{}", goods.len());
        *ts += 1000;
        s.kafka
            .produce(&form, &lead, good(&lead, *ts).as_bytes(), *ts);
        goods.push(lead);
    };
    for _ in 0..10 {
        produce_good(&mut ts);
    }
    for (i, c) in cases.iter().enumerate() {
        ts += 1000;
        s.kafka.produce_with(
            &s.topic_of(c.topic),
            &format!("bad-{i}"),
            c.value.as_deref(),
            c.headers,
            ts,
        );
        produce_good(&mut ts);
    }
    for _ in 0..10 {
        produce_good(&mut ts);
    }
    s.kafka.flush();
    let svc = s.start_with(config, leadscore::model::Model::builtin());

    let out = s.kafka.read_all(
        &s.kafka.topic("stage_changes"),
        goods.len(),
        Duration::from_secs(120),
    );
    let mut moved: Vec<String> = out
        .iter()
        .map(|m| String::from_utf8(m.key().unwrap().to_vec()).unwrap())
        .collect();
    moved.sort();
    let mut want = goods.clone();
    want.sort();
    assert_eq!(
        moved, want,
        "every good record, the last ones too, gives its stage change"
    );

    let dlq = s
        .kafka
        .read_all(&s.kafka.topic("dlq"), cases.len(), Duration::from_secs(60));
    let mut by_case: BTreeMap<usize, usize> = BTreeMap::new();
    for m in &dlq {
        let key = String::from_utf8(m.key().expect("the key is kept").to_vec()).unwrap();
        let i: usize = key
            .strip_prefix("bad-")
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("only bad records are dead-lettered, not {key}"));
        *by_case.entry(i).or_default() += 1;
        let c = &cases[i];
        let h = headers(m);
        let reason = h.get("leadscore.error").map(String::as_str).unwrap_or("");
        let prefix = if c.field == "payload" {
            "payload: ".to_string()
        } else {
            format!("field `{}`: ", c.field)
        };
        assert!(
            reason.starts_with(&prefix) && reason.contains(c.reason),
            "{}: reason {reason:?} should start with {prefix:?} and contain {:?}",
            c.name,
            c.reason
        );
        assert_eq!(
            h.get("leadscore.source.topic"),
            Some(&s.topic_of(c.topic)),
            "{}",
            c.name
        );
        assert_eq!(
            m.payload(),
            c.value.as_deref(),
            "{}: dead-lettered as it came",
            c.name
        );
        let ours: Vec<(String, String)> = m
            .headers()
            .map(|hs| {
                hs.iter()
                    .filter(|x| x.key.starts_with("leadscore."))
                    .map(|x| {
                        (
                            x.key.to_string(),
                            String::from_utf8_lossy(x.value.unwrap_or_default()).to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let reasons = ours.iter().filter(|(k, _)| k == "leadscore.error").count();
        assert_eq!(reasons, 1, "{}: one reason, ours: {ours:?}", c.name);
        assert!(
            !ours
                .iter()
                .any(|(_, v)| v == "forged: all is well" || v == "999"),
            "{}: no spoofed header survives: {ours:?}",
            c.name
        );
    }
    let missing: Vec<&str> = (0..cases.len())
        .filter(|i| !by_case.contains_key(i))
        .map(|i| cases[i].name)
        .collect();
    assert!(missing.is_empty(), "not dead-lettered: {missing:?}");
    assert!(
        by_case.values().all(|&n| n == 1),
        "each bad record once: {by_case:?}"
    );
    assert_eq!(http_get(svc.addr, "/readyz").0, 200);
    svc.stop();
}

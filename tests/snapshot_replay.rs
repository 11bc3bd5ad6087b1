//! Snapshot exactness at scale: the demo traffic generator's event stream
//! (the one the crash test uses), applied with a snapshot + restore through
//! the real store every few hundred events, gives exactly the stage changes
//! and the final state of an uninterrupted run.

use leadscore::codec::{decode_event, DecodeLimits, Format};
use leadscore::demo::{Traffic, TrafficMix};
use leadscore::engine::{StageChange, TaskState};
use leadscore::event::EventType;
use leadscore::model::Model;
use leadscore::snapshot::{SnapshotStore, WriteOutcome};

const EVENTS: usize = 40_000;
const EVERY: usize = 700;

#[test]
fn snapshot_restore_every_few_hundred_events_changes_nothing() {
    let model = Model::builtin();
    let limits = DecodeLimits {
        max_future_skew_ms: None,
        ..DecodeLimits::default()
    };
    let mut traffic = Traffic::new(42, 3_000, 1_780_000_000_000, 30_000, TrafficMix::default());
    let mut records: Vec<(i64, usize, usize, Vec<u8>)> = (0..EVENTS)
        .map(|i| {
            let r = traffic.next_record();
            (r.timestamp_ms, r.event_type as usize, i, r.payload)
        })
        .collect();
    records.sort_by_key(|r| (r.0, r.1, r.2));
    let events: Vec<_> = records
        .iter()
        .filter_map(|(_, t, _, payload)| {
            decode_event(
                payload,
                Format::Json,
                Some(EventType::ALL[*t]),
                None,
                &limits,
            )
            .ok()
            .map(|e| e.into_owned())
        })
        .collect();
    assert!(events.len() > EVENTS * 9 / 10);

    let mut plain = TaskState::default();
    let expected: Vec<Vec<StageChange>> = events
        .iter()
        .map(|e| plain.apply(&model, e).changes)
        .collect();
    assert!(
        expected.iter().map(Vec::len).sum::<usize>() > 200,
        "the stream moves leads"
    );

    let dir = tempfile::tempdir().unwrap();
    let store = SnapshotStore::open(dir.path(), 2).unwrap();
    let mut state = TaskState::default();
    for (i, e) in events.iter().enumerate() {
        if i % EVERY == 0 && i > 0 {
            let offsets = vec![("events".to_string(), i as i64)];
            let c = SnapshotStore::capture(1, &state, &offsets, &model.version, i as i64)
                .expect("no other capture of this state is alive");
            assert!(matches!(
                store.write(&c).unwrap(),
                WriteOutcome::Written { .. }
            ));
            drop(c);
            let loaded = store.load_newest(1);
            assert!(loaded.fallbacks.is_empty(), "{:?}", loaded.fallbacks);
            let restored = loaded.snapshot.unwrap();
            assert_eq!(restored.offsets, offsets);
            state = restored.state;
        }
        let got = state.apply(&model, e).changes;
        assert_eq!(got, expected[i], "changes of event {i} after restores");
    }
    assert_eq!(state.lead_count(), plain.lead_count());
    assert_eq!(state.lead_states(), plain.lead_states());
    for lead in plain.lead_states() {
        assert_eq!(
            format!("{:?}", state.lead(&lead.lead_id()).unwrap()),
            format!("{lead:?}"),
            "lead {}",
            lead.lead_id()
        );
    }
    assert_eq!(state.promoted(), plain.promoted());
    assert_eq!(state.seen().entries(), plain.seen().entries());
    assert_eq!(state.watermark_ms(), plain.watermark_ms());
    assert_eq!(state.last_sweep_ms(), plain.last_sweep_ms());
}

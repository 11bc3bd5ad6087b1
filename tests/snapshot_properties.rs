//! For arbitrary event histories, a task restored from a snapshot holds the
//! same leads with the same scores and stages, bit for bit, and goes on to
//! give the same outcomes (DESIGN.md "State, partitions, snapshots,
//! recovery").

mod common;

use common::strategies::*;
use common::*;
use leadscore::engine::TaskState;
use leadscore::model::Model;
use leadscore::snapshot::SnapshotStore;
use proptest::prelude::*;

/// Writes a snapshot of `state` and reads it back.
fn roundtrip(state: &TaskState, model: &Model) -> TaskState {
    let dir = tempfile::tempdir().unwrap();
    let store = SnapshotStore::open(dir.path(), 2).unwrap();
    let c = SnapshotStore::capture(0, state, &[("t".into(), 1)], &model.version, 0)
        .expect("no capture in flight");
    store.write(&c).unwrap();
    drop(c);
    store.load_newest(0).snapshot.expect("a snapshot").state
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Histories of up to 120 events of 4 leads over 60 days, in an order
    /// a little off time order (late, duplicate and bot events included),
    /// cut at an arbitrary point for the snapshot.
    #[test]
    fn scores_and_stages_survive_a_snapshot_roundtrip(
        specs in prop::collection::vec((spec(LEADS.len(), 60), 0..(2 * DAY)), 1..120),
        ids in prop::collection::vec(0..200usize, 120),
        cut in 0..120usize,
    ) {
        let model = Model::builtin();
        let mut specs = specs;
        specs.sort_by_key(|(s, behind)| s.t + behind);
        let events: Vec<_> = specs
            .iter()
            .zip(&ids)
            .map(|((s, _), id)| build(s, format!("evt-{id}")))
            .collect();
        let cut = cut.min(events.len());
        let mut original = TaskState::default();
        for e in &events[..cut] {
            original.apply(&model, e);
        }
        let mut restored = roundtrip(&original, &model);

        let (a, b) = (original.lead_states(), restored.lead_states());
        prop_assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            prop_assert_eq!(x.lead_id(), y.lead_id());
            prop_assert_eq!(x.stage(), y.stage());
            for t in [x.last_event_ms(), x.last_event_ms() + 45 * DAY, T0] {
                let (sx, sy) = (x.score_at(&model, t), y.score_at(&model, t));
                prop_assert_eq!(sx.total.to_bits(), sy.total.to_bits(), "{} at {}", x.lead_id(), t);
                prop_assert_eq!(sx.fit.to_bits(), sy.fit.to_bits());
                prop_assert_eq!(x.active_signals(&model, t), y.active_signals(&model, t));
            }
            prop_assert_eq!(x.history(&model), y.history(&model));
            prop_assert_eq!(x, y);
        }
        prop_assert_eq!(original.promoted(), restored.promoted());
        prop_assert_eq!(original.watermark_ms(), restored.watermark_ms());

        // The rest of the history gives the same outcomes and changes.
        for e in &events[cut..] {
            let (x, y) = (original.apply(&model, e), restored.apply(&model, e));
            prop_assert_eq!(x.outcome, y.outcome);
            prop_assert_eq!(x.changes, y.changes);
            prop_assert_eq!(x.evicted, y.evicted);
        }
    }
}

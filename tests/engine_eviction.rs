//! Idle-lead eviction (README "Eviction"): which leads are forgotten and
//! when is a function of the events and their processing order only, so an
//! offline `replay`, a live task in the pipeline's merge order, and a live
//! task restored from snapshots along the way forget the same leads.

mod common;

use common::*;
use leadscore::codec::{decode_event, encode_event, DecodeLimits, Format};
use leadscore::engine::{Outcome, Stage, TaskState};
use leadscore::event::{AssetKind, Event, FormKind};
use leadscore::model::Model;
use leadscore::replay::{replay, ReplayOptions};
use leadscore::snapshot::SnapshotStore;

/// A clock lead's event every day from `from` to `to` (days after T0), at 09:00.
fn clock(from: i64, to: i64) -> Vec<Event<'static>> {
    (from..=to)
        .map(|d| page_view("clock", at(d, 9, 0), &format!("/day/{d}")))
        .collect()
}

#[test]
fn idle_leads_are_forgotten_after_180_days_and_come_back_fresh() {
    let mut run = Run::new();
    run.apply_all(&[
        // 2 points: 0.03 after 180 days (six half-lives).
        page_view("idle", at(0, 10, 0), "/"),
        // 34 points: 0.53 after 180 days.
        download("content", at(0, 10, 0), "a1", AssetKind::CaseStudy),
        download("content", at(0, 10, 1), "a2", AssetKind::CaseStudy),
        download("content", at(0, 10, 2), "a3", AssetKind::CaseStudy),
        download("content", at(0, 10, 3), "a4", AssetKind::Whitepaper),
        download("content", at(0, 10, 4), "a5", AssetKind::Whitepaper),
        // A lead that once changed stage keeps its entry counts (its
        // change ids depend on them), so it is never forgotten.
        form("once-mql", at(0, 11, 0), FormKind::ContactUs),
    ]);
    let mut evicted = 0;
    for e in clock(1, 179) {
        evicted += run.apply(&e).evicted;
    }
    assert_eq!(evicted, 0, "nothing is forgotten before 180 days");
    let mut gone_by = None;
    for e in clock(180, 400) {
        let day = (e.occurred_at_ms - T0) / DAY;
        evicted += run.apply(&e).evicted;
        if gone_by.is_none() && run.state.lead("idle").is_none() {
            gone_by = Some(day);
        }
    }
    // 180 days after its last event, at the first boundary its slice of
    // the table is checked at (every 64 hourly sweeps: under 3 days).
    let gone_by = gone_by.expect("the idle lead is forgotten");
    assert!((180..=183).contains(&gone_by), "gone on day {gone_by}");
    assert!(run.state.lead("content").is_none());
    assert_eq!(
        run.state.lead("once-mql").map(|l| l.stage()),
        Some(Stage::Lead),
        "recycled by decay long ago, but kept"
    );
    assert_eq!(evicted, 2);

    // The idle lead comes back: it starts fresh, its old page view is gone.
    let back = at(401, 10, 0);
    let a = run.apply(&page_view("idle", back, "/"));
    assert_eq!(a.outcome, Some(Outcome::Scored));
    assert_close(run.score("idle", back).total, 2.0, "only the new page view");
}

#[test]
fn a_lead_with_points_left_is_kept_until_they_decay_below_the_threshold() {
    let mut run = Run::new();
    // Seven careers pages: -70 points, still worth -1.02 at day 183 and
    // below one point from day 183.9 (log2(70) = 6.13 half-lives).
    let t = at(0, 10, 0);
    let events: Vec<_> = (0..7)
        .map(|i| page_view("seeker", t + i * MIN, &format!("/careers/{i}")))
        .collect();
    run.apply_all(&events);
    let credits: Vec<(f64, i64)> = (0..7).map(|i| (-10.0, t + i * MIN)).collect();
    assert_close(
        run.score("seeker", t + 6 * MIN).behavior,
        decayed_sum(&credits, t + 6 * MIN),
        "seven careers pages",
    );
    for e in clock(1, 183) {
        run.apply(&e);
    }
    assert!(
        run.state.lead("seeker").is_some(),
        "more than 1 point left at day 183"
    );
    for e in clock(184, 190) {
        run.apply(&e);
    }
    assert!(
        run.state.lead("seeker").is_none(),
        "below 1 point from day 184"
    );
}

/// Events of 300 leads over 420 days, some of which go quiet for good
/// after a few weeks, some come back after a year: in the pipeline's merge
/// order (event time, then topic, then offset in the topic).
fn long_history() -> Vec<Event<'static>> {
    let mut events = Vec::new();
    let mut seed = 0x5eed_1234_u64;
    let mut next = |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    for lead in 0..300u64 {
        let id = format!("lead-{lead:03}");
        let active_days = match lead % 3 {
            0 => 20,  // goes quiet after 20 days
            1 => 420, // active all along
            _ => 30,  // quiet, then back after a year
        };
        let mut day = next(10) as i64;
        while day < active_days {
            let t = at(day, 8 + next(10) as i64, next(60) as i64);
            events.push(match next(6) {
                0 => download(&id, t, &format!("a{}", next(20)), AssetKind::Whitepaper),
                1 => form(&id, t, FormKind::Newsletter),
                _ => page_view(&id, t, &format!("/p{}", next(30))),
            });
            day += 1 + next(15) as i64;
        }
        if lead % 3 == 2 {
            events.push(page_view(&id, at(400, 12, lead as i64 % 60), "/back"));
        }
    }
    // The merge order: time, then the topic's place (event type), then
    // the order of production (here: generation order).
    let mut keyed: Vec<(i64, usize, usize, Event<'static>)> = events
        .into_iter()
        .enumerate()
        .map(|(i, e)| (e.occurred_at_ms, e.event_type() as usize, i, e))
        .collect();
    keyed.sort_by_key(|k| (k.0, k.1, k.2));
    keyed.into_iter().map(|k| k.3).collect()
}

#[test]
fn replay_a_live_task_and_a_restored_task_forget_the_same_leads() {
    let model = Model::builtin();
    let events = long_history();

    // A live task, in merge order.
    let mut live = TaskState::default();
    let mut live_evicted = 0;
    let mut live_changes = Vec::new();
    for e in &events {
        let a = live.apply(&model, e);
        live_evicted += a.evicted;
        live_changes.extend(a.changes);
    }
    assert!(
        live_evicted >= 100,
        "quiet leads are forgotten: {live_evicted}"
    );

    // `leadscore replay` of the same events as JSON lines.
    let mut input = Vec::new();
    for e in &events {
        input.extend(encode_event(e, Format::Json));
        input.push(b'\n');
    }
    let mut output = Vec::new();
    // Strict, and no horizon: this history has quiet weeks on purpose.
    let options = ReplayOptions {
        strict: true,
        max_future_ms: None,
        ..ReplayOptions::default()
    };
    let summary = replay(
        &model,
        &input[..],
        &mut output,
        &options,
        &mut |r| panic!("line {} rejected: {}", r.line, r.reason),
        &indicatif::ProgressBar::hidden(),
    )
    .expect("replay");
    assert_eq!(summary.evicted as usize, live_evicted);
    assert_eq!(summary.leads, live.lead_count());
    let replayed: Vec<String> = String::from_utf8(output)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["change_id"].as_str().unwrap().to_string()
        })
        .collect();
    let live_ids: Vec<String> = live_changes.iter().map(|c| c.change_id.clone()).collect();
    assert_eq!(replayed, live_ids);

    // A task restored from a snapshot every 500 events (a restart: the
    // lead table is rebuilt in another layout) forgets the same leads at
    // the same events.
    let dir = tempfile::tempdir().unwrap();
    let store = SnapshotStore::open(dir.path(), 2).unwrap();
    let mut restarted = TaskState::default();
    let mut restarted_evicted = 0;
    let limits = DecodeLimits {
        max_future_skew_ms: None,
        ..DecodeLimits::default()
    };
    for (i, e) in events.iter().enumerate() {
        if i % 500 == 499 {
            let c =
                SnapshotStore::capture(0, &restarted, &[("t".into(), i as i64)], &model.version, 0)
                    .expect("a capture");
            store.write(&c).unwrap();
            drop(c);
            restarted = store.load_newest(0).snapshot.unwrap().state;
        }
        // Through the codec, as the pipeline sees them.
        let bytes = encode_event(e, Format::Json);
        let e = decode_event(&bytes, Format::Json, None, None, &limits).unwrap();
        restarted_evicted += restarted.apply(&model, &e).evicted;
    }
    assert_eq!(restarted_evicted, live_evicted);
    assert_eq!(restarted.lead_states(), live.lead_states());
}

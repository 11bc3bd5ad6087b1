//! Properties of the engine over generated traffic (DESIGN.md: "the score
//! does not depend on the order events arrive in"; "the engine is a
//! deterministic function of (model, state, event)").

mod common;

use std::collections::BTreeMap;

use common::strategies::*;
use common::*;
use leadscore::engine::{EventKeys, Outcome, StageChange, TaskState};
use leadscore::event::Event;
use leadscore::model::Model;
use proptest::prelude::*;

/// What must not depend on arrival order, per lead.
#[derive(Debug)]
struct Final {
    total: f64,
    behavior: f64,
    fit: f64,
    /// Credited events per rule id.
    counts: BTreeMap<u16, u32>,
    /// Active SQL signal ids at the reading time.
    signals: Vec<u16>,
}

fn finals(model: &Model, state: &TaskState, at_ms: i64) -> BTreeMap<String, Final> {
    state
        .lead_states()
        .into_iter()
        .map(|lead| {
            let s = lead.score_at(model, at_ms);
            (
                lead.lead_id(),
                Final {
                    total: s.total,
                    behavior: s.behavior,
                    fit: s.fit,
                    counts: lead.credited_counts(model),
                    signals: lead.active_signals(model, at_ms),
                },
            )
        })
        .collect()
}

fn run(model: &Model, events: &[Event<'_>], order: &[usize]) -> TaskState {
    let mut state = TaskState::default();
    for &i in order {
        let a = state.apply(model, &events[i]);
        assert_ne!(
            a.outcome,
            Some(Outcome::Late),
            "generator keeps events in time"
        );
        assert_ne!(a.outcome, Some(Outcome::RateLimited));
        assert_ne!(a.outcome, Some(Outcome::Duplicate), "ids are unique");
    }
    state
}

fn assert_same_finals(
    a: &BTreeMap<String, Final>,
    b: &BTreeMap<String, Final>,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(
        a.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "same leads"
    );
    for (lead, x) in a {
        let y = &b[lead];
        prop_assert!(
            (x.total - y.total).abs() < 1e-6,
            "{}: {:?} vs {:?}",
            lead,
            x,
            y
        );
        prop_assert!(
            (x.behavior - y.behavior).abs() < 1e-6,
            "{}: {:?} vs {:?}",
            lead,
            x,
            y
        );
        prop_assert!((x.fit - y.fit).abs() < 1e-9, "{}: {:?} vs {:?}", lead, x, y);
        prop_assert_eq!(&x.counts, &y.counts, "{}", lead);
        prop_assert_eq!(&x.signals, &y.signals, "{}", lead);
    }
    Ok(())
}

/// A spec list and a permutation of it.
fn shuffled(
    specs: impl Strategy<Value = Vec<Spec>>,
) -> impl Strategy<Value = (Vec<Spec>, Vec<usize>)> {
    specs.prop_flat_map(|v| {
        let n = v.len();
        (Just(v), Just((0..n).collect::<Vec<_>>()).prop_shuffle())
    })
}

/// Applies events in order, returning every outcome and change.
fn trace(model: &Model, events: &[Event<'_>]) -> Vec<(Option<Outcome>, Vec<StageChange>)> {
    let mut state = TaskState::default();
    events
        .iter()
        .map(|e| {
            let a = state.apply(model, e);
            (a.outcome, a.changes)
        })
        .collect()
}

/// [`trace`], with each group of `group` events warmed right before it
/// is applied (`replay` warms one group ahead; warming changes no state,
/// so when it happens cannot matter), while a `/leads` handle shares the
/// table or not.
fn trace_warmed(
    model: &Model,
    events: &[Event<'_>],
    group: usize,
    shared: bool,
) -> Vec<(Option<Outcome>, Vec<StageChange>)> {
    let mut state = TaskState::default();
    let handle = shared.then(|| state.lookup());
    let mut out = Vec::new();
    for chunk in events.chunks(group) {
        let keys: Vec<EventKeys> = chunk.iter().map(|e| EventKeys::of(model, e)).collect();
        state.warm(keys.iter());
        for (e, k) in chunk.iter().zip(&keys) {
            let a = state.apply_keyed(model, e, k);
            out.push((a.outcome, a.changes));
        }
    }
    drop(handle);
    out
}

/// Unique events for `specs`, in time order (so none is late).
fn in_time_order(mut specs: Vec<Spec>) -> Vec<Event<'static>> {
    specs.sort_by_key(|s| s.t);
    unique_events(&specs)
}

/// Arrival-time verdict counts of a run, and the flips later events made.
#[derive(Debug, Default, PartialEq)]
struct Verdicts {
    scored: i64,
    rate_limited: i64,
    displaced: i64,
    readmitted: i64,
}

impl Verdicts {
    /// What the counts are once every flip is taken into account: the
    /// totals the rate-limit rule promises not to depend on arrival order.
    fn fin(&self) -> (i64, i64) {
        (
            self.scored - self.displaced + self.readmitted,
            self.rate_limited + self.displaced - self.readmitted,
        )
    }
}

/// Applies events in `order` under `model`, counting verdicts.
fn run_counting(model: &Model, events: &[Event<'_>], order: &[usize]) -> (TaskState, Verdicts) {
    let mut state = TaskState::default();
    let mut v = Verdicts::default();
    for &i in order {
        let a = state.apply(model, &events[i]);
        match a.outcome {
            Some(Outcome::Scored) => v.scored += 1,
            Some(Outcome::RateLimited) => v.rate_limited += 1,
            other => panic!("unexpected outcome {other:?}"),
        }
        v.displaced += i64::from(a.displaced);
        v.readmitted += i64::from(a.readmitted);
    }
    (state, v)
}

/// `(lead, stage entered, k-th entry) -> change_id` of every change, with k
/// counted here from the order the changes came out in.
fn entry_ids(changes: &[StageChange]) -> BTreeMap<(String, leadscore::engine::Stage, u32), String> {
    let mut n: BTreeMap<(String, leadscore::engine::Stage), u32> = BTreeMap::new();
    changes
        .iter()
        .map(|c| {
            let k = n.entry((c.lead_id.clone(), c.to)).or_default();
            *k += 1;
            ((c.lead_id.clone(), c.to, *k), c.change_id.clone())
        })
        .collect()
}

/// The default model with a per-lead limit of `n` scoring events a minute.
fn model_with_rate_limit(n: u32) -> Model {
    Model::from_toml(
        &leadscore::model::DEFAULT_MODEL_TOML.replace(
            "max_events_per_lead_per_minute = 120",
            &format!("max_events_per_lead_per_minute = {n}"),
        ),
        "test model",
    )
    .expect("valid model")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Scores, fit, credited counts and active signals after all events do
    /// not depend on the order the events arrived in.
    #[test]
    fn final_scores_do_not_depend_on_arrival_order(
        (specs, order) in shuffled(prop::collection::vec(spec(LEADS.len(), 3), 1..80))
    ) {
        let model = Model::builtin();
        let events = unique_events(&specs);
        let given: Vec<usize> = (0..events.len()).collect();
        let a = run(&model, &events, &given);
        let b = run(&model, &events, &order);
        let end = T0 + 4 * DAY;
        assert_same_finals(&finals(&model, &a, end), &finals(&model, &b, end))?;
        // Also within the traffic, where windows and signals are still open.
        let mid = T0 + DAY + 12 * HOUR;
        assert_same_finals(&finals(&model, &a, mid), &finals(&model, &b, mid))?;
    }

    /// Dense page views and pricing views of one lead in one or two days,
    /// where repeat windows and the daily cap decide most credits.
    #[test]
    fn capped_and_windowed_credits_do_not_depend_on_arrival_order(
        (specs, order) in shuffled(prop::collection::vec(
            // Four busy hours a day, two days.
            (0..2i64, 0..240i64, 0..PATHS.len(), prop::bool::weighted(0.2)).prop_map(
                |(d, m, p, pricing)| Spec {
                    lead: 0,
                    t: at(d, 9, m),
                    kind: if pricing { Kind::Pricing(p % 2, 0) } else { Kind::Page(p, 0) },
                },
            ),
            1..60,
        ))
    ) {
        let model = Model::builtin();
        let events = unique_events(&specs);
        let given: Vec<usize> = (0..events.len()).collect();
        let a = run(&model, &events, &given);
        let b = run(&model, &events, &order);
        let end = T0 + 3 * DAY;
        assert_same_finals(&finals(&model, &a, end), &finals(&model, &b, end))?;
        // And the same as applying them in time order.
        let mut sorted = given.clone();
        sorted.sort_by_key(|&i| events[i].occurred_at_ms);
        let c = run(&model, &events, &sorted);
        assert_same_finals(&finals(&model, &a, end), &finals(&model, &c, end))?;
    }

    /// Profiles of two leads at a handful of instants (so equal times are
    /// common): fit is the newest value per attribute whatever the order.
    #[test]
    fn fit_does_not_depend_on_arrival_order(
        (specs, order) in shuffled(prop::collection::vec(
            (0..2usize, 0..3i64, profile_kind())
                .prop_map(|(lead, h, kind)| Spec { lead, t: T0 + h * HOUR, kind }),
            1..30,
        ))
    ) {
        let model = Model::builtin();
        let events = unique_events(&specs);
        let given: Vec<usize> = (0..events.len()).collect();
        let a = run(&model, &events, &given);
        let b = run(&model, &events, &order);
        let end = T0 + DAY;
        assert_same_finals(&finals(&model, &a, end), &finals(&model, &b, end))?;
    }

    /// The same sequence (duplicates, late events, sweeps over two months
    /// included) gives identical outcomes and stage changes.
    #[test]
    fn the_same_events_give_the_same_stage_changes(
        specs in prop::collection::vec((spec(2, 45), 0..(10 * DAY)), 1..150),
        ids in prop::collection::vec(0..300usize, 150),
    ) {
        let model = Model::builtin();
        // Roughly in time order, some events up to 10 days behind (late
        // beyond 7); ids from a pool, so some events are retries of others.
        let mut specs = specs;
        specs.sort_by_key(|(s, behind)| s.t + behind);
        let events: Vec<Event<'static>> = specs
            .iter()
            .zip(&ids)
            .map(|((s, _), id)| build(s, format!("evt-{id}")))
            .chain((0..20).map(|k| {
                // Another lead's traffic moves event time on for 40 more
                // days, so the sweep recycles leads that went quiet.
                let clock = Spec { lead: 3, t: T0 + (45 + 2 * k) * DAY, kind: Kind::Page(0, 0) };
                build(&clock, format!("clock-{k}"))
            }))
            .collect();
        let first = trace(&model, &events);
        let second = trace(&model, &events);
        prop_assert_eq!(&first, &second);
        for (_, changes) in &first {
            for c in changes {
                prop_assert_eq!(c.change_id.len(), 32);
                prop_assert_eq!(&*c.model_version, &*model.version);
            }
        }
    }

    /// Warming events before applying them (their leads fetched into the
    /// cache, without a lock when nothing shares the table) changes no
    /// outcome and no stage change.
    #[test]
    fn warming_changes_nothing(
        specs in prop::collection::vec(spec(4, 30), 1..150),
        group in 1..12usize,
    ) {
        let model = Model::builtin();
        let events = in_time_order(specs);
        let plain = trace(&model, &events);
        prop_assert_eq!(&trace_warmed(&model, &events, group, false), &plain);
        prop_assert_eq!(&trace_warmed(&model, &events, group, true), &plain);
    }

    /// The same events in two arrival orders: every transition both runs
    /// contain (the k-th entry of a lead into a stage) has the same id, and
    /// no id is used twice within a run.
    #[test]
    fn change_ids_do_not_depend_on_arrival_order(
        (specs, order) in shuffled(prop::collection::vec(spec(LEADS.len(), 3), 1..120))
    ) {
        let model = Model::builtin();
        let events = unique_events(&specs);
        let changes = |order: &[usize]| {
            let mut state = TaskState::default();
            order.iter().flat_map(|&i| state.apply(&model, &events[i]).changes).collect::<Vec<_>>()
        };
        let given: Vec<usize> = (0..events.len()).collect();
        let (a, b) = (changes(&given), changes(&order));
        let (ia, ib) = (entry_ids(&a), entry_ids(&b));
        for (k, id) in &ia {
            if let Some(other) = ib.get(k) {
                prop_assert_eq!(id, other, "{:?}", k);
            }
        }
        for (ids, n) in [(&ia, a.len()), (&ib, b.len())] {
            let distinct: std::collections::BTreeSet<&String> = ids.values().collect();
            prop_assert_eq!(distinct.len(), n, "one id per transition");
        }
    }

    /// Floods of scoring events in a few minutes under a limit of 3 a
    /// minute: in any arrival order the same events end up rate-limited
    /// (arrival verdicts plus the displacements and readmissions reported
    /// later), and scores, credits and signals are the same.
    #[test]
    fn rate_limit_verdicts_do_not_depend_on_arrival_order(
        (specs, order) in shuffled(prop::collection::vec(
            (0..2usize, 0..180i64, 0..3usize, 0..ASSETS.len(), 0..PATHS.len()).prop_map(
                |(lead, sec, what, asset, path)| Spec {
                    lead,
                    t: T0 + 10 * HOUR + sec * 1_000,
                    kind: match what {
                        0 => Kind::Download(asset, 0),
                        1 => Kind::Page(path, 0),
                        _ => Kind::Pricing(path % 2, 0),
                    },
                },
            ),
            1..60,
        ))
    ) {
        let model = model_with_rate_limit(3);
        let events = unique_events(&specs);
        let given: Vec<usize> = (0..events.len()).collect();
        let (a, va) = run_counting(&model, &events, &given);
        let (b, vb) = run_counting(&model, &events, &order);
        prop_assert_eq!(va.fin(), vb.fin(), "{:?} vs {:?}", va, vb);
        let end = T0 + DAY;
        assert_same_finals(&finals(&model, &a, end), &finals(&model, &b, end))?;
        // Time order never needs a correction.
        let mut sorted = given.clone();
        sorted.sort_by_key(|&i| (events[i].occurred_at_ms, i));
        let (c, vc) = run_counting(&model, &events, &sorted);
        prop_assert_eq!(vc.fin(), va.fin());
        assert_same_finals(&finals(&model, &a, end), &finals(&model, &c, end))?;
    }

    /// After every sweep, no lead it left promoted was recyclable at its
    /// boundary: the schedule never skips a lead a full sweep would recycle.
    #[test]
    fn the_sweep_recycles_every_lead_below_its_threshold(
        specs in prop::collection::vec(spec(LEADS.len(), 120), 1..150),
    ) {
        let model = Model::builtin();
        let events = in_time_order(specs);
        let mut state = TaskState::default();
        for e in &events {
            let swept_before = state.last_sweep_ms();
            state.apply(&model, e);
            let b = state.last_sweep_ms();
            if b == swept_before || swept_before == i64::MIN {
                continue;
            }
            for lead in state.lead_states() {
                let threshold = match lead.stage() {
                    leadscore::engine::Stage::Lead => continue,
                    leadscore::engine::Stage::Mql => model.stages.mql_recycle_below,
                    leadscore::engine::Stage::Sql => model.stages.sql_recycle_below,
                };
                if lead.last_event_ms() > b || lead.hold_until_ms() > b {
                    continue;
                }
                let total = lead.score_at(&model, b).total;
                prop_assert!(
                    total >= threshold,
                    "{} left {:?} at {} with {} < {}", lead.lead_id(), lead.stage(), b, total, threshold
                );
            }
        }
    }

    /// Scores stay finite, however events are spread over time.
    #[test]
    fn scores_are_never_nan_or_infinite(
        specs in prop::collection::vec(spec(LEADS.len(), 730), 1..120),
    ) {
        let model = Model::builtin();
        // In time order, so every event is scored across two years.
        let events = in_time_order(specs);
        let mut state = TaskState::default();
        for e in &events {
            let a = state.apply(&model, e);
            for c in &a.changes {
                let s = c.score;
                prop_assert!(s.total.is_finite() && s.behavior.is_finite() && s.fit.is_finite(), "{:?}", c);
                for r in &c.explanation.top_rules {
                    prop_assert!(r.points.is_finite(), "{:?}", c);
                }
            }
            let now = state.watermark_ms();
            for lead in state.lead_states() {
                for at in [now, now + 365 * DAY, lead.last_event_ms()] {
                    let s = lead.score_at(&model, at);
                    prop_assert!(
                        s.total.is_finite() && s.behavior.is_finite() && s.fit.is_finite(),
                        "{}: {:?}", lead.lead_id(), s
                    );
                }
            }
        }
    }
}

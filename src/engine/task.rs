//! The state of one task (one partition of the inbound topics) and the
//! things that change it: applying an event, and the decay sweep and idle
//! eviction that the event-time watermark drives.
//!
//! Deterministic: the same model, state and event always give the same
//! result. No clock, no randomness, no IO.

use std::sync::Arc;

use super::bot_verdicts::BotVerdicts;
use super::candidates::{Candidacy, ExpiryCutoffs, Flips};
use super::capture::{CaptureHooks, StateImage};
use super::change::{change_id, explain, StageChange};
use super::dedupe::SeenEvents;
use super::event_keys::EventKeys;
use super::journal::Journal;
use super::lead::{LeadState, Score};
use super::lead_block::LeadBlock;
use super::lead_key::{LeadId, LeadKey};
use super::lead_table::{block_hash, shard_of, LeadTable, Shard, SHARDS};
use super::outcome::Outcome;
use super::recycle_schedule::{earliest_recycle, RecycleSchedule};
use super::stage::{Reason, Stage};
use crate::event::{Event, EventBody};
use crate::model::Model;

/// Eviction checks walk the lead table one slice at a time, one slice per
/// sweep boundary: slice `k mod SLICES` at boundary number `k`. A slice is
/// a fixed set of shards, so the leads checked at a boundary depend only
/// on their ids, and every run evicts the same leads at the same times.
pub const EVICTION_SLICES: usize = 64;

/// The result of applying one event.
#[derive(Debug, Default)]
pub struct Applied {
    pub outcome: Option<Outcome>,
    /// Changes from the decay sweep this event's time triggered (first), then
    /// from the event itself.
    pub changes: Vec<StageChange>,
    /// Idle leads the sweep this event's time triggered forgot.
    pub evicted: usize,
    /// Events of this lead, admitted when they arrived, that this event
    /// pushed over the rate limit (README "Filters").
    pub displaced: u32,
    /// Events of this lead, rate-limited when they arrived, that now count
    /// as scored.
    pub readmitted: u32,
}

/// All state of one task. Everything that decides a future outcome is
/// here, and all of it goes into the snapshot (the sweep's schedule is
/// rebuilt from the leads).
#[derive(Debug)]
pub struct TaskState {
    leads: Arc<LeadTable>,
    /// Leads in the table (the task is the only writer).
    lead_count: usize,
    /// When the sweep looks at each promoted lead next.
    schedule: RecycleSchedule,
    seen: SeenEvents,
    /// Max event time seen (`i64::MIN` before the first event).
    watermark_ms: i64,
    /// Sweep boundary (a multiple of the sweep interval) last swept.
    last_sweep_ms: i64,
    capture: CaptureHooks,
    /// Remembered bot verdicts (a pure function's memo, not state).
    bots: BotVerdicts,
    /// When candidates expire at the current horizon (derived, not state).
    cutoffs: ExpiryCutoffs,
    /// What changed since the journal was last taken, if kept.
    journal: Option<Journal>,
    /// Per eviction slice, a time no lead of the slice has its last event
    /// before (`i64::MIN`: unknown), so a slice that cannot hold an idle
    /// lead is not walked (derived, not state: see [`SliceFloors`]).
    floors: SliceFloors,
}

/// A lower bound of the last event time of the leads of each eviction
/// slice. Exists because the eviction check walks a slice of the table at
/// every sweep, a cache miss per lead, and finds nothing to evict for
/// months of event time after a lead's last event; with the bound, such a
/// walk is skipped, and what it would have found (nothing) is the same.
/// Bounds only go down between walks (a new lead, a restored one), and a
/// lead's last event time only goes up.
#[derive(Debug, Clone)]
struct SliceFloors([i64; EVICTION_SLICES]);

impl Default for SliceFloors {
    fn default() -> Self {
        SliceFloors([i64::MIN; EVICTION_SLICES])
    }
}

impl SliceFloors {
    /// The eviction slice of a lead id hash.
    fn slice_of(hash: u64) -> usize {
        shard_of(hash) / (SHARDS / EVICTION_SLICES)
    }

    /// A lead of the slice of `hash` now has `last_event_ms`.
    fn lower(&mut self, hash: u64, last_event_ms: i64) {
        let f = &mut self.0[Self::slice_of(hash)];
        *f = (*f).min(last_event_ms);
    }
}

impl Default for TaskState {
    fn default() -> Self {
        TaskState {
            leads: Arc::new(LeadTable::default()),
            lead_count: 0,
            schedule: RecycleSchedule::default(),
            seen: SeenEvents::default(),
            watermark_ms: i64::MIN,
            last_sweep_ms: i64::MIN,
            capture: CaptureHooks::default(),
            bots: BotVerdicts::default(),
            cutoffs: ExpiryCutoffs::default(),
            journal: None,
            floors: SliceFloors::default(),
        }
    }
}

/// A cheap, cloneable, thread-safe read handle on a task's leads, for the
/// HTTP lookup while the task writes.
#[derive(Clone, Debug)]
pub struct LeadLookup {
    table: Arc<LeadTable>,
}

impl LeadLookup {
    /// A copy of one lead's state, if this task holds it.
    pub fn get(&self, lead_id: &str) -> Option<LeadState> {
        let id = LeadId::parse(lead_id);
        self.table
            .read(&id, id.hash64(), |b| LeadState { block: b.clone() })
    }
}

impl TaskState {
    /// A task state rebuilt from a snapshot: `leads` must hold `lead_count`
    /// leads, all with parity `false`.
    pub(crate) fn restored(
        leads: LeadTable,
        lead_count: usize,
        schedule: RecycleSchedule,
        seen: SeenEvents,
        watermark_ms: i64,
        last_sweep_ms: i64,
    ) -> TaskState {
        TaskState {
            leads: Arc::new(leads),
            lead_count,
            schedule,
            seen,
            watermark_ms,
            last_sweep_ms,
            capture: CaptureHooks::default(),
            bots: BotVerdicts::default(),
            cutoffs: ExpiryCutoffs::default(),
            journal: None,
            floors: SliceFloors::default(),
        }
    }

    /// Applies one valid event: lateness, dedupe and bot filters, the sweep
    /// its time triggers, scoring under repeat windows, caps and the rate
    /// limit, then the stage machine.
    pub fn apply(&mut self, model: &Model, event: &Event<'_>) -> Applied {
        self.apply_keyed(model, event, &EventKeys::of(model, event))
    }

    /// [`TaskState::apply`] with the event's keys worked out already
    /// (perhaps on another thread): `keys` must be
    /// [`EventKeys::of`]`(model, event)`.
    pub fn apply_keyed(&mut self, model: &Model, event: &Event<'_>, keys: &EventKeys) -> Applied {
        debug_assert_eq!(*keys, EventKeys::of(model, event));
        let mut out = Applied::default();
        if !self.admit(model, event, keys.id_hash, &mut out) {
            return out;
        }
        let t = event.occurred_at_ms;
        let f = &model.filters;
        let horizon = self.watermark_ms.saturating_sub(f.max_lateness_ms);
        self.cutoffs.update(model, horizon);

        // What the event is worth was decided before the lead is locked.
        let matched = keys.rule.map(|(rule, _)| rule);
        let key = keys.rule.map(|(_, key)| key);
        let id = keys.lead(event);
        let hash = keys.lead_hash;
        let mut shard = self.leads.write_shard(shard_of(hash));
        let (lead, created) = find_or_create(&mut shard, &id, hash, t, &self.capture);
        if created {
            self.lead_count += 1;
            self.floors.lower(hash, t);
        }
        if let Some(j) = &mut self.journal {
            j.touch(&id, hash);
        }
        lead.advance_to(model, t);
        let from = lead.stage();
        // A promoted lead's total before this event: an event recycles a
        // lead only when it lowers the score (negative points, a lower fit).
        let at = lead.last_event_ms();
        let fit_before = lead.fit_points(model);
        let before = (from != Stage::Lead).then(|| lead.behavior_at(model, at) + fit_before);

        let mut flips = Flips::default();
        let mut rule_seen = None;
        let outcome = match (&event.body, matched, key) {
            (EventBody::Profile(p), ..) => {
                for (i, fr) in model.fit.iter().enumerate() {
                    if let Some(o) = fr.outcome_for(p) {
                        lead.set_fit(model, i as u8, o, t);
                    }
                }
                Outcome::Scored
            }
            (_, Some(rule), Some(key)) => {
                match lead.apply_candidate(model, rule, key, t, &mut flips) {
                    Candidacy::Repeat | Candidacy::Admitted => {
                        rule_seen = Some(rule);
                        Outcome::Scored
                    }
                    Candidacy::RateLimited | Candidacy::Full => Outcome::RateLimited,
                }
            }
            _ => Outcome::Scored,
        };
        lead.prune(model, &self.cutoffs);
        out.outcome = Some(outcome);
        out.displaced = flips.displaced;
        out.readmitted = flips.readmitted;

        let behavior = lead.behavior_at(model, at);
        let fit = if matches!(event.body, EventBody::Profile(_)) {
            lead.fit_points(model)
        } else {
            fit_before
        };
        let score = Score {
            total: behavior + fit,
            behavior,
            fit,
        };
        let st = &model.stages;
        let rule = rule_seen.map(|r| &model.rules[usize::from(r)]);
        let sql_possible =
            from != Stage::Sql && score.total >= st.sql_at && score.fit >= st.sql_min_fit;
        let signals = if sql_possible {
            lead.signal_mask(model, at)
        } else {
            0
        };
        let mut hold = None;
        let transition = if sql_possible && signals != 0 {
            let completes_signal =
                rule.is_some_and(|r| r.signals.iter().any(|s| signals & (1 << s) != 0));
            Some((
                Stage::Sql,
                if completes_signal {
                    Reason::SqlSignal
                } else {
                    Reason::ScoreThreshold
                },
            ))
        } else if from == Stage::Lead && rule.and_then(|r| r.instant_stage) == Some(Stage::Mql) {
            hold = Some(at.saturating_add(st.hold_ms));
            Some((
                Stage::Mql,
                Reason::InstantRule(rule.map(|r| r.name.clone()).unwrap_or_default()),
            ))
        } else if from == Stage::Lead && score.total >= st.mql_at {
            Some((Stage::Mql, Reason::ScoreThreshold))
        } else if before.is_some_and(|b| score.total < b)
            && recycles(model, from, score.total)
            && at >= lead.hold_until_ms()
        {
            // This event lowered the score below the line; decay alone is
            // left to the sweep (reason recycled_decay, no trigger event).
            Some((Stage::Lead, Reason::ScoreThreshold))
        } else {
            None
        };
        if let Some((to, reason)) = transition {
            let ordinal =
                lead.record_transition(from, to, &reason, rule_seen.unwrap_or(0), at, hold);
            let lead_id = event.lead_id.to_string();
            let active = if to == Stage::Sql {
                signals
            } else {
                lead.signal_mask(model, at)
            };
            let change = StageChange {
                change_id: change_id(&lead_id, to, ordinal, &model.version),
                lead_id,
                from,
                to,
                reason,
                occurred_at_ms: at,
                score,
                model_version: model.version.clone(),
                explanation: explain(model, lead, from, to, score, active, at),
                trigger_event_id: Some(event.event_id.to_string()),
            };
            out.changes.push(change);
        }
        // Keep the sweep's schedule for this lead: an earlier possible
        // recycle needs an earlier check; a later one is found when the
        // earlier check comes due.
        if lead.stage() == Stage::Lead {
            lead.set_recycle_due(None);
        } else {
            let due = earliest_recycle(model, lead);
            if lead.recycle_due().is_none_or(|d| due < d) {
                lead.set_recycle_due(Some(due));
                drop(shard);
                self.schedule.insert(due, id.to_key());
            }
        }
        out
    }

    /// Moves the watermark to `t`, and when it crosses a multiple of the
    /// sweep interval: sweeps, checks the due eviction slices, and prunes
    /// the dedupe window.
    fn advance_watermark(&mut self, model: &Model, t: i64, out: &mut Applied) {
        self.watermark_ms = t;
        let interval = model.stages.sweep_interval_ms;
        let boundary = t.div_euclid(interval) * interval;
        if self.last_sweep_ms == i64::MIN {
            self.last_sweep_ms = boundary;
        } else if boundary > self.last_sweep_ms {
            let previous = self.last_sweep_ms;
            self.last_sweep_ms = boundary;
            self.sweep(model, boundary, &mut out.changes);
            out.evicted += self.evict(model, previous, boundary);
            self.seen
                .prune(t.saturating_sub(model.filters.dedupe_window_ms));
        }
    }

    /// Recycles promoted leads whose decayed score at `at_ms` fell below
    /// their stage's recycle threshold (and whose hold has ended): those the
    /// schedule says may have, checked exactly. Changes come out in lead-id
    /// order.
    fn sweep(&mut self, model: &Model, at_ms: i64, changes: &mut Vec<StageChange>) {
        let mut due = self.schedule.take_due(at_ms);
        due.sort_by(|a, b| a.1.cmp(&b.1));
        for (when, key) in due {
            let id = key.as_id();
            let hash = id.hash64();
            let mut shard = self.leads.write_shard(shard_of(hash));
            let Some(lead) = LeadTable::find_mut(&mut shard, &id, hash) else {
                continue;
            };
            if lead.recycle_due() != Some(when) {
                // Superseded by an earlier check, or no longer promoted.
                continue;
            }
            let score = lead.score_at(model, at_ms);
            let from = lead.stage();
            self.capture.touch(lead);
            if let Some(j) = &mut self.journal {
                j.touch(&id, hash);
            }
            if at_ms < lead.hold_until_ms() || !recycles(model, from, score.total) {
                let next = earliest_recycle(model, lead).max(at_ms + 1);
                lead.set_recycle_due(Some(next));
                drop(shard);
                self.schedule.insert(next, key);
                continue;
            }
            let reason = Reason::RecycledDecay;
            let ordinal = lead.record_transition(from, Stage::Lead, &reason, 0, at_ms, None);
            lead.set_recycle_due(None);
            let lead_id = key.to_string();
            let active = lead.signal_mask(model, at_ms);
            changes.push(StageChange {
                change_id: change_id(&lead_id, Stage::Lead, ordinal, &model.version),
                lead_id,
                from,
                to: Stage::Lead,
                reason,
                occurred_at_ms: at_ms,
                score,
                model_version: model.version.clone(),
                explanation: explain(model, lead, from, Stage::Lead, score, active, at_ms),
                trigger_event_id: None,
            });
        }
    }

    /// Forgets the idle leads of the eviction slices due at the sweep
    /// boundaries after `previous` up to `boundary` (all slices if that is
    /// a whole round), judged at `boundary`. Returns how many.
    fn evict(&mut self, model: &Model, previous: i64, boundary: i64) -> usize {
        if model.eviction.after_ms.is_none() {
            return 0;
        }
        let interval = model.stages.sweep_interval_ms;
        let first = previous.div_euclid(interval) + 1;
        let last = boundary.div_euclid(interval);
        let slices: Vec<usize> = if last - first + 1 >= EVICTION_SLICES as i64 {
            (0..EVICTION_SLICES).collect()
        } else {
            (first..=last)
                .map(|k| k.rem_euclid(EVICTION_SLICES as i64) as usize)
                .collect()
        };
        let per_slice = SHARDS / EVICTION_SLICES;
        let after = model.eviction.after_ms.unwrap_or(i64::MAX);
        let mut evicted = 0;
        for slice in slices {
            // No lead of the slice has been idle long enough yet.
            if self.floors.0[slice].saturating_add(after) > boundary {
                continue;
            }
            let mut oldest = i64::MAX;
            for i in slice * per_slice..(slice + 1) * per_slice {
                let mut shard = self.leads.write_shard(i);
                let capture = &self.capture;
                let mut journal = self.journal.as_mut();
                shard.retain(|lead| {
                    if lead.evictable(model, boundary) {
                        capture.touch(lead);
                        if let Some(j) = journal.as_mut() {
                            j.touch_key(&lead.key());
                        }
                        evicted += 1;
                        false
                    } else {
                        oldest = oldest.min(lead.last_event_ms());
                        true
                    }
                });
            }
            self.floors.0[slice] = oldest;
        }
        self.lead_count -= evicted;
        evicted
    }

    /// Number of leads held.
    pub fn lead_count(&self) -> usize {
        self.lead_count
    }

    /// A cheap, cloneable, thread-safe read handle on the leads (for `/leads/{id}`).
    pub fn lookup(&self) -> LeadLookup {
        LeadLookup {
            table: self.leads.clone(),
        }
    }

    /// A copy of one lead's state.
    pub fn lead(&self, lead_id: &str) -> Option<LeadState> {
        self.lookup().get(lead_id)
    }

    /// Runs `f` on lead `key` (whose `as_id().hash64()` is `hash`, as a
    /// [`Journal`] holds it) in place, without copying its state.
    pub(crate) fn read_lead<R>(
        &self,
        key: &LeadKey,
        hash: u64,
        f: impl FnOnce(&LeadBlock) -> R,
    ) -> Option<R> {
        debug_assert_eq!(hash, key.as_id().hash64());
        self.leads.read(&key.as_id(), hash, f)
    }

    /// Copies of every lead's state, in id order (tests and tools: it
    /// copies the whole table).
    pub fn lead_states(&self) -> Vec<LeadState> {
        let mut v = Vec::with_capacity(self.lead_count);
        for i in 0..SHARDS {
            let shard = self.leads.read_shard(i);
            v.extend(shard.iter().map(|b| LeadState { block: b.clone() }));
        }
        v.sort_by_key(|l| l.block.key());
        v
    }

    /// Ids of the leads not in stage `lead`, in id order (walks the table).
    pub fn promoted(&self) -> Vec<String> {
        self.lead_states()
            .into_iter()
            .filter(|l| l.stage() != Stage::Lead)
            .map(|l| l.lead_id())
            .collect()
    }

    /// Max event time seen (`i64::MIN` before the first event).
    pub fn watermark_ms(&self) -> i64 {
        self.watermark_ms
    }

    /// The sweep boundary last swept (`i64::MIN` before the first event).
    pub fn last_sweep_ms(&self) -> i64 {
        self.last_sweep_ms
    }

    /// The event-id dedupe window.
    pub fn seen(&self) -> &SeenEvents {
        &self.seen
    }

    /// A consistent image of the whole state, taken in microseconds, for a
    /// snapshot written on another thread (`capture.rs`). `None` while the
    /// previous image is still alive (not yet walked and dropped).
    pub fn image(&self) -> Option<StateImage> {
        let hooks = self.capture.begin()?;
        Some(StateImage::new(
            self.leads.clone(),
            hooks,
            self.lead_count,
            self.watermark_ms,
            self.last_sweep_ms,
            self.seen.image(),
        ))
    }

    /// An event whose effect on its lead is already in the lead's state (a
    /// lead restored from a changelog record that covers it): it moves the
    /// event-time clock (sweeps, evictions) and the dedupe window exactly
    /// as [`TaskState::apply`] would, and leaves its lead alone. Its
    /// outcome is `duplicate` (it was applied before).
    pub fn pass(&mut self, model: &Model, event: &Event<'_>) -> Applied {
        let mut out = Applied::default();
        let id_hash = SeenEvents::hash_id(&event.event_id);
        if self.admit(model, event, id_hash, &mut out) {
            out.outcome = Some(Outcome::Duplicate);
        }
        out
    }

    /// Brings what applying the events with `keys` will read first (their
    /// leads, their dedupe entries) into the cache, changing nothing.
    /// Warming a few events before applying them lets the memory fetch
    /// their state at once instead of one after the other; the outcome is
    /// the same with or without. Takes no lock while nothing else holds
    /// the lead table (a replay; no `/leads` handle, no snapshot image).
    pub fn warm<'k>(&mut self, keys: impl Iterator<Item = &'k EventKeys> + Clone) {
        for k in keys.clone() {
            std::hint::black_box(self.seen.contains(k.id_hash));
        }
        let hashes = keys.map(|k| k.lead_hash);
        match Arc::get_mut(&mut self.leads) {
            Some(table) => table.prefetch_exclusive(hashes),
            None => hashes.for_each(|h| self.leads.prefetch(h)),
        }
    }

    /// The filters before the lead: lateness, dedupe, bots, then the
    /// watermark (and the sweep it triggers). Returns whether the event
    /// goes on to its lead; if not, `out` has the outcome.
    fn admit(&mut self, model: &Model, event: &Event<'_>, id_hash: u64, out: &mut Applied) -> bool {
        let t = event.occurred_at_ms;
        let f = &model.filters;
        if self.watermark_ms != i64::MIN && t < self.watermark_ms.saturating_sub(f.max_lateness_ms)
        {
            out.outcome = Some(Outcome::Late);
            return false;
        }
        if !self.seen.insert(id_hash, t) {
            out.outcome = Some(Outcome::Duplicate);
            return false;
        }
        if let Some(ua) = event.web().and_then(|w| w.user_agent.as_deref()) {
            if self.bots.is_bot(model, ua) {
                out.outcome = Some(Outcome::Bot);
                return false;
            }
        }
        if t > self.watermark_ms {
            self.advance_watermark(model, t, out);
        }
        true
    }

    /// Starts keeping a [`Journal`] of what changes (for a changelog).
    pub fn keep_journal(&mut self) {
        let from = self.seen.mark();
        self.journal
            .get_or_insert_with(|| Journal::starting_at(from));
    }

    /// What changed since the last call (empty if no journal is kept).
    pub fn take_journal(&mut self) -> Journal {
        match &mut self.journal {
            Some(j) => {
                let mut taken = std::mem::take(j);
                taken.seen_to = self.seen.mark();
                j.seen_from = taken.seen_to;
                j.seen_to = taken.seen_to;
                taken
            }
            None => Journal::default(),
        }
    }

    /// Gives a journal taken by [`TaskState::take_journal`] back once read,
    /// so its memory is used again (see `Journal::reuse`).
    pub fn return_journal(&mut self, used: Journal) {
        if let Some(j) = &mut self.journal {
            j.reuse(used);
        }
    }

    /// Puts `lead` in the table as it is, replacing a lead with its id
    /// (state rebuilt from a changelog), and schedules its decay check.
    pub fn put_lead(&mut self, lead: LeadState) {
        let mut block = lead.block;
        block.set_parity(self.capture.parity());
        let key = block.key();
        let due = block.recycle_due();
        let id = key.as_id();
        let hash = id.hash64();
        self.floors.lower(hash, block.last_event_ms());
        let mut shard = self.leads.write_shard(shard_of(hash));
        match LeadTable::find_mut(&mut shard, &id, hash) {
            Some(existing) => {
                self.capture.touch(existing);
                *existing = block;
            }
            None => {
                LeadTable::insert_if_absent(&mut shard, &id, hash, block);
                self.lead_count += 1;
            }
        }
        drop(shard);
        // A stale entry of the replaced lead is skipped by the sweep (its
        // due time no longer matches).
        if let Some(due) = due {
            self.schedule.insert(due, key);
        }
    }

    /// Removes the lead `key` (evicted in the changelog); whether it was held.
    pub fn remove_lead(&mut self, key: &LeadKey) -> bool {
        let id = key.as_id();
        let hash = id.hash64();
        let mut shard = self.leads.write_shard(shard_of(hash));
        let capture = &self.capture;
        let before = shard.len();
        shard.retain(|b| {
            if b.has_id(&id) {
                capture.touch(b);
                false
            } else {
                true
            }
        });
        let removed = shard.len() < before;
        if removed {
            self.lead_count -= 1;
        }
        removed
    }

    /// Sets the event-time clock and the dedupe window (state rebuilt from
    /// a changelog checkpoint).
    pub fn set_clock(&mut self, watermark_ms: i64, last_sweep_ms: i64, seen: SeenEvents) {
        self.watermark_ms = watermark_ms;
        self.last_sweep_ms = last_sweep_ms;
        // Entries restored are not news to the changelog.
        if let Some(j) = &mut self.journal {
            j.seen_from = seen.mark();
        }
        self.seen = seen;
    }

    /// Whether an image taken by [`TaskState::image`] is still alive.
    pub fn image_in_progress(&self) -> bool {
        self.capture.busy()
    }
}

/// The lead `id` in a locked shard, created (with last event `t`) if new;
/// an existing lead is first offered to a snapshot in progress.
fn find_or_create<'s>(
    shard: &'s mut Shard,
    id: &LeadId<'_>,
    hash: u64,
    t: i64,
    capture: &CaptureHooks,
) -> (&'s mut LeadBlock, bool) {
    use hashbrown::hash_table::Entry;
    match shard.entry(hash, |b| b.has_id(id), block_hash) {
        Entry::Occupied(e) => {
            let lead = e.into_mut();
            capture.touch(lead);
            (lead, false)
        }
        Entry::Vacant(v) => (
            v.insert(LeadBlock::new(id, t, capture.parity())).into_mut(),
            true,
        ),
    }
}

/// Whether a lead at `stage` with `total` falls back to `lead`.
fn recycles(model: &Model, stage: Stage, total: f64) -> bool {
    match stage {
        Stage::Lead => false,
        Stage::Mql => total < model.stages.mql_recycle_below,
        Stage::Sql => total < model.stages.sql_recycle_below,
    }
}

//! The scoring engine: lead state, the stage machine and explanations.
//! A deterministic function of (model, state, event): no clock, no IO.
//!
//! Follow one event through [`TaskState::apply`] (`task.rs`): the dedupe
//! window (`dedupe.rs`), the lead table (`lead_table.rs`, one
//! `lead_block.rs` allocation per lead, ids as in `lead_key.rs`), repeat
//! windows, caps and the rate limit (`candidates.rs`), scores and history
//! (`lead.rs`), then a [`StageChange`] with its explanation (`change.rs`).
//! `capture.rs` lets a snapshot copy the state without stopping the task;
//! `view.rs` is what `/leads/{id}` shows.

mod bot_verdicts;
mod candidates;
mod capture;
mod change;
mod decimal;
mod dedupe;
mod event_keys;
mod hashed_key;
mod journal;
mod lead;
mod lead_block;
mod lead_key;
mod lead_table;
mod outcome;
mod recycle_schedule;
mod slot;
mod stage;
mod task;
mod view;

pub use candidates::Flips;
pub use capture::StateImage;
pub use change::{
    change_id, contributions, round2, Contribution, Explanation, StageChange, TOP_RULES,
};
pub use dedupe::{SeenEvents, SeenImage, CHUNK as SEEN_CHUNK};
pub use event_keys::EventKeys;
pub use journal::Journal;
pub use lead::{HistoryEntry, LeadState, Score, HISTORY_LEN};
pub use lead_block::{MAX_ID_BYTES, MAX_SLOTS};
pub use lead_key::{uuid_bytes, uuid_text, LeadId, LeadKey};
pub(crate) use lead_table::shard_of;
pub use lead_table::{LeadTable, SHARDS};
pub use outcome::Outcome;
pub use slot::{MAX_FIT_OUTCOMES, MAX_FIT_RULES, MAX_RULES};
pub use stage::{Reason, Stage};
pub use task::{Applied, LeadLookup, TaskState, EVICTION_SLICES};
pub use view::{lead_view, LeadView};

pub(crate) use lead_block::LeadBlock;
pub(crate) use recycle_schedule::RecycleSchedule;
pub(crate) use slot::Slot;

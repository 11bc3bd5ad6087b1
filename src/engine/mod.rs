//! The scoring engine: lead state, the stage machine and explanations.
//! A deterministic function of (model, state, event): no clock, no IO.

mod change;
mod dedupe;
mod lead;
mod outcome;
mod stage;
mod task;

pub use change::{
    change_id, contributions, explain, round2, Contribution, Explanation, StageChange, Trigger,
    TOP_RULES,
};
pub use dedupe::SeenEvents;
pub use lead::{LeadState, Score, Slot};
pub use outcome::Outcome;
pub use stage::{Reason, Stage};
pub use task::{Applied, LeadMap, TaskState};

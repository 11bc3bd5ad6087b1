//! What the engine did with an event, returned as a value so the pipeline
//! (not the engine) counts and logs it.

/// The fate of one valid event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Accepted and applied to the lead (possibly worth zero points).
    Scored,
    /// Its `event_id` was seen within the dedupe window (a producer retry).
    Duplicate,
    /// Its user agent is a known bot.
    Bot,
    /// The lead exceeded the per-minute event rate.
    RateLimited,
    /// Older than the watermark by more than the allowed lateness.
    Late,
}

impl Outcome {
    pub const ALL: [Outcome; 5] = [
        Outcome::Scored,
        Outcome::Duplicate,
        Outcome::Bot,
        Outcome::RateLimited,
        Outcome::Late,
    ];

    /// The metric label / summary name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Scored => "scored",
            Outcome::Duplicate => "duplicate",
            Outcome::Bot => "bot",
            Outcome::RateLimited => "rate_limited",
            Outcome::Late => "late",
        }
    }
}
